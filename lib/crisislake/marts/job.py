"""``crisislake build-marts``: rebuild the analyst marts (Parquet, partitioned by year).

Marts are derived, so each run overwrites them whole. A mart whose inputs do not exist yet is
skipped and the summary says so:

* ``marts/conflict_weekly`` and ``marts/conflict_monthly_country`` from ``curated/conflict_events``
  (deleted events excluded);
* ``marts/disaster_tweets_daily`` from ``enriched/tweet_labels`` + ``curated/tweets``.
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Dict

from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake import fs
from crisislake.config import Config
from crisislake.context import JobContext
from crisislake.errors import CrisislakeError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

STEP = "build-marts"
MARTS = ("conflict_weekly", "conflict_monthly_country", "disaster_tweets_daily")
SCHEMA_SIDECAR = "_schema.json"
COLUMN_COMMENTS = {
    "year": "partition column: the year of the period's first day",
    "week_start": "Monday of the ISO week (UTC)",
    "month_start": "first day of the month",
    "date": "UTC day the tweets were posted",
    "country": "ACLED country name",
    "admin1": "ACLED first-level administrative area",
    "event_type": "ACLED event type",
    "events": "conflict events (events deleted by a later ACLED export excluded)",
    "fatalities": "reported fatalities (ACLED's conservative count)",
    "disaster_type": "the disaster_type model's label",
    "tweets": "tweets with that label (relevance label 1, or none)",
    "run_id": "the run that built this mart",
    "built_at": "when this mart was built (UTC)",
}


class MartsError(CrisislakeError, ValueError):
    """A mart name that does not exist."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", default="", help="comma-separated subset of marts: conflict_weekly, conflict_monthly_country, "
                                   "disaster_tweets_daily",
    )


def run(ctx: JobContext) -> Dict[str, object]:
    only = [m.strip() for m in ctx.args.only.split(",") if m.strip()]
    unknown = sorted(set(only) - set(MARTS))
    if unknown:
        raise MartsError(f"unknown marts {', '.join(unknown)}; known: {', '.join(MARTS)}")
    with ctx.stage("build marts"):
        return build_marts(ctx.spark, ctx.config, ctx.run_id, only)


def read_delta(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def write_mart(spark: SparkSession, df: DataFrame, path: str, run_id: str, built_at: datetime) -> int:
    """Rebuild the mart at ``path`` (Parquet, partitioned by ``year``); return its row count.

    Every row carries the ``run_id`` and ``built_at`` of the build, and ``_schema.json`` beside
    the files describes the columns. The new files are written (and counted) in a staging
    folder first and only then replace the old ones (:func:`crisislake.fs.replace_dir`), so a
    failed rebuild leaves the previous mart whole. Marts are small aggregates: one partition per
    year keeps the file count low.
    """
    stamped = df.withColumn("run_id", F.lit(run_id)).withColumn("built_at", F.lit(built_at).cast("timestamp"))
    parent, name = path.rstrip("/").rsplit("/", 1)
    staging = f"{parent}/_staging/{name}-{run_id}"
    stamped.repartition("year").write.mode("overwrite").partitionBy("year").parquet(staging)
    rows = spark.read.parquet(staging).count()
    fs.write_text(f"{staging}/{SCHEMA_SIDECAR}", schema_sidecar(stamped.schema, run_id, built_at, rows))
    fs.replace_dir(staging, path)
    return rows


def schema_sidecar(schema: T.StructType, run_id: str, built_at: datetime, rows: int) -> str:
    """``_schema.json``: the mart's columns (name, Spark type, nullable, meaning), run and size."""
    columns = [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable,
                "comment": COLUMN_COMMENTS.get(f.name, "")} for f in schema.fields]
    return json.dumps({"run_id": run_id, "built_at": built_at.isoformat(timespec="seconds"), "rows": rows,
                       "format": "parquet, partitioned by year", "columns": columns}, indent=2)


def build_marts(spark: SparkSession, config: Config, run_id: str, only=()) -> Dict[str, object]:
    from crisislake import delta_io
    from crisislake.marts import transforms as tr
    from crisislake.runs import run_step

    wanted = set(only) or set(MARTS)
    built_at = datetime.now(timezone.utc).replace(microsecond=0)
    summary: Dict[str, object] = {}
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        events_path = config.table("curated", "conflict_events")
        conflict = {"conflict_weekly": tr.conflict_weekly, "conflict_monthly_country": tr.conflict_monthly_country}
        if wanted & set(conflict):
            if delta_io.is_delta_table(spark, events_path):
                events = read_delta(spark, events_path)
                record.read["curated/conflict_events"] = events_path
                for name, build in conflict.items():
                    if name in wanted:
                        path = config.table("marts", name)
                        summary[name] = write_mart(spark, events.transform(build), path, run_id, built_at)
                        record.wrote[path] = summary[name]
            else:
                for name in set(conflict) & wanted:
                    summary[name] = "skipped: curated/conflict_events does not exist"
        if "disaster_tweets_daily" in wanted:
            labels_path = config.table("enriched", "tweet_labels")
            tweets_path = config.table("curated", "tweets")
            missing = [p for p in (labels_path, tweets_path) if not delta_io.is_delta_table(spark, p)]
            if missing:
                summary["disaster_tweets_daily"] = "skipped: " + ", ".join(
                    p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in missing) + " missing"
            else:
                path = config.table("marts", "disaster_tweets_daily")
                labels, tweets = read_delta(spark, labels_path), read_delta(spark, tweets_path)
                record.read.update({"enriched/tweet_labels": labels_path, "curated/tweets": tweets_path})
                summary["disaster_tweets_daily"] = write_mart(
                    spark, tr.disaster_tweets_daily(labels, tweets), path, run_id, built_at)
                record.wrote[path] = summary["disaster_tweets_daily"]
        record.counts = dict(summary)
        record.rows_written = sum(n for n in summary.values() if isinstance(n, int))
    return summary
