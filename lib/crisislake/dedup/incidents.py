"""Group tweets into real-world incidents: word overlap + a time window + place when known.

Two tweets are linked when, within ``window_hours`` of each other (tweet time; the snowflake id
when there is no ``created_at``), their sets of content words (lower case, links removed,
mentions and hashtags kept, Spark ML's English stop words and words under 3 characters dropped) have a
Jaccard of at least ``min_jaccard``, and their places do not disagree (a place is the tweet's
``place_name`` or a "City, ST" mention in its text; unknown places never veto). Near-duplicate
clusters from ``dedup`` are linked whole. Incidents are the connected components.

Candidates come from MinHash/LSH over the word sets (``choose_bands(min_jaccard)``, one band per
row at 0.2), keyed also by time bucket so only tweets within one window are compared.
Tuned on 2020PB (see ``bench/bench_incidents.py`` and the README, "Incidents"): 0.2 and 3 h.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crisislake.dedup.components import connected_components
from crisislake.dedup.minhash import choose_bands, jaccard

PLACE_PATTERN = r"([A-Z][a-zA-Z.]+(?: [A-Z][a-zA-Z.]+)*), ?([A-Z]{2})\b"


@dataclass(frozen=True)
class IncidentParams:
    min_jaccard: float = 0.2
    window_hours: float = 3.0
    max_perm: int = 64
    max_bucket: int = 500

    @property
    def window_ms(self) -> int:
        return int(self.window_hours * 3600 * 1000)


def _stop_words() -> list:
    """Spark ML's English stop words (shipped with Spark, so nothing extra to install on EMR)."""
    from pyspark.ml.feature import StopWordsRemover

    return sorted(set(StopWordsRemover.loadDefaultStopWords("english")))


def content_words(text: Column) -> Column:
    """Distinct hashed content words of a tweet (array<long>, sorted)."""
    cleaned = F.regexp_replace(F.lower(F.coalesce(text, F.lit(""))), r"(https?://|www\.)[^ \t\n\r]*", " ")
    tokens = F.filter(F.split(cleaned, r"[^#@a-z0-9_']+"), lambda w: F.length(w) > 2)
    tokens = F.array_except(F.array_distinct(tokens), F.array(*[F.lit(w) for w in _stop_words()]))
    return F.array_sort(F.transform(tokens, lambda w: F.xxhash64(w)))


def text_place(text: Column) -> Column:
    """A "City, ST" place mentioned in the text, lower-cased (null when none).

    This is the 2020PB reporting convention (US city, two-letter state); elsewhere the tweet's
    own ``place_name`` is used first.
    """
    city = F.regexp_extract(F.coalesce(text, F.lit("")), PLACE_PATTERN, 1)
    state = F.regexp_extract(F.coalesce(text, F.lit("")), PLACE_PATTERN, 2)
    return F.when(city != "", F.lower(F.concat_ws(", ", city, state)))


def with_incident_features(text_col: str = "text", place_col: Optional[str] = None):
    """Transform: ``words`` (hashed content words) and ``place`` (given, else from the text)."""

    def inner(df: DataFrame) -> DataFrame:
        given = F.lower(F.trim(F.col(place_col))) if place_col else F.lit(None).cast("string")
        return df.withColumn("words", content_words(F.col(text_col))).withColumn(
            "place", F.coalesce(F.when(given != "", given), text_place(F.col(text_col)))
        )

    return inner


def _band_keys(params: IncidentParams) -> Column:
    """MinHash over word sets in Spark SQL: one seeded xxhash64 per permutation, min per tweet."""
    bands, rows = choose_bands(params.min_jaccard, params.max_perm)
    def seeded(k: int):
        # a one-argument lambda: F.transform treats a two-argument one as (element, index)
        return lambda w: F.xxhash64(w, F.lit(k))

    perms = [F.array_min(F.transform("words", seeded(k))) for k in range(bands * rows)]
    keys = [F.xxhash64(F.lit(b), *perms[b * rows:(b + 1) * rows]) for b in range(bands)]
    return F.when(F.size("words") > 0, F.array(*keys)).otherwise(F.array().cast("array<long>"))


