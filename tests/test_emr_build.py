"""``crisislake emr build``: what dist/ holds, its version stamp, and that the zip imports cleanly."""
from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from crisislake.emr.build import build_dist, read_dist_version

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP = ROOT / "bootstrap" / "install_python_deps.sh"


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """One build of this checkout into a temporary dist/."""
    return build_dist(ROOT, tmp_path_factory.mktemp("build") / "dist")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=str(cwd), check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def tiny_checkout(tmp_path):
    """A minimal git checkout with the layout the build expects, committed and tagged v1.2.3."""
    root = tmp_path / "checkout"
    for rel, text in {
        "lib/crisislake/__init__.py": '__version__ = "0.0.1"\n',
        "lib/crisislake/core.py": "VALUE = 1\n",
        "jobs/ingest_tweets.py": "print('job')\n",
        "bootstrap/setup.sh": "#!/bin/bash\nset -euo pipefail\n",
        "conf/aws.json": '{"lake_root": ""}\n',
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "init")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "tag", "-a", "v1.2.3", "-m", "v1.2.3")
    return root


def test_dist_ships_zip_jobs_bootstrap_run_config_and_stamp(dist):
    files = set(dist.files)
    assert {"crisislake.zip", "conf/aws.json", "VERSION", "build.json",
            "bootstrap/install_python_deps.sh", "jobs/ingest_tweets.py", "jobs/dedup.py", "jobs/load.py"} <= files
    assert not [f for f in files if f.startswith(("lib/", "tests/", "emr/"))]


def test_dist_has_an_entry_point_for_every_emr_step(dist):
    from crisislake import registry

    missing = [job.name for job in registry.emr_steps() if job.entry_point not in dist.files]
    assert missing == []


def test_jobs_that_never_run_on_emr_are_left_out_of_the_build(dist):
    """The API server and the report need FastAPI/plotly, which EMR nodes do not get."""
    names = zipfile.ZipFile(dist.zip_path).namelist()
    assert not [n for n in names if n.startswith(("crisislake/serve/", "crisislake/report/"))]
    assert not {"jobs/serve.py", "jobs/report.py", "jobs/sync_reviews.py"} & set(dist.files)
    assert "crisislake/pseudonym.py" in names


def test_zip_holds_package_sources_and_run_config_without_caches(dist):
    names = zipfile.ZipFile(dist.zip_path).namelist()
    assert "crisislake/__init__.py" in names
    assert "crisislake/emr/cli.py" in names
    assert "crisislake/conf/aws.json" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "egg-info" in n]
    assert all(n.startswith("crisislake/") for n in names)


def test_dist_has_no_jars_when_no_job_needs_one(dist):
    manifest = json.loads((dist.dist_dir / "build.json").read_text())
    assert manifest["jars"] == []
    assert not [f for f in dist.files if f.startswith("jars/")]


def test_tagged_clean_checkout_is_stamped_with_its_tag(tiny_checkout, tmp_path):
    result = build_dist(tiny_checkout, tmp_path / "dist")
    assert result.version == "v1.2.3"
    assert read_dist_version(tmp_path / "dist") == "v1.2.3"


def test_dirty_checkout_version_carries_the_zip_digest(tiny_checkout, tmp_path):
    (tiny_checkout / "lib" / "crisislake" / "core.py").write_text("VALUE = 2\n")
    result = build_dist(tiny_checkout, tmp_path / "dist")
    assert re.fullmatch(r"v1\.2\.3-dirty-[0-9a-f]{8}", result.version)
    assert result.version.endswith(result.files["crisislake.zip"][:8])


def test_untracked_package_file_marks_the_version_dirty(tiny_checkout, tmp_path):
    (tiny_checkout / "lib" / "crisislake" / "new_module.py").write_text("X = 1\n")
    result = build_dist(tiny_checkout, tmp_path / "dist")
    assert result.version.startswith("v1.2.3-dirty-")
    assert "crisislake/new_module.py" in zipfile.ZipFile(result.zip_path).namelist()


