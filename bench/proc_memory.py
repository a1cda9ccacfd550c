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


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU-seconds (user + system, plus reaped children) of a process and its live descendants:
    for a local Spark run, the driver, its JVM and the Python workers together."""
    import os

    children, stats = {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(pid))
        stats[int(pid)] = sum(int(x) for x in fields[11:15])
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += stats.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")
