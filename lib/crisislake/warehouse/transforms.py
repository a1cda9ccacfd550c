"""Pure transforms from lake tables to warehouse tables (``DataFrame -> DataFrame``).

Each ``build_*`` returns rows in the exact column order and Spark types of the model
(:func:`conform_to_model`), so what the export writes is what the DDL declares. Optional
enriched inputs that do not exist yet arrive as empty frames with their contract schema and show
up as NULL columns, never as a crash.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Optional, Sequence, Tuple

import pandas as pd  # the type hints of the pandas UDF below name it
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from crisislake.pseudonym import pseudonymise_text
from crisislake.warehouse import model as m

LABEL_TASKS: Tuple[str, ...] = ("relevance", "disaster_type", "police_force", "force_rank", "information_type")

DISASTER_TYPES: Tuple[Tuple[str, str, str], ...] = (
    ("earthquake", "natural", "Earthquake or aftershock"),
    ("flood", "natural", "Flood, flash flood or storm surge"),
    ("hurricane", "natural", "Hurricane, typhoon or tropical cyclone"),
    ("wildfire", "natural", "Wildfire or bushfire"),
    ("tornado", "natural", "Tornado"),
    ("explosion", "human-made", "Explosion (industrial, gas, unknown cause)"),
    ("bombing", "human-made", "Bombing or attack with explosives"),
    ("shooting", "human-made", "Shooting"),
    ("transport_accident", "human-made", "Rail, road, air or sea accident"),
    ("building_collapse", "human-made", "Building or structure collapse"),
    ("other", "other", "Another kind of crisis"),
)


# ---- Column helpers -----------------------------------------------------------------------

def date_key(col: Column) -> Column:
    """``yyyymmdd`` as an integer (the ``dim_date`` key) of a date or timestamp column (UTC)."""
    return F.date_format(col, "yyyyMMdd").cast("int")


def location_key(country: Column, admin1: Column) -> Column:
    """``lower(country)|lower(admin1)``; NULL when the country is unknown."""
    country_norm = F.lower(F.trim(country))
    return F.when(
        country.isNotNull() & (country_norm != ""),
        F.concat_ws("|", country_norm, F.coalesce(F.lower(F.trim(admin1)), F.lit(""))),
    )


def truncate_utf8(col: Column, max_bytes: int) -> Column:
    """Cut a string to at most ``max_bytes`` UTF-8 bytes (Redshift VARCHAR lengths are bytes).

    Strings that fit are untouched. Longer ones are cut at the byte limit; a character split by
    the cut decodes to U+FFFD, which is then dropped, so the result is valid and never longer.
    """
    as_bytes = F.encode(col, "UTF-8")
    cut = F.regexp_replace(F.decode(F.substring(as_bytes, 1, max_bytes), "UTF-8"), "\uFFFD+$", "")
    return F.when(F.octet_length(col) <= max_bytes, col).otherwise(cut)


def hmac_sha256_hex(col: Column, key: bytes) -> Column:
    """Hex HMAC-SHA256 of ``col`` (as its UTF-8 string) under ``key``, computed in the JVM.

    HMAC(K, m) = SHA256((K0 xor opad) || SHA256((K0 xor ipad) || m)) with K0 the key padded to
    the 64-byte block; built from Spark's ``sha2``/``unhex``/``concat`` so no Python UDF runs.
    """
    block = 64
    k0 = hashlib.sha256(key).digest() if len(key) > block else key
    k0 = k0.ljust(block, b"\x00")
    ipad = bytearray(b ^ 0x36 for b in k0)
    opad = bytearray(b ^ 0x5C for b in k0)
    message = F.encode(col.cast("string"), "UTF-8")
    inner = F.unhex(F.sha2(F.concat(F.lit(ipad), message), 256))
    return F.when(col.isNotNull(), F.sha2(F.concat(F.lit(opad), inner), 256))


def _cast(col: Column, column: m.Column) -> Column:
    out = col.cast(column.type.spark())
    if column.type.kind == "varchar":
        out = truncate_utf8(out, column.type.length)
    elif column.type.kind == "decimal":
        out = F.round(col.cast("double"), column.type.scale).cast(column.type.spark())
    return out


def conform_to_model(table: m.Table) -> Callable[[DataFrame], DataFrame]:
    """Select ``table``'s columns in model order, cast to the model types (strings cut to fit)."""

    def inner(df: DataFrame) -> DataFrame:
        return df.select([_cast(F.col(c.name), c).alias(c.name) for c in table.columns])

    return inner


