"""scripts/audit.py: how pip-audit's answer becomes CI's verdict (pip-audit itself replaced by a
script that writes a fixed JSON report, so the verdicts are checked without the network)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = {"name": "fastapi", "version": "0.1", "vulns": []}
VULNERABLE = {"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]}
SKIPPED = {"name": "psycopg", "version": "3.2", "skip_reason": "Dependency not found on PyPI and could not be audited"}


def audit(tmp_path: Path, deps, strict: bool = False):
    (tmp_path / "report.json").write_text(json.dumps({"dependencies": deps}))
    fake = tmp_path / "pip-audit"
    fake.write_text(f"#!{sys.executable}\nimport shutil, sys\n"
                    f"shutil.copy({str(tmp_path / 'report.json')!r}, sys.argv[sys.argv.index('-o') + 1])\n")
    fake.chmod(0o755)
    env = {**os.environ, "PIP_AUDIT": str(fake), "AUDIT_STRICT": "1" if strict else "0"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "audit.py")], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("deps, strict, code, needle", [
    ([CHECKED], False, 0, "1 of 1 packages checked against PyPI's advisory data, 0 known vulnerabilities"),
    ([CHECKED, VULNERABLE], False, 1, "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"),
    ([CHECKED, SKIPPED], False, 0, "1 of 2 packages checked"),
    ([CHECKED, SKIPPED], True, 1, "AUDIT_STRICT=1 and some packages could not be checked"),
])
def test_the_audit_fails_on_a_known_vulnerability_and_says_how_much_it_checked(tmp_path, deps, strict, code, needle):
    done = audit(tmp_path, deps, strict)

    assert done.returncode == code, done.stderr
    assert needle in done.stdout + done.stderr