def incident_edges(tweets: DataFrame, params: IncidentParams) -> DataFrame:
    """``src, dst`` pairs of tweets reporting the same incident (``node, event_ms, words, place``)."""
    keyed = tweets.withColumn("bucket", F.floor(F.col("event_ms") / F.lit(params.window_ms))).select(
        "node", "event_ms", "words", "place", "bucket", F.posexplode(_band_keys(params)).alias("band", "key")
    )
    left = keyed.select("node", "bucket", "band", "key")
    # the right side also sits in the neighbouring buckets, so pairs within one window meet
    right = keyed.select(
        F.col("node").alias("other"), F.explode(F.array(F.col("bucket") - 1, F.col("bucket"), F.col("bucket") + 1)).alias("bucket"),
        "band", "key",
    )
    by_key = Window.partitionBy("band", "key", "bucket")
    left = left.withColumn("n", F.count(F.lit(1)).over(by_key)).where(F.col("n") <= params.max_bucket).drop("n")
    pairs = left.join(right, ["band", "key", "bucket"]).where(F.col("node") < F.col("other")).select(
        "node", "other"
    ).distinct()
    a = tweets.select("node", F.col("event_ms").alias("t1"), F.col("words").alias("w1"), F.col("place").alias("p1"))
    b = tweets.select(F.col("node").alias("other"), F.col("event_ms").alias("t2"), F.col("words").alias("w2"),
                      F.col("place").alias("p2"))
    return (
        pairs.join(a, "node").join(b, "other")
        .where(F.abs(F.col("t1") - F.col("t2")) <= params.window_ms)
        .where(F.col("p1").isNull() | F.col("p2").isNull() | (F.col("p1") == F.col("p2")))
        .where(jaccard(F.col("w1"), F.col("w2")) >= params.min_jaccard)
        .select(F.col("node").alias("src"), F.col("other").alias("dst"))
    )


def assign_incidents(tweets: DataFrame, params: IncidentParams, extra_edges: Optional[DataFrame] = None) -> DataFrame:
    """``node, component`` for every tweet (``node, event_ms, words, place``); a tweet in no edge
    is its own incident. ``extra_edges`` (``src, dst``), e.g. near-duplicate clusters, are added."""
    edges = incident_edges(tweets, params)
    if extra_edges is not None:
        edges = edges.unionByName(extra_edges.select("src", "dst"))
    components = connected_components(edges)
    return tweets.select("node").join(components, "node", "left").select(
        "node", F.coalesce("component", "node").alias("component")
    )


def summarise_incidents(members: DataFrame) -> DataFrame:
    """One row per incident from ``incident_id, node, event_ms, text, place, labels``."""
    earliest = Window.partitionBy("incident_id").orderBy(F.col("event_ms").asc_nulls_last(), "node")
    place_counts = members.where(F.col("place").isNotNull()).groupBy("incident_id", "place").count()
    top_place = place_counts.withColumn(
        "r", F.row_number().over(Window.partitionBy("incident_id").orderBy(F.desc("count"), "place"))
    ).where("r = 1").select("incident_id", "place")
    return (
        members.withColumn("representative_text", F.first("text").over(earliest))
        .groupBy("incident_id")
        .agg(
            F.timestamp_millis(F.min("event_ms")).alias("first_seen"),
            F.timestamp_millis(F.max("event_ms")).alias("last_seen"),
            F.count(F.lit(1)).cast("long").alias("n_reports"),
            F.first("representative_text").alias("representative_text"),
            F.array_sort(F.array_distinct(F.flatten(F.collect_list(F.coalesce("labels", F.array().cast("array<string>")))))).alias("labels"),
        )
        .join(top_place, "incident_id", "left")
        .select("incident_id", "first_seen", "last_seen", "n_reports", "representative_text", "place", "labels")
    )
