"""``crisislake ingest-reported-incidents``: a reported-incident list -> ``curated/reported_incidents``.

Reads ``--input FILE`` or every ``*.json`` / ``*.jsonl`` under ``raw/reported_incidents/``
(2020PB's ``all-locations-v2.json`` as published). Good rows are MERGEd on ``id`` (a re-run
changes nothing; a revised list updates rows); bad rows go to ``quarantine/reported_incidents``
with the reason and the raw object. Input rows = written + duplicates + quarantined.
"""
from __future__ import annotations

import argparse
from typing import Optional

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from crisislake import delta_io, fs
from crisislake.config import Config
from crisislake.context import JobContext, require_input
from crisislake.dedup.incidents.reported import REPORTED_COLUMNS, parse_incidents, with_validation
from crisislake.runs import run_step

STEP = "ingest-reported-incidents"
TABLE = "reported_incidents"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", default=None, metavar="PATH",
                        help="a JSON file or folder (default: <lake>/raw/reported_incidents)")


def read_documents(spark: SparkSession, path: str):
    """``value, source_uri, line_no``: each file whole (``{"data": [...]}``) and each of its lines
    (JSON lines); :func:`parse_incidents` keeps whichever parses."""
    # wholetext as text()'s argument: its default (False) would override an .option("wholetext")
    whole = (spark.read.option("recursiveFileLookup", True).text(path, wholetext=True)
             .select("value", F.input_file_name().alias("source_uri"), F.lit(None).cast("long").alias("line_no")))
    lined = (spark.read.option("recursiveFileLookup", True).text(path)
             .select("value", F.input_file_name().alias("source_uri"))
             .withColumn("line_no", F.row_number().over(Window.partitionBy("source_uri").orderBy(F.monotonically_increasing_id())).cast("long")))
    starts_object_array = F.col("value").rlike(r'^\s*\{\s*"[^"]+"\s*:') & F.col("value").contains('"data"')
    docs = whole.where(starts_object_array)
    jsonl = lined.join(docs.select("source_uri"), "source_uri", "left_anti")
    return docs.unionByName(jsonl.select("value", "source_uri", "line_no"))


def ingest_reported(spark: SparkSession, config: Config, run_id: str, path: Optional[str] = None) -> dict:
    path = path or config.table("raw", TABLE)
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        delta_io.ensure_quarantine(spark, config.table("quarantine", TABLE))
        if not fs.exists(path):
            record.counts = {"skipped": f"no input at {path}"}
            return {"skipped": f"no input at {path}"}
        rows = with_validation(parse_incidents(read_documents(spark, path))).localCheckpoint(eager=True)
        good = rows.where(F.col("reason").isNull())
        latest = Window.partitionBy("id").orderBy(F.col("source_uri").desc(), F.col("source_line").desc())
        unique = good.withColumn("r", F.row_number().over(latest)).where("r = 1").drop("r")
        records, bad_n, good_n = rows.count(), rows.where(F.col("reason").isNotNull()).count(), good.count()
        written = unique.withColumn("run_id", F.lit(run_id)).select(*REPORTED_COLUMNS)
        content = [c for c in REPORTED_COLUMNS if c not in ("id", "source_uri", "source_line", "run_id")]
        changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in content)
        merged = delta_io.merge_into(spark, written, config.table("curated", TABLE), ["id"], update_condition=changed)
        quarantined = 0
        if bad_n:
            quarantined = delta_io.write_quarantine(
                spark, delta_io.to_quarantine(rows.where(F.col("reason").isNotNull()), run_id),
                config.table("quarantine", TABLE))
        unique_n = unique.count()
        counts = {"records": records, "written": unique_n, "duplicates": good_n - unique_n,
                  "quarantined_rows": bad_n, "quarantined": quarantined,
                  "inserted": merged["inserted"], "updated": merged["updated"]}
        record.read = {path: records}
        record.wrote = {config.table("curated", TABLE): merged}
        record.quarantined = {f"quarantine/{TABLE}": quarantined}
        record.counts = counts
        record.rows_read = records
        record.rows_written = counts["written"]
        record.rows_duplicate = counts["duplicates"]
        record.rows_quarantined = bad_n
        return counts


def run(ctx: JobContext) -> dict:
    path = ctx.args.input or ctx.config.table("raw", TABLE)
    missing = require_input(ctx, path, "pass --input FILE (a 2020PB-style JSON list)",
                            skipped=f"no reported incidents at {path}")
    if missing:
        return missing
    with ctx.stage("ingest reported incidents"):
        return ingest_reported(ctx.spark, ctx.config, ctx.run_id, path)
