#!/usr/bin/env python3
"""Where the time of one file-mode dedup run goes: wall time, CPU-seconds of the whole process
tree (driver JVM + Python workers), and executor CPU per Spark job (REST API of the local UI).

    PROFILE_N=100000 PROFILE_PARTITIONS=2 .venv/bin/python bench/profile_dedup.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def tree_cpu_seconds(root_pid: int) -> float:
    """utime+stime (+ reaped children) of a process and all its live descendants, in seconds."""
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


def jobs_summary(spark):
    base = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    with urllib.request.urlopen(f"{base}/api/v1/applications/{app}/stages?details=false") as fh:
        stages = json.load(fh)
    out = []
    for s in stages:
        out.append((s["stageId"], s.get("name", "")[:60], s["numTasks"], s["executorRunTime"] / 1000,
                    s["executorCpuTime"] / 1e9))
    return sorted(out)


def instrument_checkpoints(steps: list) -> None:
    """Record wall/CPU of every eager localCheckpoint (each is one step of the pipeline)."""
    import inspect

    from pyspark.sql import DataFrame

    original = DataFrame.localCheckpoint

    def timed(self, eager=True, *args, **kwargs):
        caller = inspect.stack()[1]
        where = f"{Path(caller.filename).name}:{caller.lineno}"
        c0, t0 = tree_cpu_seconds(os.getpid()), time.time()
        out = original(self, eager, *args, **kwargs)
        steps.append((where, time.time() - t0, tree_cpu_seconds(os.getpid()) - c0))
        return out

    DataFrame.localCheckpoint = timed


def main() -> int:
    from bench_dedup import load_texts, make_variants, write_parquet
    from crisislake.config import load_config
    from crisislake.dedup.io import read_table_file, write_single_file
    from crisislake.dedup.job import dedup_frame
    from crisislake.dedup.minhash import LshParams
    from crisislake.session import build_spark

    n = int(os.environ.get("PROFILE_N", "100000"))
    parts = os.environ.get("PROFILE_PARTITIONS", "8")
    config = load_config("local", overrides=[
        "spark.driver_memory=3g", f"spark.shuffle_partitions={parts}", "spark.conf.spark.ui.enabled=true",
    ])
    spark = build_spark(config.spark, app_name="profile-dedup")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "in.parquet")
            write_parquet(make_variants(load_texts(), n), path)
            df = read_table_file(spark, path)
            me = os.getpid()
            steps = []
            instrument_checkpoints(steps)
            print(f"load average {os.getloadavg()[0]:.1f}, {n} tweets, shuffle partitions {parts}")
            c0, t0 = tree_cpu_seconds(me), time.time()
            write_single_file(dedup_frame(df, "id", "text", None, LshParams.for_threshold(0.7)),
                              os.path.join(tmp, "out.parquet"))
            wall, cpu = time.time() - t0, tree_cpu_seconds(me) - c0
            print(f"wall {wall:.1f}s, process-tree CPU {cpu:.1f}s, {n / wall:,.0f} tweets/s, "
                  f"load average {os.getloadavg()[0]:.1f}")
            for where, wall_s, cpu_s in steps:
                print(f"  checkpoint at {where:28s} wall {wall_s:7.2f}s  tree CPU {cpu_s:7.2f}s")
            if os.environ.get("PROFILE_STAGES"):
                for row in jobs_summary(spark):
                    print("stage %4d %-60s tasks %4d run %7.2fs cpu %7.2fs" % row)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
