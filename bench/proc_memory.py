"""Peak-memory readings for the benchmarks (Linux /proc), shared by the bench scripts."""
from __future__ import annotations

from pathlib import Path


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of process ``pid`` in MB, or NaN where /proc has none."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def jvm_peak_mb(spark) -> float:
    """Peak resident memory of the local driver JVM behind ``spark``."""
    return vm_hwm_mb(spark.sparkContext._gateway.proc.pid)
