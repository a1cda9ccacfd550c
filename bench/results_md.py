"""Write a bench's figures into ``bench/results/<area>.md``, one section per measurement.

Each section carries the date, the machine, the load average and the command that produced it,
and replaces the same section of an earlier run; other sections stay as they were.
"""
from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path
from typing import Sequence

RESULTS = Path(__file__).resolve().parent / "results"


def stamp(command: str) -> str:
    """``2026-12-04 07:50 UTC; x86_64, 2 cores, 24 GiB, Python 3.11.7; load ...; command: `...```."""
    load = os.getloadavg()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
            f"{os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}; load average at the "
            f"end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min); command: `{command}`")


def write_section(area: str, heading: str, name: str, title: str, lines: Sequence[str], command: str) -> Path:
    """Replace section ``name`` of ``bench/results/<area>.md`` (created with ``heading``)."""
    path = RESULTS / f"{area}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else f"# {heading}\n"
    body = (f"<!-- {name} -->\n## {title}\n\n{stamp(command)}\n\n" + "\n".join(lines).rstrip()
            + f"\n<!-- /{name} -->\n")
    pattern = re.compile(f"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->\n", re.S)
    new = pattern.sub(lambda _m: body, old) if pattern.search(old) else old.rstrip() + "\n\n" + body
    path.write_text(new, encoding="utf-8")
    print(f"wrote {path}")
    return path


def command_line(script: str, env_names: Sequence[str]) -> str:
    """The command that reproduces a run: the bench's environment switches that were set, then the script."""
    env = " ".join(f"{k}={os.environ[k]}" for k in env_names if k in os.environ)
    return f"{env + ' ' if env else ''}.venv/bin/python bench/{script}"
