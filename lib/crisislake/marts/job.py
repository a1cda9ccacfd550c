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
from typing import TYPE_CHECKING, Dict

from crisislake.config import Config

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

STEP = "build-marts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", default="", help="comma-separated subset of marts: conflict_weekly, conflict_monthly_country, "
                                   "disaster_tweets_daily",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    from crisislake.session import build_spark

    spark = build_spark(config.spark)
    try:
        only = [m.strip() for m in args.only.split(",") if m.strip()]
        summary = build_marts(spark, config, args.run_id, only)
    finally:
        spark.stop()
    print(json.dumps(summary, indent=2))
    return 0


def pipeline_step(spark: SparkSession, config: Config, run_id: str) -> dict:
    return build_marts(spark, config, run_id)


def read_delta(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def write_mart(spark: SparkSession, df: DataFrame, path: str) -> int:
    """Overwrite the mart at ``path`` (Parquet, partitioned by ``year``); return its row count.

    Marts are small aggregates: one partition per year keeps the file count low.
    """
    df.repartition("year").write.mode("overwrite").partitionBy("year").parquet(path)
    return spark.read.parquet(path).count()


def build_marts(spark: SparkSession, config: Config, run_id: str, only=()) -> Dict[str, object]:
    from crisislake import delta_io
    from crisislake.marts import transforms as tr
    from crisislake.runs import run_step

    wanted = set(only) or {"conflict_weekly", "conflict_monthly_country", "disaster_tweets_daily"}
    summary: Dict[str, object] = {}
    with run_step(spark, config.zone("_runs"), run_id, STEP) as record:
        events_path = config.table("curated", "conflict_events")
        conflict = {"conflict_weekly": tr.conflict_weekly, "conflict_monthly_country": tr.conflict_monthly_country}
        if wanted & set(conflict):
            if delta_io.is_delta_table(spark, events_path):
                events = read_delta(spark, events_path)
                record.read["curated/conflict_events"] = events_path
                for name, build in conflict.items():
                    if name in wanted:
                        path = config.table("marts", name)
                        summary[name] = write_mart(spark, events.transform(build), path)
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
                summary["disaster_tweets_daily"] = write_mart(spark, tr.disaster_tweets_daily(labels, tweets), path)
                record.wrote[path] = summary["disaster_tweets_daily"]
        record.counts = dict(summary)
    return summary
