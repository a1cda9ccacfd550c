"""The EMR bootstrap action: lint-clean, and primary-only work happens only on the primary node."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bootstrap" / "install_python_deps.sh"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


def test_bootstrap_passes_shellcheck():
    proc = subprocess.run([str(SHELLCHECK), "--severity=style", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bootstrap_passes_bash_syntax_check():
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_bootstrap_is_strict_bash():
    lines = SCRIPT.read_text().splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "set -euo pipefail" in lines


def test_bootstrap_pins_every_pip_package():
    text = SCRIPT.read_text()
    quoted = re.findall(r'^\s+"([^"]+)"$', text, flags=re.MULTILINE)
    assert len(quoted) == 23
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", item) for item in quoted), quoted
    local = dict(line.split("==", 1) for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
                 if "==" in line and not line.startswith("#"))
    local = {name.split("[")[0].lower(): version for name, version in local.items()}
    differing = [pin for pin in quoted if pin.split("==")[0].lower() in local
                 and local[pin.split("==")[0].lower()] != pin.split("==")[1]]
    assert not differing, f"bootstrap pins differ from requirements-dev.txt: {differing}"


@pytest.fixture()
def fake_node(tmp_path):
    """A PATH with a pass-through ``sudo`` and a fake Python that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    (bin_dir / "sudo").write_text('#!/bin/bash\nexec "$@"\n')
    (bin_dir / "python3.11").write_text(f'#!/bin/bash\necho "$*" >> {calls}\n')
    for path in bin_dir.iterdir():
        path.chmod(0o755)

    def run(is_master: bool) -> subprocess.CompletedProcess:
        info = tmp_path / "instance.json"
        info.write_text('{"instanceGroupId": "ig-1", "isMaster": %s, "isRunningNameNode": false}'
                        % ("true" if is_master else "false"))
        env = dict(
            os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
            CRISISLAKE_PYTHON=str(bin_dir / "python3.11"),
            CRISISLAKE_INSTANCE_INFO=str(info),
            CRISISLAKE_WORKDIR=str(tmp_path / "work"),
        )
        return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)

    return run, calls, tmp_path


def test_bootstrap_on_primary_installs_driver_packages_and_workdir(fake_node):
    run, calls, tmp_path = fake_node
    proc = run(is_master=True)
    assert proc.returncode == 0, proc.stderr
    installs = [line for line in calls.read_text().splitlines() if line.startswith("-m pip install")]
    assert len(installs) == 2
    assert "numpy==1.26.4" in installs[0] and "boto3==1.44.8" not in installs[0]
    assert "boto3==1.44.8" in installs[1] and "botocore==1.44.8" in installs[1]
    assert (tmp_path / "work").is_dir()


def test_bootstrap_on_core_node_skips_primary_only_work(fake_node):
    run, calls, tmp_path = fake_node
    proc = run(is_master=False)
    assert proc.returncode == 0, proc.stderr
    installs = [line for line in calls.read_text().splitlines() if line.startswith("-m pip install")]
    assert len(installs) == 1
    assert "boto3" not in installs[0]
    assert not (tmp_path / "work").exists()
