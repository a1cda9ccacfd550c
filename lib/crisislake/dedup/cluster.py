"""Near-duplicate clustering of one batch of tweets against everything seen before.

One code path serves the first run, incremental runs and the file contract: the "old" state
(texts with their shingles, LSH band keys, tweets with their cluster ids) is simply empty the
first time. Steps:

1. normalise the text; tweets with the same normalised text are *exact* duplicates and share one
   text node (``norm_hash``); empty texts get no text node and stay singletons;
2. MinHash/LSH only for texts not seen before (one pandas UDF per distinct text);
3. candidate text pairs share a band key (new x new, new x old); buckets larger than
   ``max_bucket`` are linked as a star to their smallest member instead of all pairs;
4. candidates are verified by the exact Jaccard of their shingle sets;
5. graph = tweet -> its text's representative, verified text pairs, retweet -> original; old
   tweets enter the graph as their existing cluster id, so connected components over the batch
   alone re-use old clusters and reveal merges;
6. each component's canonical is its earliest tweet (event time, then id); rows of new tweets and
   of every old cluster the batch touched are (re)assigned; merges and re-keys are reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake.dedup.components import connected_components
from crisislake.dedup.minhash import LshParams, jaccard, with_signature
from crisislake.dedup.normalize import normalize_text

SNOWFLAKE_EPOCH_MS = 1288834974657

TEXT_SCHEMA = T.StructType([
    T.StructField("norm_hash", T.LongType(), False),
    T.StructField("rep_node", T.LongType(), False),
    T.StructField("shingles", T.ArrayType(T.LongType()), True),
])
BAND_SCHEMA = T.StructType([
    T.StructField("band", T.IntegerType(), False),
    T.StructField("band_key", T.LongType(), False),
    T.StructField("norm_hash", T.LongType(), False),
])
OLD_TWEET_SCHEMA = T.StructType([
    T.StructField("node", T.LongType(), False),
    T.StructField("norm_hash", T.LongType(), True),
    T.StructField("event_ms", T.LongType(), True),
    T.StructField("cluster_id", T.LongType(), False),
])


@dataclass
class DedupState:
    """What earlier runs left behind (all empty on the first run)."""

    texts: DataFrame       # TEXT_SCHEMA
    bands: DataFrame       # BAND_SCHEMA
    tweets: DataFrame      # OLD_TWEET_SCHEMA

    @classmethod
    def empty(cls, spark: SparkSession) -> DedupState:
        return cls(
            texts=spark.createDataFrame([], TEXT_SCHEMA),
            bands=spark.createDataFrame([], BAND_SCHEMA),
            tweets=spark.createDataFrame([], OLD_TWEET_SCHEMA),
        )


@dataclass
class DedupResult:
    assignments: DataFrame  # node, cluster_id, is_canonical, cluster_size, similarity_to_canonical
    merges: DataFrame       # cluster_id (old), merged_into, reason
    new_texts: DataFrame    # TEXT_SCHEMA rows to persist
    new_bands: DataFrame    # BAND_SCHEMA rows to persist
    new_tweets: DataFrame   # node, norm_hash, event_ms
    text_edges: DataFrame   # a, b, similarity (verified text pairs)


def snowflake_ms(id_col: str) -> F.Column:
    """Creation time (epoch ms) encoded in a Twitter snowflake id (ids after Nov 2010)."""
    return F.shiftright(F.col(id_col).cast("long"), 22) + F.lit(SNOWFLAKE_EPOCH_MS)


def with_norm_text(text_col: str = "text"):
    """Transform: ``norm_text`` (normalised, never null) and ``norm_hash`` (null for empty text)."""

    def inner(df: DataFrame) -> DataFrame:
        return df.withColumn("norm_text", normalize_text(F.col(text_col))).withColumn(
            "norm_hash", F.when(F.col("norm_text") != "", F.xxhash64("norm_text"))
        )

    return inner


def _candidate_pairs(new_bands: DataFrame, old_bands: DataFrame, max_bucket: int) -> DataFrame:
    """Distinct text pairs ``(h1 < h2)`` sharing a band key, at least one of them new."""
    all_bands = new_bands.withColumn("is_new", F.lit(True)).unionByName(
        old_bands.withColumn("is_new", F.lit(False))
    )
    keys = new_bands.select("band", "band_key").distinct()
    # Only buckets a new text falls into matter; old-only buckets were resolved by earlier runs.
    relevant = all_bands.join(keys, ["band", "band_key"], "left_semi")
    bucket = Window.partitionBy("band", "band_key")
    sized = relevant.withColumn("bucket_size", F.count(F.lit(1)).over(bucket)).withColumn(
        "bucket_min", F.min("norm_hash").over(bucket)
    )
    small = sized.where(F.col("bucket_size") <= max_bucket)
    x, y = small.alias("x"), small.alias("y")
    pairs = x.join(y, ["band", "band_key"]).where(
        (F.col("x.norm_hash") < F.col("y.norm_hash")) & (F.col("x.is_new") | F.col("y.is_new"))
    ).select(F.col("x.norm_hash").alias("h1"), F.col("y.norm_hash").alias("h2"))
    # A huge bucket (a very common band) would be quadratic; its new members go to its minimum.
    stars = sized.where((F.col("bucket_size") > max_bucket) & F.col("is_new")).where(
        F.col("norm_hash") != F.col("bucket_min")
    ).select(F.least("norm_hash", "bucket_min").alias("h1"), F.greatest("norm_hash", "bucket_min").alias("h2"))
    return pairs.unionByName(stars).distinct()


def _verified_edges(pairs: DataFrame, texts: DataFrame, threshold: float) -> DataFrame:
    """Candidate pairs whose exact shingle Jaccard is >= threshold: ``a, b, similarity``."""
    left = texts.select(F.col("norm_hash").alias("h1"), F.col("shingles").alias("s1"))
    right = texts.select(F.col("norm_hash").alias("h2"), F.col("shingles").alias("s2"))
    return (
        pairs.join(left, "h1").join(right, "h2")
        .withColumn("similarity", jaccard(F.col("s1"), F.col("s2")))
        .where(F.col("similarity") >= F.lit(threshold))
        .select(F.col("h1").alias("a"), F.col("h2").alias("b"), "similarity")
    )


def cluster_batch(
    batch: DataFrame,
    state: DedupState,
    params: LshParams,
    text_col: str = "text",
    link_col: Optional[str] = None,
) -> DedupResult:
    """Cluster ``batch`` (``node`` long unique, text, ``event_ms`` long, optional link column)
    against ``state``. Lazy: nothing runs until the caller writes or counts, except the
    connected-components rounds and the signature UDF (cached once per distinct new text).
    """

    link = F.col(link_col).cast("long") if link_col else F.lit(None).cast("long")
    tweets = batch.select(
        F.col("node").cast("long").alias("node"), F.col(text_col).alias("text"),
        F.col("event_ms").cast("long").alias("event_ms"), link.alias("link_to"),
    ).transform(with_norm_text("text"))

    # 1-2. one text node per distinct normalised text not seen before; signatures only for those.
    fresh = (
        tweets.where(F.col("norm_hash").isNotNull())
        .groupBy("norm_hash").agg(F.min("node").alias("rep_node"), F.first("norm_text").alias("norm_text"))
        .join(state.texts.select("norm_hash"), "norm_hash", "left_anti")
    )
    # Spark decision: the UDF is the expensive part; checkpoint so later joins never re-run it.
    signed = fresh.transform(with_signature(params, "norm_text")).localCheckpoint(eager=True)
    new_texts = signed.select("norm_hash", "rep_node", "shingles")
    new_bands = signed.select("norm_hash", F.posexplode("band_keys").alias("band", "band_key")).select(
        F.col("band").cast("int"), "band_key", "norm_hash"
    )

    # 3-4. candidates and exact verification.
    pairs = _candidate_pairs(new_bands, state.bands, params.max_bucket)
    texts = new_texts.unionByName(state.texts.select(*TEXT_SCHEMA.fieldNames()))
    involved = pairs.select(F.col("h1").alias("norm_hash")).union(pairs.select(F.col("h2").alias("norm_hash"))).distinct()
    text_edges = _verified_edges(pairs, texts.join(involved, "norm_hash", "left_semi"), params.threshold)
    text_edges = text_edges.localCheckpoint(eager=True)

    # 5. the tweet graph; old tweets appear as their cluster id.
    reps = texts.select("norm_hash", "rep_node")
    old_cluster = state.tweets.select(F.col("node").alias("old_node"), "cluster_id")

    def as_cluster(col: str) -> F.Column:
        return F.coalesce(F.col(f"{col}_cluster"), F.col(col))

    member_edges = tweets.where(F.col("norm_hash").isNotNull()).join(reps, "norm_hash").select(
        F.col("node").alias("src"), F.col("rep_node").alias("dst")
    )
    pair_edges = (
        text_edges.join(reps.withColumnRenamed("norm_hash", "a").withColumnRenamed("rep_node", "src"), "a")
        .join(reps.withColumnRenamed("norm_hash", "b").withColumnRenamed("rep_node", "dst"), "b")
        .select("src", "dst")
    )
    known = tweets.select(F.col("node").alias("dst")).union(state.tweets.select(F.col("node").alias("dst")))
    link_edges = tweets.where(F.col("link_to").isNotNull()).select(
        F.col("node").alias("src"), F.col("link_to").alias("dst")
    ).join(known, "dst", "left_semi")
    raw_edges = member_edges.unionByName(pair_edges).unionByName(link_edges.select("src", "dst"))
    edges = (
        raw_edges
        .join(old_cluster.withColumnRenamed("old_node", "src").withColumnRenamed("cluster_id", "src_cluster"), "src", "left")
        .join(old_cluster.withColumnRenamed("old_node", "dst").withColumnRenamed("cluster_id", "dst_cluster"), "dst", "left")
        .select(as_cluster("src").alias("src"), as_cluster("dst").alias("dst"))
    )
    components = connected_components(edges)

    # 6. canonical per component: earliest among new tweets and old clusters' canonicals.
    new_nodes = tweets.select("node", "event_ms").join(components, "node", "left").withColumn(
        "component", F.coalesce("component", "node")
    ).withColumn("old_cluster", F.lit(None).cast("long"))
    old_canon = state.tweets.where(F.col("node") == F.col("cluster_id")).select("node", "event_ms")
    old_nodes = components.join(old_canon, "node").select(
        "node", "event_ms", "component", F.col("node").alias("old_cluster")
    )
    members = new_nodes.unionByName(old_nodes)
    order = Window.partitionBy("component").orderBy(F.col("event_ms").asc_nulls_last(), F.col("node").asc())
    canon = members.withColumn("cluster_id", F.first("node").over(order)).withColumn(
        "n_old", F.count("old_cluster").over(Window.partitionBy("component"))
    ).localCheckpoint(eager=True)
    merges = canon.where(F.col("old_cluster").isNotNull() & (F.col("old_cluster") != F.col("cluster_id"))).select(
        F.col("old_cluster").alias("cluster_id"), F.col("cluster_id").alias("merged_into"),
        F.when(F.col("n_old") > 1, F.lit("merged")).otherwise(F.lit("rekeyed_earlier_tweet")).alias("reason"),
    )
    remap = canon.where(F.col("old_cluster").isNotNull()).select(
        F.col("old_cluster").alias("cluster_id"), F.col("cluster_id").alias("new_cluster_id")
    )
    touched_old = state.tweets.join(remap, "cluster_id").select(
        "node", "norm_hash", F.col("new_cluster_id").alias("cluster_id")
    )
    fresh_rows = canon.where(F.col("old_cluster").isNull()).select("node", "cluster_id").join(
        tweets.select("node", "norm_hash"), "node"
    )
    rows = fresh_rows.select("node", "norm_hash", "cluster_id").unionByName(touched_old)
    shingles = texts.select("norm_hash", "shingles")
    with_sh = rows.join(shingles, "norm_hash", "left").withColumn(
        "shingles", F.coalesce("shingles", F.array().cast("array<long>"))
    )
    canon_sh = with_sh.where(F.col("node") == F.col("cluster_id")).select(
        "cluster_id", F.col("shingles").alias("canon_shingles")
    )
    assignments = (
        with_sh.join(canon_sh, "cluster_id", "left")
        .withColumn("cluster_size", F.count(F.lit(1)).over(Window.partitionBy("cluster_id")))
        .select(
            "node", "cluster_id", (F.col("node") == F.col("cluster_id")).alias("is_canonical"),
            F.col("cluster_size").cast("long"),
            F.when(F.col("node") == F.col("cluster_id"), F.lit(1.0))
            .otherwise(jaccard(F.col("shingles"), F.coalesce("canon_shingles", F.array().cast("array<long>"))))
            .alias("similarity_to_canonical"),
        )
    )
    new_tweets = tweets.select("node", "norm_hash", "event_ms")
    return DedupResult(assignments, merges, new_texts, new_bands, new_tweets, text_edges)
