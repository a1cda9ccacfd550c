#!/usr/bin/env python3
"""How reviewer decisions reach the lake: delta-rs appends from the API vs one Spark MERGE step.

Measures, on the same N decisions (BENCH_DECISIONS, default 200):

* ``deltalake`` side (run with an interpreter that has the ``deltalake`` package, which the
  project does not depend on): one ``write_deltalake(mode="append")`` per decision, as an API
  process would do per POST; latency per append, files and commits it leaves, and then whether
  the project's Spark (Delta 3.3) reads the table;
* Spark side (the project's venv): ``crisislake sync-reviews`` copying the same decisions from
  PostgreSQL in one insert-only MERGE, run twice (the second run finds nothing new).

    /tmp/dlvenv/bin/python bench/review_lake_write.py deltalake /tmp/rd     # pip install deltalake==1.6.6
    .venv/bin/python bench/review_lake_write.py spark /tmp/rd                # reads what the first wrote

Figures go to docs/decisions/0050-review-decisions-to-lake.md by hand (this is an experiment for
one decision, not a recurring benchmark).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

N = int(os.environ.get("BENCH_DECISIONS", "200"))
ROOT = Path(__file__).resolve().parents[1]


def decisions(n: int):
    t0 = datetime(2026, 2, 1, tzinfo=timezone.utc)
    for i in range(n):
        yield (f"{i:064x}", 1000 + i, "relevance", "confirm" if i % 3 else "reject", "1", "1", "v2",
               f"reviewer{i % 4}", t0 + timedelta(seconds=i))


def deltalake_side(out: Path) -> None:
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    schema = pa.schema([("decision_id", pa.string()), ("tweet_id", pa.int64()), ("task", pa.string()),
                        ("decision", pa.string()), ("label", pa.string()), ("model_label", pa.string()),
                        ("model_version", pa.string()), ("reviewer", pa.string()),
                        ("decided_at", pa.timestamp("us", tz="UTC"))])
    path = str(out / "review_decisions_delta_rs")
    times = []
    for row in decisions(N):
        batch = pa.table({f.name: [v] for f, v in zip(schema, row)}, schema=schema)
        t = time.perf_counter()
        write_deltalake(path, batch, mode="append")
        times.append((time.perf_counter() - t) * 1000)
    files = [p for p in Path(path).glob("*.parquet")]
    version = DeltaTable(path).version()
    times.sort()
    print(f"delta-rs appends: n={N} p50={statistics.median(times):.1f} ms p95={times[int(0.95 * (N - 1))]:.1f} ms "
          f"max={times[-1]:.1f} ms; files={len(files)} versions={version + 1}; "
          f"table bytes={sum(p.stat().st_size for p in files)}")


def spark_side(out: Path) -> None:
    sys.path.insert(0, str(ROOT / "lib"))
    sys.path.insert(0, str(ROOT / "scripts"))
    sys.path.insert(0, str(ROOT / "tests"))
    import devservices
    from crisislake.config import load_config
    from crisislake.serve.sync_job import sync_reviews
    from crisislake.session import build_spark
    from serve_fixtures import Warehouse

    pg = devservices.ensure_postgres()
    wh = Warehouse(pg)
    try:
        for row in decisions(N):
            wh.query("INSERT INTO {s}.review_decisions VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)", row)
        config = load_config("local", lake_root=str(out / "lake"), environ={}, overrides=[
            f"warehouse.postgres_url={pg}", f"warehouse.schema={wh.schema}", "spark.shuffle_partitions=2"])
        t = time.perf_counter()
        spark = build_spark(config.spark, app_name="review-lake-write")
        start_s = time.perf_counter() - t
        try:
            rs_path = out / "review_decisions_delta_rs"
            if rs_path.exists():
                t = time.perf_counter()
                rows = spark.read.format("delta").load(str(rs_path)).count()
                print(f"Spark (Delta 3.3) reads the delta-rs table: {rows} rows in {time.perf_counter() - t:.1f} s")
            for attempt in ("first", "second"):
                t = time.perf_counter()
                result = sync_reviews(spark, config, f"run-{attempt}")
                print(f"sync-reviews {attempt}: {result} in {time.perf_counter() - t:.1f} s")
            files = list((out / "lake" / "enriched" / "review_decisions").glob("*.parquet"))
            print(f"Spark session start {start_s:.1f} s; lake table files={len(files)}; load average "
                  f"{os.getloadavg()[0]:.1f}")
        finally:
            spark.stop()
    finally:
        wh.drop()


if __name__ == "__main__":
    target = Path(sys.argv[2])
    target.mkdir(parents=True, exist_ok=True)
    (deltalake_side if sys.argv[1] == "deltalake" else spark_side)(target)
