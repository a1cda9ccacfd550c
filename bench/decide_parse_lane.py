#!/usr/bin/env python3
"""The JVM parse lane against the Python parse lane, end to end, everything else equal.

Each run is a fresh process: start the Spark session, ingest the bench input (``BENCH_FILES``
files of bench/bench_ingest_tweets.py's, default all 80 = 1,000,000 tweets) into a fresh lake,
stop. The JVM lane's runs start with a cold jar cache (javac compiles the class during the
session start) and load the class; the Python lane's runs have no jar on the classpath. The
lanes alternate, ``DECIDE_RUNS`` runs each (default 3). Prints one JSON line per run and the
medians, and writes them to bench/results/ingest.md; the JVM lane stays only at >= 1.5x end to end.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
sys.path.insert(0, str(HERE))

from results_md import command_line, write_section  # noqa: E402


def one_run(lane: str, files: int) -> dict:
    import bench_ingest_tweets as bench
    from crisislake import registry
    from crisislake.config import load_config
    from crisislake.jdk import jvm_cache_root
    from crisislake.session import build_spark
    from crisislake.tweets import job, jvm

    os.environ["BENCH_FIRST_FILES"] = "0" if files >= 80 else str(files)
    raw = bench.source()
    cold = Path(tempfile.mkdtemp(prefix="crisislake-jvm-cache-"))
    if lane == "jvm":  # the resolved Maven jars as they are, but no compiled class: javac runs
        for entry in jvm_cache_root().iterdir():
            if not entry.name.startswith("udfs-"):
                (cold / entry.name).symlink_to(entry)
        os.environ["CRISISLAKE_JVM_CACHE"] = str(cold)
    lake = Path(tempfile.mkdtemp(prefix="decide-lane-lake-"))
    config = load_config("local", lake_root=str(lake), overrides=["spark.driver_memory=3g"], environ={})
    with bench.PeakMemory(os.getpid()) as mem:
        start = time.monotonic()
        # The JVM lane's start includes compiling its class (cold cache) and loading the jar.
        jars = registry.local_jars([registry.get("ingest-tweets")]) if lane == "jvm" else ()
        spark = build_spark(config.spark, app_name=f"decide-{lane}", jars=jars)
        spark.conf.set(jvm.ENABLED_CONF, "true" if lane == "jvm" else "false")
        up = time.monotonic()
        counts = job.ingest(spark, config, "decide", raw=str(raw))
        done = time.monotonic()
    spark.stop()
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(cold, ignore_errors=True)
    return {"lane": lane, "tweets": counts["records_read"], "in_jvm": counts["records_parsed_in_jvm"],
            "start_s": round(up - start, 1), "ingest_s": round(done - up, 1), "total_s": round(done - start, 1),
            "cpu_s": round(mem.cpu_s, 1), "load": round(os.getloadavg()[0], 1)}


def main() -> int:
    if os.environ.get("DECIDE_LANE"):
        print(json.dumps(one_run(os.environ["DECIDE_LANE"], int(os.environ.get("BENCH_FILES", "80")))))
        return 0
    runs = int(os.environ.get("DECIDE_RUNS", "3"))
    results = []
    for k in range(runs):
        for lane in ("jvm", "python") if k % 2 == 0 else ("python", "jvm"):
            out = subprocess.run([sys.executable, __file__], env=dict(os.environ, DECIDE_LANE=lane),
                                 check=True, stdout=subprocess.PIPE, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    lines = ["| lane | runs | median total s (start + ingest) | median ingest s | median CPU-s |", "|---|---|---|---|---|"]
    med = {}
    for lane in ("jvm", "python"):
        mine = [r for r in results if r["lane"] == lane]
        med[lane] = {k: statistics.median(r[k] for r in mine) for k in ("total_s", "ingest_s", "cpu_s")}
        lines.append(f"| {lane} | {len(mine)} | {med[lane]['total_s']:.1f} | {med[lane]['ingest_s']:.1f} | "
                     f"{med[lane]['cpu_s']:.1f} |")
    ratio = med["python"]["total_s"] / med["jvm"]["total_s"]
    lines += ["", f"Python / JVM, end to end: **{ratio:.2f}x** at {results[0]['tweets']:,} tweets; the rule keeps "
              f"the JVM lane only at >= 1.5x: {'keep' if ratio >= 1.5 else 'delete'}."]
    print("\n".join(lines))
    write_section("ingest", "Tweet ingest benchmark (bench/bench_ingest_tweets.py)", "lanes",
                  "The JVM parse lane against the Python lane (bench/decide_parse_lane.py)", lines,
                  command_line("decide_parse_lane.py", ("DECIDE_RUNS", "BENCH_FILES")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
