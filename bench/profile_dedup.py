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

from proc_memory import tree_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "lib"))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


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
                for stage, name, tasks, run_s, cpu_s in jobs_summary(spark):
                    print(f"stage {stage:4d} {name:60s} tasks {tasks:4d} run {run_s:7.2f}s cpu {cpu_s:7.2f}s")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
