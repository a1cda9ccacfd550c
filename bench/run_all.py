#!/usr/bin/env python3
"""`make bench`: run every bench/bench_*.py in turn; each prints its own figures.

Set BENCH_ONLY=name1,name2 to run a subset (names without the bench_ prefix). The fault sweep
``bench/chaos.py`` (hours at its default 20 kill points per job) runs only when named:
BENCH_ONLY=chaos.
"""
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = {n.strip() for n in os.environ.get("BENCH_ONLY", "").split(",") if n.strip()}
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    failed = []
    scripts = sorted(HERE.glob("bench_*.py")) + ([HERE / "chaos.py"] if "chaos" in only else [])
    for script in scripts:
        name = script.stem[len("bench_"):] if script.stem.startswith("bench_") else script.stem
        if only and name not in only:
            continue
        print(f"\n=== {script.name}", flush=True)
        if subprocess.call([sys.executable, str(script)]) != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
