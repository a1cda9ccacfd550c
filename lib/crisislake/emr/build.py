"""``crisislake emr build``: the artefacts spark-submit ships, in ``dist/``.

Layout (everything EMR needs, nothing else)::

    dist/
      crisislake.zip        the package for --py-files (pure Python; imports with only pyspark)
      jobs/<name>.py        spark-submit entry points, copied from jobs/
      bootstrap/*.sh        EMR bootstrap actions, copied from bootstrap/
      conf/aws.json         the run config the steps pass with --config
      jars/*.jar            what registry.BUILT_JARS builds for --jars (none today)
      VERSION               ``git describe --always --dirty`` (+ zip and jar digest when dirty)
      build.json            version, build time, sha256 of every file, whether the jar is there

The zip is deterministic (sorted entries, fixed timestamps), so the same source gives the same
bytes and a dirty tree still gets a version that changes with its content.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional

from crisislake import registry
from crisislake.errors import CrisislakeError
from crisislake.fs import write_zip

log = logging.getLogger(__name__)

PACKAGE = "crisislake"
ZIP_NAME = "crisislake.zip"
RUN_CONFIG = "aws.json"
JARS_DIR = "jars"
_PACKAGE_DATA_SUFFIXES = (".py", ".json", ".sql")


class BuildError(CrisislakeError, RuntimeError):
    """The source tree is missing something the build must ship."""


@dataclass
class BuildResult:
    dist_dir: Path
    version: str
    files: Dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    @property
    def zip_path(self) -> Path:
        return self.dist_dir / ZIP_NAME


def project_root() -> Path:
    """The source checkout this package was installed from (``lib/crisislake/emr`` -> root)."""
    return Path(__file__).resolve().parents[3]


SHIPPED_DIRS = ("lib/crisislake", "jobs", "bootstrap", "conf")


def _git(root: Path, *args: str) -> Optional[str]:
    try:
        proc = subprocess.run(["git", *args], cwd=str(root), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_version(root: Path) -> Optional[str]:
    """``git describe --always --dirty`` in ``root``, or None outside a git checkout.

    Untracked files in the shipped folders also make the version ``-dirty``: they go into the
    zip, so the commit alone does not describe what runs.
    """
    version = _git(root, "describe", "--always", "--dirty")
    if not version:
        return None
    if not version.endswith("-dirty") and _git(root, "ls-files", "--others", "--exclude-standard", "--", *SHIPPED_DIRS):
        version += "-dirty"
    return version


def _sha256(*paths: Path) -> str:
    """sha256 of the files' bytes one after the other (of the file itself when there is one)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def package_files(package_dir: Path) -> List[Path]:
    """Files of the package to ship: sources and package data, never caches or build leftovers,
    nor the areas whose jobs never run on EMR (:func:`crisislake.registry.off_emr_areas`)."""
    out = []
    skipped = set(registry.off_emr_areas())
    for path in sorted(package_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix not in _PACKAGE_DATA_SUFFIXES:
            continue
        if path.relative_to(package_dir).parts[0] in skipped:
            continue
        out.append(path)
    return out


def write_package_zip(package_dir: Path, dest: Path, extra: Optional[Dict[str, Path]] = None) -> Path:
    """Zip ``package_dir`` as a top-level package (``crisislake/...``) deterministically.

    ``extra`` maps archive names to files added as well (e.g. ``crisislake/conf/aws.json``).
    """
    entries: Dict[str, Path] = {}
    for path in package_files(package_dir):
        entries[f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}"] = path
    entries.update(extra or {})
    return write_zip(entries, dest)


def write_jars(package_dir: Path, jars_dir: Path) -> List[Path]:
    """Build the jars the jobs need (:data:`crisislake.registry.BUILT_JARS`) from
    ``package_dir``'s sources into ``jars_dir``. A jar that cannot be built here is left out
    with a warning from its builder (the cluster then takes the slower path without it), which
    must not stop a build."""
    out = []
    for reference in registry.BUILT_JARS:
        jar = registry.resolve(reference)(package_dir, jars_dir)
        if jar is not None:
            out.append(jar)
    return out


def build_dist(root: Optional[Path] = None, dist_dir: Optional[Path] = None, run_config: str = RUN_CONFIG) -> BuildResult:
    """Build ``dist/`` from the checkout at ``root``; returns the version and file digests.

    Parameters
    ----------
    root: the source checkout (default: the one this package lives in).
    dist_dir: output folder (default ``<root>/dist``); it is emptied first.
    run_config: the file under ``conf/`` shipped as the run config (default ``aws.json``).
    """
    root = Path(root or project_root())
    dist = Path(dist_dir or root / "dist")
    package_dir = root / "lib" / PACKAGE
    jobs_dir, bootstrap_dir, conf_file = root / "jobs", root / "bootstrap", root / "conf" / run_config
    for needed in (package_dir / "__init__.py", jobs_dir, bootstrap_dir, conf_file):
        if not needed.exists():
            raise BuildError(f"cannot build: {needed} does not exist")
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir(parents=True)

    # The run config also goes inside the zip (crisislake/conf/) for readers of the package, but
    # steps pass --config explicitly: the loader cannot read a file inside a zip from disk.
    write_package_zip(package_dir, dist / ZIP_NAME, {f"{PACKAGE}/conf/{run_config}": conf_file})
    off_emr = {Path(job.entry_point).name for job in registry.JOBS if not job.on_emr}
    for src_dir, name in ((jobs_dir, "jobs"), (bootstrap_dir, "bootstrap")):
        pattern = "*.py" if name == "jobs" else "*.sh"
        (dist / name).mkdir()
        for path in sorted(src_dir.glob(pattern)):
            if name == "jobs" and path.name in off_emr:
                continue
            shutil.copy2(path, dist / name / path.name)
    (dist / "conf").mkdir()
    shutil.copy2(conf_file, dist / "conf" / run_config)
    jars = write_jars(package_dir, dist / JARS_DIR)

    version = git_version(root)
    if version is None:
        from crisislake import __version__

        version = f"{__version__}-nogit"
    if version.endswith("-dirty"):
        # Uncommitted changes: tie the upload prefix to the content so two dirty builds never
        # overwrite each other's code on S3. The jar counts too: its Java source is not in the zip.
        version = f"{version}-{_sha256(dist / ZIP_NAME, *jars)[:8]}"
    (dist / "VERSION").write_text(version + "\n", encoding="utf-8")

    files = {
        path.relative_to(dist).as_posix(): _sha256(path)
        for path in sorted(dist.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "version": version,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
        "jars": sorted(jar.name for jar in jars),
    }
    (dist / "build.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    files["build.json"] = _sha256(dist / "build.json")
    return BuildResult(dist_dir=dist, version=version, files=files)


def read_dist_version(dist_dir: Path) -> str:
    """The version stamped in an existing ``dist/``; raises :class:`BuildError` if there is none."""
    stamp = Path(dist_dir) / "VERSION"
    if not stamp.is_file() or not (Path(dist_dir) / ZIP_NAME).is_file():
        raise BuildError(f"no build in {dist_dir}: run `crisislake emr build` (make build) first")
    return stamp.read_text(encoding="utf-8").strip()


def dist_jars(dist_dir: Path) -> List[str]:
    """Relative paths of the jars in ``dist/`` (what the steps pass with ``--jars``), sorted."""
    jars_dir = Path(dist_dir) / JARS_DIR
    return sorted(f"{JARS_DIR}/{p.name}" for p in jars_dir.glob("*.jar")) if jars_dir.is_dir() else []


def dist_files(dist_dir: Path) -> List[str]:
    """Relative paths of every file in ``dist/``, sorted (what submit uploads)."""
    dist = Path(dist_dir)
    return sorted(p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file())