# The flag column's name must not be a column of any table (review_queue has a ``reason``).
VIOLATION = "_not_null_violation"


def with_not_null_violations(df: DataFrame, table: m.Table) -> DataFrame:
    """Add :data:`VIOLATION`: NULL when the row fits ``table``, else which NOT NULL columns are NULL."""
    required = [c.name for c in table.columns if not c.nullable]
    missing = F.concat_ws(",", *[F.when(F.col(c).isNull(), F.lit(c)) for c in required]) if required else F.lit("")
    return df.withColumn(
        VIOLATION,
        F.when(missing != "", F.concat(F.lit(f"{table.name}: NULL in NOT NULL column(s) "), missing)),
    )


def split_not_null(df: DataFrame, table: m.Table) -> Tuple[DataFrame, DataFrame]:
    """(rows the table accepts, rows with a NULL in a NOT NULL column + ``reason``)."""
    flagged = with_not_null_violations(df, table)
    return (flagged.filter(F.col(VIOLATION).isNull()).drop(VIOLATION),
            flagged.filter(F.col(VIOLATION).isNotNull()).withColumnRenamed(VIOLATION, "reason"))


# ---- Facts --------------------------------------------------------------------------------

def latest_labels(labels: DataFrame) -> DataFrame:
    """One row per tweet with ``<task>`` and ``<task>_confidence`` for each task in LABEL_TASKS.

    Where a tweet has labels from several model versions, the latest ``labelled_at`` wins (ties:
    the higher model_version), so a re-classification replaces the old label.
    """
    w = Window.partitionBy("tweet_id", "task").orderBy(F.col("labelled_at").desc_nulls_last(),
                                                      F.col("model_version").desc_nulls_last())
    latest = labels.filter(F.col("task").isin(*LABEL_TASKS)).withColumn("_rank", F.row_number().over(w)).filter("_rank = 1")
    aggs = []
    for task in LABEL_TASKS:
        is_task = F.col("task") == task
        aggs.append(F.max(F.when(is_task, F.col("label"))).alias(task))
        aggs.append(F.max(F.when(is_task, F.col("confidence"))).alias(f"{task}_confidence"))
    return latest.groupBy("tweet_id").agg(*aggs)


def build_fact_tweet(
    tweets: DataFrame,
    labels: DataFrame,
    review_queue: DataFrame,
    clusters: DataFrame,
    tweet_incidents: DataFrame,
    pseudonym_key: Optional[bytes],
    run_id: str,
) -> DataFrame:
    """``fact_tweet``: curated tweets + latest labels per task, review flag, cluster, incident.

    ``author_pseudonym`` is HMAC-SHA256(key, author_id); without a key it is NULL. Handles in the
    text are pseudonymised (:func:`pseudonymise_handles`): raw author ids and handles never reach
    the warehouse.
    """
    review = review_queue.select("tweet_id").distinct().withColumn("needs_review", F.lit(True))
    cluster = clusters.select("tweet_id", "cluster_id", "is_canonical").dropDuplicates(["tweet_id"])
    incident = tweet_incidents.select("tweet_id", "incident_id").dropDuplicates(["tweet_id"])
    author = hmac_sha256_hex(F.col("author_id"), pseudonym_key) if pseudonym_key else F.lit(None)
    df = (
        tweets
        .join(latest_labels(labels), "tweet_id", "left")
        .join(review, "tweet_id", "left")
        .join(cluster, "tweet_id", "left")
        .join(incident, "tweet_id", "left")
        .withColumn("date_key", date_key(F.col("created_at")))
        .withColumn("author_pseudonym", author)
        .withColumn("text", pseudonymise_handles(F.col("text"), pseudonym_key))
        .withColumn("location_key", location_key(F.col("place_country"), F.lit(None)))
        .withColumn("needs_review", F.coalesce(F.col("needs_review"), F.lit(False)))
        .withColumn("run_id", F.lit(run_id))
    )
    return df.transform(conform_to_model(m.FACT_TWEET))


