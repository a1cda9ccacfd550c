"""Parsed tweets -> ``curated/tweets`` rows, quarantine rows, and one row per ``tweet_id``.

The parsing itself (lines -> tweets and quarantine reasons) runs in Python workers, see
:mod:`crisislake.tweets.records`. Which version of a tweet wins when it is seen more than once
is the contract's rule, :func:`crisislake.tweets.schemas.richness_sql`. Nothing here reads or
writes storage.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, List, Optional

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crisislake.tweets import records as records_module
from crisislake.tweets.schemas import TWEET_COLUMNS, richness_sql
from crisislake.tweets.workers import shipped

# Set while the parse runs: lines go to the Python workers in Arrow batches of 1,000 rows, not
# Spark's default 10,000. The JVM grows and zero-fills each batch's buffers; 10,000 statuses of
# 3 KB make 32 MB buffers that never stay in cache, and zero-filling them took 3.2 of the 8.9
# CPU-seconds of the threads feeding the workers (async-profiler, bench input); at 1,000, 0.8.
PARSE_CONF = {"spark.sql.execution.arrow.maxRecordsPerBatch": "1000"}


def with_lineage(run_id: str, ingested_at: Optional[datetime] = None) -> Callable[[DataFrame], DataFrame]:
    """Add ``ingested_at`` (``ingested_at``, else the query's start) and ``run_id``;
    ``source_uri``/``source_line`` come from the reader."""

    def inner(df: DataFrame) -> DataFrame:
        at = F.current_timestamp() if ingested_at is None else F.lit(ingested_at).cast("timestamp")
        return df.withColumns({"ingested_at": at, "run_id": F.lit(run_id)})

    return inner


def to_records(run_id: str, ingested_at: Optional[datetime] = None) -> Callable[[DataFrame], DataFrame]:
    """Lines (``source_uri, source_line, payload, raw, error``) -> one row per record with the
    contract columns, ``reason`` (null when good) and ``raw_payload`` (kept for bad rows only,
    so a batch holds tweets, not multi-KB JSON). Run its actions under :data:`PARSE_CONF`."""
    parse = shipped(records_module).parse_batches

    def inner(lines_df: DataFrame) -> DataFrame:
        parsed = lines_df.select("source_uri", "source_line", "payload", "raw", "error").mapInArrow(
            parse, records_module.OUTPUT_DDL)
        return (
            parsed.withColumn("created_at", F.expr("timestamp_micros(created_us)"))
            .transform(with_lineage(run_id, ingested_at))
            .select(*TWEET_COLUMNS, "reason", "raw_payload")
        )

    return inner


def record_totals() -> List[Column]:
    """Aggregates over :func:`to_records`' rows: ``read`` (records), ``quarantined`` (with a
    reason) and ``distinct`` (distinct ids among the good ones: fewer than the good records
    when the batch repeats a tweet)."""
    return [
        F.count(F.lit(1)).alias("read"),
        F.count(F.col("reason")).alias("quarantined"),
        F.countDistinct(F.when(F.col("reason").isNull(), F.col("tweet_id"))).alias("distinct"),
    ]


def select_tweets(df: DataFrame) -> DataFrame:
    """Good records only, in the contract's column order."""
    return df.filter(F.col("reason").isNull()).select(*TWEET_COLUMNS)


def select_quarantine(df: DataFrame) -> DataFrame:
    """Bad records as ``source_uri, source_line, raw_payload, reason`` for ``delta_io.to_quarantine``."""
    return df.filter(F.col("reason").isNotNull()).select("source_uri", "source_line", "raw_payload", "reason")


def pick_richest(tweets_df: DataFrame) -> DataFrame:
    """One row per ``tweet_id``: the richest version (:func:`~crisislake.tweets.schemas.richness_sql`).

    A window over ``tweet_id`` costs one shuffle of the narrow tweet rows (not the raw JSON).
    """
    order = Window.partitionBy("tweet_id").orderBy(
        F.expr(richness_sql("s")).desc(), F.col("source_uri"), F.col("source_line")
    )
    return (
        tweets_df.alias("s")
        .withColumn("_rank", F.row_number().over(order))
        .filter(F.col("_rank") == 1)
        .drop("_rank")
    )
