"""``crisislake sync-reviews``: copy reviewer decisions from the warehouse into the lake.

The API appends decisions to the warehouse table ``review_decisions`` (the one place a request
writes). This step copies the new ones into ``enriched/review_decisions`` (Delta) with an
insert-only MERGE on ``decision_id``, so running it twice, or over an overlapping window, adds
nothing twice. It reads decisions from one hour before the newest ``decided_at`` already in the
lake (a transaction that started earlier but committed later still falls inside the window);
``--full`` re-reads all. It is the last step of ``make run`` and can run on its own at any time.
Why a pipeline step and not a lake write from the API: docs/decisions/0050-review-decisions-to-lake.md.
"""
from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import List, Optional

from crisislake.config import Config
from crisislake.context import JobContext

MARGIN = timedelta(hours=1)
COLUMNS = ("decision_id", "tweet_id", "task", "decision", "label", "model_label", "model_version", "reviewer",
           "decided_at")


def lake_schema():
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("decision_id", T.StringType(), False), T.StructField("tweet_id", T.LongType(), False),
        T.StructField("task", T.StringType(), False), T.StructField("decision", T.StringType(), False),
        T.StructField("label", T.StringType(), True), T.StructField("model_label", T.StringType(), True),
        T.StructField("model_version", T.StringType(), True), T.StructField("reviewer", T.StringType(), False),
        T.StructField("decided_at", T.TimestampType(), False), T.StructField("run_id", T.StringType(), True),
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true", help="re-read every decision, not only the new ones")


def warehouse_url(config: Config) -> str:
    return config.serve.read_url or config.warehouse.postgres_url


def fetch_decisions(url: str, schema: str, since: Optional[datetime]) -> List[tuple]:
    """Decisions with ``decided_at >= since`` (all when ``since`` is None), oldest first."""
    import psycopg
    from psycopg import sql

    from crisislake.serve.db import table

    where = sql.SQL(" WHERE decided_at >= %(since)s") if since is not None else sql.SQL("")
    query = sql.SQL("SELECT {cols} FROM {t}{where} ORDER BY decided_at, decision_id").format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS), t=table(schema, "review_decisions"), where=where)
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return conn.execute(query, {"since": since}).fetchall()


def lake_watermark(spark, path: str) -> Optional[datetime]:
    """The newest ``decided_at`` in the lake minus :data:`MARGIN`, or None for an empty/missing table."""
    from pyspark.sql import functions as F

    from crisislake import delta_io

    if not delta_io.is_delta_table(spark, path):
        return None
    # Epoch microseconds, not a collected timestamp: those come back in the driver's local time zone.
    micros = spark.read.format("delta").load(path).agg(F.unix_micros(F.max("decided_at"))).first()[0]
    if micros is None:
        return None
    return datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc) - MARGIN


def sync_reviews(spark, config: Config, run_id: str, full: bool = False) -> dict:
    """Copy decisions newer than the lake's watermark (all with ``full``); ``spark`` may be a
    zero-argument function returning the session, so nothing starts a JVM when there is nothing to read."""
    from crisislake import delta_io
    from crisislake.runs import run_step

    url = warehouse_url(config)
    if not url:
        return {"skipped": "no warehouse URL: set CRISISLAKE_SERVE__READ_URL or CRISISLAKE_WAREHOUSE__POSTGRES_URL"}
    import psycopg

    path = config.table("enriched", "review_decisions")
    try:
        fetch_decisions(url, config.warehouse.schema, datetime.max.replace(year=9999))
    except psycopg.errors.UndefinedTable:
        return {"skipped": f"no {config.warehouse.schema}.review_decisions yet (run `crisislake load`)"}
    spark = spark() if callable(spark) else spark
    with run_step(config.zone("_runs"), run_id, "sync-reviews") as record:
        since = None if full else lake_watermark(spark, path)
        rows = [tuple(r) + (run_id,) for r in fetch_decisions(url, config.warehouse.schema, since)]
        source = spark.createDataFrame(rows, lake_schema())
        result = delta_io.merge_into(spark, source, path, ["decision_id"], update=False)
        record.read = {"warehouse": f"{config.warehouse.schema}.review_decisions",
                       "since": since.isoformat() if since else None}
        record.wrote = {"enriched/review_decisions": path}
        record.counts = {"read": len(rows), "inserted": result["inserted"]}
        record.rows_read, record.rows_written = len(rows), result["inserted"]
        record.rows_duplicate = len(rows) - result["inserted"]
    return {"read": len(rows), "inserted": result["inserted"], "since": since.isoformat() if since else "all"}


def run(ctx: JobContext) -> dict:
    if ctx.in_pipeline and ctx.config.warehouse.backend != "postgres":
        return {"skipped": f"reviews are written to PostgreSQL; backend is {ctx.config.warehouse.backend}"}
    with ctx.stage("copy new reviewer decisions"):
        return sync_reviews(lambda: ctx.spark, ctx.config, ctx.run_id, ctx.args.full)
