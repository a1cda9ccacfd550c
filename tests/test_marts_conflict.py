"""Analyst marts: numbers checked against sums worked out by hand from the inline inputs."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from chispa import assert_df_equality
from crisislake.marts import transforms as tr
from pyspark.sql import types as T

D = dt.date
EVENTS_SCHEMA = T.StructType([
    T.StructField("event_id_cnty", T.StringType()),
    T.StructField("event_date", T.DateType()),
    T.StructField("country", T.StringType()),
    T.StructField("admin1", T.StringType()),
    T.StructField("event_type", T.StringType()),
    T.StructField("fatalities", T.IntegerType()),
    T.StructField("is_deleted", T.BooleanType()),
])
EVENTS = [
    ("E1", D(2024, 1, 1), "Sudan", "Khartoum", "Battles", 2, False),    # Monday
    ("E2", D(2024, 1, 3), "Sudan", "Khartoum", "Battles", 3, False),
    ("E3", D(2024, 1, 7), "Sudan", "Khartoum", "Battles", None, False),  # Sunday: same ISO week
    ("E4", D(2024, 1, 8), "Sudan", "Khartoum", "Battles", 1, False),     # next week
    ("E5", D(2024, 1, 2), "Sudan", "Darfur", "Protests", 0, False),
    ("E6", D(2024, 1, 4), "Sudan", "Khartoum", "Battles", 10, True),     # deleted: never counted
    ("E7", D(2023, 12, 31), "Chad", "Lac", "Battles", 4, False),         # week starts 2023-12-25
    ("E8", D(2024, 2, 10), "Chad", "Lac", "Battles", 6, None),
]
WEEKLY_SCHEMA = T.StructType([
    T.StructField("year", T.IntegerType()), T.StructField("week_start", T.DateType()),
    T.StructField("country", T.StringType()), T.StructField("admin1", T.StringType()),
    T.StructField("event_type", T.StringType()), T.StructField("events", T.LongType()),
    T.StructField("fatalities", T.LongType()),
])
MONTHLY_SCHEMA = T.StructType([
    T.StructField("year", T.IntegerType()), T.StructField("month_start", T.DateType()),
    T.StructField("country", T.StringType()), T.StructField("events", T.LongType()),
    T.StructField("fatalities", T.LongType()),
])


def test_weekly_events_and_fatalities_by_country_admin1_type(spark):
    source_df = spark.createDataFrame(EVENTS, EVENTS_SCHEMA)
    expected_df = spark.createDataFrame([
        (2023, D(2023, 12, 25), "Chad", "Lac", "Battles", 1, 4),
        (2024, D(2024, 1, 1), "Sudan", "Khartoum", "Battles", 3, 5),
        (2024, D(2024, 1, 1), "Sudan", "Darfur", "Protests", 1, 0),
        (2024, D(2024, 1, 8), "Sudan", "Khartoum", "Battles", 1, 1),
        (2024, D(2024, 2, 5), "Chad", "Lac", "Battles", 1, 6),
    ], WEEKLY_SCHEMA)
    actual_df = tr.conflict_weekly(source_df)
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_monthly_totals_by_country_exclude_deleted(spark):
    source_df = spark.createDataFrame(EVENTS, EVENTS_SCHEMA)
    expected_df = spark.createDataFrame([
        (2023, D(2023, 12, 1), "Chad", 1, 4),
        (2024, D(2024, 1, 1), "Sudan", 5, 6),
        (2024, D(2024, 2, 1), "Chad", 1, 6),
    ], MONTHLY_SCHEMA)
    actual_df = tr.conflict_monthly_country(source_df)
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


LABELS_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType()), T.StructField("task", T.StringType()),
    T.StructField("label", T.StringType()), T.StructField("confidence", T.DoubleType()),
    T.StructField("model_version", T.StringType()), T.StructField("run_id", T.StringType()),
    T.StructField("labelled_at", T.TimestampType()),
])
TWEETS_SCHEMA = T.StructType([T.StructField("tweet_id", T.LongType()), T.StructField("created_at", T.TimestampType())])


def test_daily_disaster_tweets_by_type(spark):
    t1, t2 = dt.datetime(2024, 3, 5, 0, 0), dt.datetime(2024, 3, 6, 0, 0)
    labels_df = spark.createDataFrame([
        (1, "disaster_type", "flood", 0.9, "v1", "r", t1), (1, "relevance", "1", 0.9, "v1", "r", t1),
        (2, "disaster_type", "flood", 0.9, "v1", "r", t1), (2, "relevance", "0", 0.8, "v1", "r", t1),  # not relevant
        (3, "disaster_type", "earthquake", 0.7, "v1", "r", t1),                                        # no relevance label
        (4, "disaster_type", "unknown", 0.0, "v1", "r", t1),                                           # not counted
        (5, "disaster_type", "flood", 0.6, "v1", "r", t1), (5, "disaster_type", "wildfire", 0.8, "v2", "r", t2),
        (6, "disaster_type", "flood", 0.9, "v1", "r", t1), (6, "relevance", "1", 0.9, "v1", "r", t1),
        (1, "information_type", "affected_individuals", 0.7, "v1", "r", t1),
        (6, "information_type", "caution_and_advice", 0.6, "v1", "r", t1),
        (7, "disaster_type", "flood", 0.9, "v1", "r", t1), (7, "information_type", "caution_and_advice", 0.8, "v1", "r", t1),
        (8, "disaster_type", "flood", 0.9, "v1", "r", t1), (8, "information_type", "unknown", 1.0, "v1", "r", t1),
        (9, "information_type", "sympathy_and_support", 0.9, "v1", "r", t1),                          # no disaster type
    ], LABELS_SCHEMA)
    tweets_df = spark.createDataFrame([
        (1, dt.datetime(2024, 3, 1, 10, 0)), (2, dt.datetime(2024, 3, 1, 11, 0)),
        (3, dt.datetime(2024, 3, 1, 23, 59, 59)), (4, dt.datetime(2024, 3, 1, 12, 0)),
        (5, dt.datetime(2024, 3, 1, 13, 0)), (6, dt.datetime(2024, 3, 2, 0, 0, 1)),
        (7, dt.datetime(2024, 3, 2, 8, 0)), (8, dt.datetime(2024, 3, 1, 14, 0)), (9, dt.datetime(2024, 3, 1, 15, 0)),
    ], TWEETS_SCHEMA)
    expected_df = spark.createDataFrame([
        (2024, D(2024, 3, 1), "flood", "affected_individuals", 1), (2024, D(2024, 3, 1), "flood", None, 1),
        (2024, D(2024, 3, 1), "earthquake", None, 1), (2024, D(2024, 3, 1), "wildfire", None, 1),
        (2024, D(2024, 3, 2), "flood", "caution_and_advice", 2),
    ], "year int, date date, disaster_type string, information_type string, tweets long")
    actual_df = tr.disaster_tweets_daily(labels_df, tweets_df)
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_build_marts_writes_year_partitions_and_skips_tweet_mart_without_inputs(spark, config):
    from crisislake.hdx.transforms import CONFLICT_EVENTS_SCHEMA
    from crisislake.marts.job import build_marts

    rows = [{**{f.name: None for f in CONFLICT_EVENTS_SCHEMA.fields},
             **dict(zip(EVENTS_SCHEMA.fieldNames(), e))} for e in EVENTS]
    spark.createDataFrame(rows, CONFLICT_EVENTS_SCHEMA).write.format("delta").save(
        config.table("curated", "conflict_events"))
    summary = build_marts(spark, config, "run-marts")
    weekly = Path(config.table("marts", "conflict_weekly"))
    assert summary == {
        "conflict_weekly": 5, "conflict_monthly_country": 3,
        "disaster_tweets_daily": "skipped: enriched/tweet_labels, curated/tweets missing",
    }
    assert sorted(p.name for p in weekly.iterdir() if p.is_dir()) == ["year=2023", "year=2024"]
    sudan = spark.read.parquet(str(weekly)).filter("country = 'Sudan' AND admin1 = 'Khartoum'")
    assert sorted((r.week_start, r.events, r.fatalities) for r in sudan.collect()) == [
        (D(2024, 1, 1), 3, 5), (D(2024, 1, 8), 1, 1)]
    record = json.loads((Path(config.zone("_runs")) / "run-marts.json").read_text())["steps"]["build-marts"]
    assert record["status"] == "succeeded"