def build_fact_conflict_event(events: DataFrame, run_id: str) -> DataFrame:
    """``fact_conflict_event``: curated ACLED events, deleted ones kept with ``is_deleted``."""
    df = (
        events
        .withColumn("date_key", date_key(F.col("event_date")))
        .withColumn("location_key", location_key(F.col("country"), F.col("admin1")))
        .withColumn("acled_timestamp", F.col("timestamp"))
        .withColumn("is_deleted", F.coalesce(F.col("is_deleted"), F.lit(False)))
        .withColumn("run_id", F.lit(run_id))
    )
    return df.transform(conform_to_model(m.FACT_CONFLICT_EVENT))


def pseudonymise_handles(text: Column, key: Optional[bytes]) -> Column:
    """``text`` with every ``@handle`` and ``twitter.com/handle`` replaced by its pseudonym.

    The same function as the API and the report (:func:`crisislake.pseudonym.pseudonymise_text`,
    run as a pandas UDF), so a handle has one pseudonym wherever it is shown; already pseudonymised
    text is left as it is."""
    @F.pandas_udf(StringType())
    def hide(texts: pd.Series) -> pd.Series:
        return texts.map(lambda t: pseudonymise_text(t, key) if isinstance(t, str) else None)

    return hide(text)


def _joined(col: str) -> Column:
    """A lake array as the warehouse's comma-separated string; NULL when empty."""
    return F.when(F.size(F.col(col)) > 0, F.array_join(F.array_sort(F.col(col)), ","))


def build_fact_incident(incidents: DataFrame, pseudonym_key: Optional[bytes], run_id: str) -> DataFrame:
    """``fact_incident``: incidents with place, force rank, corroboration; arrays as sorted
    comma-separated strings; handles in the representative text pseudonymised."""
    df = (
        incidents
        .withColumn("date_key", date_key(F.col("first_seen")))
        .withColumn("labels", F.array_join(F.array_sort(F.col("labels")), ","))
        .withColumn("acled_event_ids", _joined("acled_event_ids"))
        .withColumn("reported_incident_ids", _joined("reported_incident_ids"))
        .withColumn("corroborated", F.coalesce(F.col("corroborated"), F.lit(False)))
        .withColumn("representative_text", pseudonymise_handles(F.col("representative_text"), pseudonym_key))
        .withColumn("run_id", F.lit(run_id))
    )
    return df.transform(conform_to_model(m.FACT_INCIDENT))


def build_review_queue(review_queue: DataFrame, run_id: str) -> DataFrame:
    """``review_queue``: ``enriched/review_queue`` as it is (one row per tweet, task, model version)."""
    return review_queue.withColumn("run_id", F.lit(run_id)).transform(conform_to_model(m.REVIEW_QUEUE))


def build_bridge_incident_tweet(evidence: DataFrame, tweets: DataFrame, pseudonym_key: Optional[bytes],
                                run_id: str) -> DataFrame:
    """``bridge_incident_tweet``: each incident's reports, with the author pseudonymised as in
    ``fact_tweet`` (NULL without a key) and a link that carries no handle."""
    authors = tweets.select("tweet_id", "author_id").dropDuplicates(["tweet_id"])
    author = hmac_sha256_hex(F.col("author_id"), pseudonym_key) if pseudonym_key else F.lit(None)
    df = (evidence.join(authors, "tweet_id", "left")
          .withColumn("author_pseudonym", author)
          .withColumn("is_canonical", F.coalesce(F.col("is_canonical"), F.lit(False)))
          .withColumn("run_id", F.lit(run_id)))
    return df.transform(conform_to_model(m.BRIDGE_INCIDENT_TWEET))


def build_bridge_incident_corroboration(matches: DataFrame, run_id: str) -> DataFrame:
    """``bridge_incident_corroboration``: the independent records matching each incident."""
    return matches.withColumn("run_id", F.lit(run_id)).transform(conform_to_model(m.BRIDGE_INCIDENT_CORROBORATION))


# ---- Dimensions ---------------------------------------------------------------------------

