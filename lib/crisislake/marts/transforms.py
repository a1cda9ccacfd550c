"""Pure transforms from curated/enriched tables to the analyst marts (columns: docs/hdx.md, "Marts")."""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def filter_current_events(events: DataFrame) -> DataFrame:
    """Drop events flagged deleted by a later ACLED re-export (``is_deleted`` null counts as current)."""
    return events.filter(~F.coalesce(F.col("is_deleted"), F.lit(False)))


def _totals(df: DataFrame, keys) -> DataFrame:
    return df.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("events"),
        F.coalesce(F.sum("fatalities"), F.lit(0)).cast("long").alias("fatalities"),
    )


def conflict_weekly(events: DataFrame) -> DataFrame:
    """Events and fatalities per ISO week (Monday start) x country x admin1 x event type.

    ``year`` (the partition column) is the year of ``week_start``.
    """
    weekly = filter_current_events(events).withColumn(
        "week_start", F.date_trunc("week", F.col("event_date")).cast("date")
    )
    out = _totals(weekly, ["week_start", "country", "admin1", "event_type"])
    return out.withColumn("year", F.year("week_start")).select(
        "year", "week_start", "country", "admin1", "event_type", "events", "fatalities"
    )


def conflict_monthly_country(events: DataFrame) -> DataFrame:
    """Events and fatalities per calendar month x country."""
    monthly = filter_current_events(events).withColumn(
        "month_start", F.trunc(F.col("event_date"), "month")
    )
    out = _totals(monthly, ["month_start", "country"])
    return out.withColumn("year", F.year("month_start")).select(
        "year", "month_start", "country", "events", "fatalities"
    )


def _latest_label(labels: DataFrame) -> DataFrame:
    """One label per (tweet, task): the most recently labelled model version."""
    window = Window.partitionBy("tweet_id", "task").orderBy(F.col("labelled_at").desc_nulls_last(),
                                                             F.col("model_version").desc())
    return labels.withColumn("_rank", F.row_number().over(window)).filter("_rank = 1").drop("_rank")


def disaster_tweets_daily(labels: DataFrame, tweets: DataFrame) -> DataFrame:
    """Tweets per UTC day x disaster type x information type.

    Counts ``disaster_type`` labels other than ``unknown``; a tweet that also has a ``relevance``
    label counts only when that label is ``"1"`` (tweets without one are kept). ``information_type``
    is the tweet's humanitarian information type, null when it has none (or ``unknown``), so the
    rows of one (date, disaster type) add up to that type's tweets that day.
    """
    latest = _latest_label(labels)
    disaster = latest.filter((F.col("task") == "disaster_type") & (F.col("label") != "unknown")).select(
        "tweet_id", F.col("label").alias("disaster_type")
    )
    relevance = latest.filter(F.col("task") == "relevance").select("tweet_id", F.col("label").alias("relevance"))
    info = latest.filter((F.col("task") == "information_type") & (F.col("label") != "unknown")).select(
        "tweet_id", F.col("label").alias("information_type")
    )
    kept = disaster.join(relevance, "tweet_id", "left").filter(
        F.col("relevance").isNull() | (F.col("relevance") == "1")
    ).join(info, "tweet_id", "left")
    dated = kept.join(tweets.select("tweet_id", "created_at"), "tweet_id").withColumn(
        "date", F.to_date("created_at")
    )
    out = dated.groupBy("date", "disaster_type", "information_type").agg(F.count(F.lit(1)).alias("tweets"))
    return out.withColumn("year", F.year("date")).select("year", "date", "disaster_type", "information_type", "tweets")