def test_zip_is_byte_identical_across_builds(tiny_checkout, tmp_path):
    first = build_dist(tiny_checkout, tmp_path / "a")
    second = build_dist(tiny_checkout, tmp_path / "b")
    assert (tmp_path / "a" / "crisislake.zip").read_bytes() == (tmp_path / "b" / "crisislake.zip").read_bytes()
    assert first.files["crisislake.zip"] == second.files["crisislake.zip"]


def _isolated_site(tmp_path: Path, distributions) -> Path:
    """A folder holding symlinks to just these installed distributions' top-level packages."""
    site = tmp_path / "site"
    site.mkdir()
    for name in distributions:
        tops = set()
        for file in metadata.distribution(name).files or []:
            first = file.parts[0]
            if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__", "bin"):
                continue
            tops.add(first)
        base = Path(metadata.distribution(name).locate_file(""))
        for top in tops:
            if not (site / top).exists() and (base / top).exists():
                (site / top).symlink_to(base / top)
    return site


def _import_in_fresh_interpreter(zip_path: Path, site: Path, modules) -> subprocess.CompletedProcess:
    # -I: ignore PYTHON* variables and the user site; -S: no site-packages at all. sys.path is the
    # standard library plus exactly the zip and the chosen site folder.
    code = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(zip_path)!r}, {str(site)!r}]\n"
        f"for name in {list(modules)!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(zip_path)!r}), module.__file__\n"
        "print('ok')\n"
    )
    return subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=300)


def test_zip_imports_in_fresh_interpreter_with_only_the_bootstrapped_packages(dist, tmp_path):
    # EMR's own pyspark plus what bootstrap/install_python_deps.sh installs on every node.
    site = _isolated_site(tmp_path, ["pyspark", "py4j", "pyarrow", "numpy", "msgspec"])
    core = ["crisislake", "crisislake.cli", "crisislake.config", "crisislake.pipeline", "crisislake.session",
            "crisislake.runs", "crisislake.fs", "crisislake.registry", "crisislake.context", "crisislake.delta_io",
            "crisislake.emr.cli",
            "crisislake.emr.build", "crisislake.emr.request", "crisislake.emr.settings", "crisislake.emr.submit"]
    proc = _import_in_fresh_interpreter(dist.zip_path, site, core)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_isolated_interpreter_cannot_see_the_virtualenv(dist, tmp_path):
    site = _isolated_site(tmp_path, ["pyspark", "py4j"])
    proc = _import_in_fresh_interpreter(dist.zip_path, site, ["moto"])
    assert proc.returncode != 0 and "No module named 'moto'" in proc.stderr


def _bootstrap_pins():
    return dict(re.findall(r'^\s+"([A-Za-z0-9_.\-]+)==([^"]+)"$', BOOTSTRAP.read_text(), flags=re.MULTILINE))


def test_bootstrap_pins_match_the_tested_environment():
    mismatched = {name: (pin, metadata.version(name)) for name, pin in _bootstrap_pins().items()
                  if metadata.version(name) != pin}
    assert mismatched == {}


def test_every_zipped_module_imports_with_pyspark_and_the_bootstrap_packages(dist, tmp_path):
    """What EMR nodes have: the cluster's pyspark plus exactly what the bootstrap installs."""
    site = _isolated_site(tmp_path, ["pyspark", "py4j", *_bootstrap_pins()])
    modules = sorted(
        n[:-len(".py")].replace("/", ".").replace(".__init__", "")
        for n in zipfile.ZipFile(dist.zip_path).namelist() if n.endswith(".py")
    )
    proc = _import_in_fresh_interpreter(dist.zip_path, site, modules)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_build_command_lists_what_it_built(capsys, tmp_path):
    from crisislake import cli

    code = cli.main(["emr", "build", "--dist", str(tmp_path / "dist")])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith(f"built {tmp_path / 'dist'} version ")
    assert "  crisislake.zip" in out and "  conf/aws.json" in out