def build_dim_date(date_keys: DataFrame) -> DataFrame:
    """Every day from the earliest to the latest ``date_key`` in ``date_keys`` (one column)."""
    as_date = F.to_date(F.col("date_key").cast("string"), "yyyyMMdd")
    bounds = date_keys.agg(F.min(as_date).alias("lo"), F.max(as_date).alias("hi"))
    days = bounds.select(F.explode(F.sequence("lo", "hi", F.expr("interval 1 day"))).alias("full_date"))
    df = days.select(
        date_key(F.col("full_date")).alias("date_key"),
        "full_date",
        F.year("full_date").alias("year"),
        F.quarter("full_date").alias("quarter"),
        F.month("full_date").alias("month"),
        F.dayofmonth("full_date").alias("day"),
        F.weekofyear("full_date").alias("iso_week"),
        ((F.dayofweek("full_date") + 5) % 7 + 1).alias("day_of_week"),
        F.dayofweek("full_date").isin(1, 7).alias("is_weekend"),
    )
    return df.transform(conform_to_model(m.DIM_DATE))


def build_dim_location(fact_tweet: DataFrame, fact_conflict_event: DataFrame, admin_pcodes: DataFrame, run_id: str) -> DataFrame:
    """One row per ``location_key`` seen in the facts, with ISO3 and admin-1 P-code where known.

    ACLED names countries and admin-1 areas but carries no ISO3 or P-code, and admin-1 names
    repeat across countries ("Central", "Eastern"). So each country's ISO3 is the one whose
    admin-1 names (``curated/admin_pcodes``, level 1) match most of that country's admin-1 names
    in the events; the P-code is then looked up by (ISO3, admin-1 name). Unmatched stays NULL.
    """
    keys = (
        fact_conflict_event.select("location_key", "country", "admin1")
        .unionByName(fact_tweet.select("location_key", F.col("place_country").alias("country"),
                                       F.lit(None).cast("string").alias("admin1")))
        .filter(F.col("location_key").isNotNull())
        .groupBy("location_key")
        .agg(F.first("country", ignorenulls=True).alias("country"), F.first("admin1", ignorenulls=True).alias("admin1"))
        .withColumn("_country", F.lower(F.trim("country")))
        .withColumn("_admin1", F.lower(F.trim("admin1")))
    )
    level1 = (
        admin_pcodes.filter(F.col("admin_level") == 1)
        .select(F.col("location_code").alias("_iso3"), F.col("p_code").alias("_pcode"),
                F.lower(F.trim("name")).alias("_admin1"))
        .dropDuplicates(["_iso3", "_admin1"])
    )
    votes = (
        keys.filter(F.col("_admin1").isNotNull()).join(level1, "_admin1")
        .groupBy("_country", "_iso3").agg(F.count(F.lit(1)).alias("_votes"))
    )
    best = Window.partitionBy("_country").orderBy(F.col("_votes").desc(), F.col("_iso3"))
    country_iso3 = votes.withColumn("_rank", F.row_number().over(best)).filter("_rank = 1").select("_country", "_iso3")
    df = (
        keys.join(country_iso3, "_country", "left")
        .join(level1, ["_iso3", "_admin1"], "left")
        .withColumn("iso3", F.col("_iso3"))
        .withColumn("admin1_pcode", F.col("_pcode"))
        .withColumn("run_id", F.lit(run_id))
    )
    return df.transform(conform_to_model(m.DIM_LOCATION))


def build_dim_event_type(events: DataFrame, run_id: str) -> DataFrame:
    """ACLED's event/sub-event types seen in the events (NULLs become ``unspecified``)."""
    df = (
        events
        .select(F.coalesce("event_type", F.lit("unspecified")).alias("event_type"),
                F.coalesce("sub_event_type", F.lit("unspecified")).alias("sub_event_type"),
                "disorder_type")
        .groupBy("event_type", "sub_event_type")
        .agg(F.max("disorder_type").alias("disorder_type"))
        .withColumn("run_id", F.lit(run_id))
    )
    return df.transform(conform_to_model(m.DIM_EVENT_TYPE))


def build_dim_disaster_type(disaster_types: DataFrame, run_id: str) -> DataFrame:
    """The label vocabulary of the ``disaster_type`` task (rows of :data:`DISASTER_TYPES`)."""
    return disaster_types.withColumn("run_id", F.lit(run_id)).transform(conform_to_model(m.DIM_DISASTER_TYPE))


def all_date_keys(frames: Sequence[DataFrame]) -> DataFrame:
    """The ``date_key`` column of every frame, unioned (input of :func:`build_dim_date`)."""
    out = None
    for df in frames:
        part = df.select("date_key")
        out = part if out is None else out.unionByName(part)
    return out
