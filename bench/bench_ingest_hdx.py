#!/usr/bin/env python3
"""Benchmark ``ingest-hdx``: 1,000,000 ACLED rows (variants of the real 2016 export) into a fresh lake.

    python bench/bench_ingest_hdx.py            # 1,000,000 rows
    BENCH_SCALE=0.01 python bench/bench_ingest_hdx.py   # 10,000 rows, a quick check
    BENCH_RERUN=1 ...                                   # also time an idempotent re-run

Half the files are the old upper-case Windows-1252 layout (dd/mm/yyyy dates, trailing empty
columns, quoted newlines), half today's lower-case UTF-8 layout with an HXL row; ~0.5 % of rows are
made invalid so the quarantine path is exercised. Files go to ``$BENCH_OUT`` (default
``bench/out/ingest_hdx``, never committed). Prints rows/s and the peak memory of the Spark
driver JVM and of the Python driver (which scans each file for its encoding).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

from proc_memory import jvm_peak_mb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from crisislake.hdx.layout import ACLED_COLUMNS, LEGACY_ACLED_COLUMNS  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "acled" / "ACLED_All_Africa_20160101_to_20160528.cp1252.csv"
SAMPLE = next((ROOT / "data" / "sample" / "raw" / "hdx").glob("acled-*/*/*/*.csv"), None)
ROWS = int(1_000_000 * float(os.environ.get("BENCH_SCALE", "1")))
FILES = int(os.environ.get("BENCH_FILES", "8"))
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "out" / "ingest_hdx"))


def base_rows():
    src = SOURCE if SOURCE.is_file() else SAMPLE
    rows = list(csv.reader(io.StringIO(src.read_bytes().decode("cp1252"), newline="")))
    return rows[0], rows[1:]


def generate(lake: Path) -> int:
    """Write FILES exports with ROWS rows in total; return the bytes written."""
    header, rows = base_rows()
    legacy_index = {name: i for i, name in enumerate(header) if name}
    per_file = ROWS // FILES
    total_bytes = 0
    n = 0
    for f in range(FILES):
        legacy = f % 2 == 0
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\r\n")
        if legacy:
            writer.writerow(header)
        else:
            writer.writerow(ACLED_COLUMNS)
            writer.writerow(["#event+code", "#date+occurred"] + [""] * (len(ACLED_COLUMNS) - 2))
        count = per_file if f < FILES - 1 else ROWS - per_file * (FILES - 1)
        for i in range(count):
            src = list(rows[(n + i) % len(rows)])
            eid = f"{src[legacy_index['EVENT_ID_CNTY']]}-{f}-{i}"
            src[legacy_index["EVENT_ID_CNTY"]] = eid
            if (n + i) % 200 == 0:
                src[legacy_index["LATITUDE"]] = "123.4"  # quarantined: out of range
            if legacy:
                writer.writerow(src)
            else:
                cells = {LEGACY_ACLED_COLUMNS[h]: src[j] for h, j in legacy_index.items() if h in LEGACY_ACLED_COLUMNS}
                d, m, y = cells["event_date"].split("/")
                cells["event_date"] = f"{y}-{m}-{d}"
                writer.writerow([cells.get(c, "") for c in ACLED_COLUMNS])
        n += count
        data = buf.getvalue().encode("cp1252" if legacy else "utf-8", errors="replace")
        total_bytes += len(data)
        rid = f"bench-resource-{f}"
        folder = lake / "raw" / "hdx" / "acled-bench" / rid / "20250101T000000Z"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "export.csv").write_bytes(data)
        (folder / "_sidecar.json").write_text(json.dumps({
            "filename": "export.csv", "format": "CSV", "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "retrieved_at": "20250101T000000Z"}))
    return total_bytes


def jvm_cpu_s(spark) -> float:
    """User + system CPU seconds of the driver JVM so far (Linux /proc); load-independent work measure."""
    pid = spark.sparkContext._gateway.proc.pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def main() -> int:
    from crisislake.config import load_config
    from crisislake.hdx.ingest_job import ingest_hdx
    from crisislake.session import build_spark

    lake = OUT / "lake"
    if OUT.exists():
        shutil.rmtree(OUT)
    t0 = time.time()
    size = generate(lake)
    gen_s = time.time() - t0
    print(f"generated {ROWS:,} rows in {FILES} files, {size / 1e6:.0f} MB, in {gen_s:.1f}s -> {lake}")
    config = load_config("local", lake_root=str(lake), environ={}, overrides=[
        "spark.driver_memory=" + os.environ.get("BENCH_DRIVER_MEMORY", "3g"),
        "spark.shuffle_partitions=" + os.environ.get("BENCH_SHUFFLE_PARTITIONS", "8"),
    ])
    spark = build_spark(config.spark, app_name="bench-ingest-hdx")
    try:
        t1, cpu1 = time.time(), jvm_cpu_s(spark)
        summary = ingest_hdx(spark, config, "bench-run-1")
        ingest_s, ingest_cpu = time.time() - t1, jvm_cpu_s(spark) - cpu1
        t2 = time.time()
        rerun = ingest_hdx(spark, config, "bench-run-2") if os.environ.get("BENCH_RERUN", "0") == "1" else None
        rerun_s = time.time() - t2
        events = summary["conflict_events"]
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
              f"driver memory {config.spark.driver_memory}, shuffle partitions {config.spark.shuffle_partitions}")
        print(f"ingest: {events['records']:,} records -> {events['written']:,} written, "
              f"{events['quarantined']:,} quarantined, {events['duplicates']:,} duplicates")
        print(f"ingest wall time: {ingest_s:.1f}s  => {events['records'] / ingest_s:,.0f} rows/s "
              f"({size / 1e6 / ingest_s:.1f} MB/s); load average {os.getloadavg()[0]:.1f}")
        print(f"driver JVM CPU time: {ingest_cpu:.0f}s  => {events['records'] / ingest_cpu:,.0f} rows per CPU-second "
              f"(the figure to compare on a shared machine)")
        if rerun is not None:
            r = rerun["conflict_events"]
            print(f"re-run on the same raw (idempotent MERGE): {rerun_s:.1f}s, inserted {r['inserted']}, "
                  f"updated {r['updated']}, marked deleted {r['marked_deleted']}")
        print(f"peak memory: driver JVM {jvm_peak_mb(spark):,.0f} MB (VmHWM), Python driver "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB (max RSS)")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
