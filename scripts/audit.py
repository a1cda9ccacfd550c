#!/usr/bin/env python3
"""`make audit` (and CI): pip-audit the virtualenv; fail on any known vulnerability.

pip-audit asks PyPI's JSON API about each installed version. Where that data cannot be reached
(a registry mirror that serves packages but not advisories, no network) a package is skipped,
not passed: this script says how many packages were actually checked, and with
``AUDIT_STRICT=1`` an unchecked package fails the audit too.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path


def main() -> int:
    strict = os.environ.get("AUDIT_STRICT") == "1"
    pip_audit = os.environ.get("PIP_AUDIT") or Path(sys.executable).with_name("pip-audit")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        done = subprocess.run([str(pip_audit), "--progress-spinner", "off", "--desc", "-f", "json", "-o", str(report)],
                              capture_output=True, text=True)
        if not report.exists():
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"audit: pip-audit could not run ({tail})", file=sys.stderr)
            return 1 if strict else 0
        deps = json.loads(report.read_text())["dependencies"]
    vulnerable = [(d["name"], d["version"], v["id"], v.get("fix_versions", [])) for d in deps for v in d.get("vulns", [])]
    skipped = Counter(d["skip_reason"].split(":")[0] for d in deps if d.get("skip_reason"))
    checked = len(deps) - sum(skipped.values())
    for name, version, vuln, fixes in vulnerable:
        print(f"audit: {name} {version}: {vuln} (fixed in {', '.join(fixes) or 'no release yet'})", file=sys.stderr)
    reasons = "; ".join(f"{n} {reason.lower()}" for reason, n in skipped.items())
    print(f"audit: {checked} of {len(deps)} packages checked against PyPI's advisory data, "
          f"{len(vulnerable)} known vulnerabilities" + (f"; not checked: {reasons}" if skipped else ""))
    if vulnerable:
        return 1
    if skipped and strict:
        print("audit: AUDIT_STRICT=1 and some packages could not be checked", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
