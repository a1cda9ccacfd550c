#!/usr/bin/env python3
"""Load fact_tweet rows into the local PostgreSQL two ways and compare.

1. The manifest path (what ``crisislake load`` does): validate manifest + Parquet footers against
   the model, one transaction: temp stage, ``COPY ... FROM STDIN`` streamed from the Parquet
   record batches, MERGE on tweet_id, one load_audit row.
2. Row-by-row ``executemany`` INSERTs of the same rows (psycopg 3, one transaction).

    python bench/bench_warehouse_load.py                       # 1,000,000 rows
    BENCH_SCALE=0.01 python bench/bench_warehouse_load.py      # 10,000 rows, a quick check
    BENCH_EXECUTEMANY_ROWS=1000000 python bench/...            # time executemany on every row

The manifest load runs in a child process, so the peak RSS it reports is the loader's own.
By default executemany is timed on min(rows, 200,000) rows and its rows/s applied to the full
count (the output says so); set BENCH_EXECUTEMANY_ROWS to time more. The input Parquet is
generated with pyarrow in the model's exact layout (4 files + manifest), like the export writes.
Needs the local PostgreSQL (``make services``) or CRISISLAKE_WAREHOUSE__POSTGRES_URL.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from crisislake.config import load_config  # noqa: E402
from crisislake.warehouse import model as m  # noqa: E402
from crisislake.warehouse.load_job import load_export  # noqa: E402
from crisislake.warehouse.manifest import build_manifest  # noqa: E402

RUN = "20260101T000000Z-benchrun"
FILES = 4


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux: VmHWM (ru_maxrss survives exec, so a child started from
    a big parent would report the parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fact_tweet_table(n: int, seed: int = 7) -> pa.Table:
    """``n`` synthetic fact_tweet rows with realistic widths, in model order and types."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1_000_000_000_000, 1_000_000_000_000 + n, dtype=np.int64)
    created = (np.int64(1_767_225_600_000_000) + rng.integers(0, 86_400_000_000 * 60, n)).astype("datetime64[us]")
    words = np.array(["flood", "water", "rescue", "road", "closed", "help", "fire", "quake", "police", "need",
                      "#Lagos", "http://t.co/abc", "people", "bridge", "storm", "aid", "RT", "@user"])
    picks = rng.integers(0, len(words), (n, 14))
    text = pa.array([" ".join(row) for row in words[picks]])
    types = np.array(["flood", "earthquake", "hurricane", "wildfire", "other"])
    conf = pa.array([f"{v:.5f}" for v in rng.random(n)]).cast(pa.decimal128(6, 5))
    null_big = pa.nulls(n, pa.int64())
    cols = {
        "tweet_id": pa.array(ids), "created_at": pa.array(created).cast(pa.timestamp("us", tz="UTC")),
        "date_key": pa.array(np.full(n, 20260101, dtype=np.int32)), "lang": pa.array(np.full(n, "en")),
        "text": text, "author_pseudonym": pa.array(np.full(n, "ab" * 32)),
        "retweet_of_id": null_big, "quote_of_id": null_big, "reply_to_id": null_big,
        "location_key": pa.array(np.full(n, "nigeria|")), "place_country": pa.array(np.full(n, "Nigeria")),
        "place_name": pa.nulls(n, pa.string()),
        "lat": pa.array(np.round(rng.uniform(-90, 90, n), 6).astype(str)).cast(pa.decimal128(9, 6)),
        "lon": pa.array(np.round(rng.uniform(-180, 180, n), 6).astype(str)).cast(pa.decimal128(9, 6)),
        "relevance": pa.array(np.where(rng.random(n) > 0.5, "1", "0")), "relevance_confidence": conf,
        "disaster_type": pa.array(types[rng.integers(0, len(types), n)]), "disaster_type_confidence": conf,
        "police_force": pa.array(np.full(n, "0")), "police_force_confidence": conf,
        "force_rank": pa.array(np.full(n, "0")), "force_rank_confidence": conf,
        "needs_review": pa.array(rng.random(n) > 0.9), "cluster_id": pa.array(ids // 3),
        "is_canonical": pa.array(ids % 3 == 0), "incident_id": pa.nulls(n, pa.string()),
        "source_uri": pa.array(np.full(n, "s3://bucket/lake/raw/tweets/2026/01/01/00/part-0001.json.gz")),
        "source_line": pa.array(np.arange(n, dtype=np.int64)),
        "ingested_at": pa.array(created).cast(pa.timestamp("us", tz="UTC")),
        "run_id": pa.array(np.full(n, RUN)),
    }
    table = pa.table(cols)
    assert table.schema.names == m.FACT_TWEET.column_names
    return table


def write_export(lake: Path, table: pa.Table) -> None:
    out = lake / "exports" / "fact_tweet" / RUN
    out.mkdir(parents=True)
    per = -(-table.num_rows // FILES)
    entries = []
    for i in range(FILES):
        path = out / f"part-{i:05d}.parquet"
        pq.write_table(table.slice(i * per, per), path, compression="snappy")
        entries.append((f"file://{path}", path.stat().st_size))
    (out / "manifest.json").write_text(json.dumps(build_manifest(entries)))


def load_only(lake: str, url: str, schema: str) -> int:
    """Child process: the manifest load alone; prints one JSON line with its figures."""
    config = load_config("local", lake_root=lake, environ={}, overrides=[
        f"warehouse.postgres_url={url}", f"warehouse.schema={schema}"])
    marks = []
    t0 = time.perf_counter()
    result = load_export(config, RUN, tables=["fact_tweet"], echo=lambda _: None,
                         hook=lambda step: marks.append((step, time.perf_counter())))
    seconds = time.perf_counter() - t0
    steps, last = [], t0
    for step, at in marks:
        steps.append(f"{'validate+ddl+' if step == 'stage' else ''}{step} {at - last:.1f}s")
        last = at
    print(json.dumps({"rows": result["tables"]["fact_tweet"]["rows"], "seconds": seconds,
                      "steps": ", ".join(steps), "peak_rss_mb": peak_rss_mb()}))
    return 0


def main() -> int:
    import devservices
    import psycopg

    if sys.argv[1:2] == ["--load-only"]:
        return load_only(*sys.argv[2:5])

    scale = float(os.environ.get("BENCH_SCALE", "1"))
    rows = max(1000, int(1_000_000 * scale))
    em_rows = min(rows, int(os.environ.get("BENCH_EXECUTEMANY_ROWS", "200000")))
    url = os.environ.get("CRISISLAKE_WAREHOUSE__POSTGRES_URL") or devservices.ensure_postgres()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f}; "
          f"PostgreSQL {url.rsplit('@', 1)[-1]}; {rows:,} fact_tweet rows")

    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        t0 = time.perf_counter()
        table = fact_tweet_table(rows)
        write_export(lake, table)
        size = sum(p.stat().st_size for p in (lake / "exports").rglob("*.parquet"))
        print(f"generated {rows:,} rows as {FILES} Parquet files, {size / 1e6:.1f} MB, in {time.perf_counter() - t0:.1f}s")
        em_rows_list = table.slice(0, em_rows).to_pylist()  # built before timing either path
        del table
        config = load_config("local", lake_root=str(lake), environ={}, overrides=[
            f"warehouse.postgres_url={url}", f"warehouse.schema={schema}"])
        try:
            # The manifest load runs in a child process so its peak RSS is its own, not the
            # generator's: the point of streaming record batches is bounded memory.
            t0 = time.perf_counter()
            child = subprocess.run(
                [sys.executable, __file__, "--load-only", str(lake), url, schema],
                capture_output=True, text=True, check=False)
            manifest_s = time.perf_counter() - t0
            if child.returncode != 0:
                raise RuntimeError(child.stderr[-2000:])
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            assert measured["rows"] == rows, measured
            manifest_rps = rows / measured["seconds"]
            print(f"manifest path (validate + COPY FROM STDIN + MERGE + audit): {rows:,} rows in "
                  f"{measured['seconds']:.1f}s = {manifest_rps:,.0f} rows/s; loader peak RSS "
                  f"{measured['peak_rss_mb']:.0f} MB (process incl. interpreter and imports; "
                  f"{manifest_s:.1f}s with process start)")
            print(f"  time by step: {measured['steps']}")
            t0 = time.perf_counter()
            again = load_export(config, RUN, tables=["fact_tweet"], echo=lambda _: None)
            print(f"same run again: {again['tables']['fact_tweet']} in {time.perf_counter() - t0:.2f}s")

            cols = m.FACT_TWEET.column_names
            with psycopg.connect(url) as conn:
                conn.execute(f"CREATE TABLE {schema}.fact_tweet_rows (LIKE {schema}.fact_tweet INCLUDING ALL)")
                conn.commit()
                sql = (f"INSERT INTO {schema}.fact_tweet_rows ({', '.join(cols)}) "
                       f"VALUES ({', '.join(['%s'] * len(cols))})")
                params = [tuple(r[c] for c in cols) for r in em_rows_list]
                t0 = time.perf_counter()
                with conn.cursor() as cur:
                    cur.executemany(sql, params)
                conn.commit()
                em_s = time.perf_counter() - t0
                count = conn.execute(f"SELECT COUNT(*) FROM {schema}.fact_tweet_rows").fetchone()[0]
            assert count == em_rows
            em_rps = em_rows / em_s
            note = "" if em_rows == rows else f" (timed on {em_rows:,} rows; {rows:,} rows extrapolated to {rows / em_rps:.0f}s)"
            print(f"row-by-row executemany INSERT: {em_rows:,} rows in {em_s:.1f}s = {em_rps:,.0f} rows/s{note}")
            print(f"ratio: manifest path is {manifest_rps / em_rps:.1f}x the rows/s of executemany")
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
