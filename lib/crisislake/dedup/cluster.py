"""Near-duplicate clustering of one batch of tweets against everything seen before.

One code path serves the first run, incremental runs and the file contract: the "old" state
(texts with their shingles, LSH band keys, tweets with their cluster ids) is simply empty the
first time. :func:`cluster_batch` runs these stages, one function each:

1. :func:`normalised_tweets`: normalise the text; tweets with the same normalised text are *exact*
   duplicates and share one text node (``norm_hash``); empty texts get no text node and stay
   singletons;
2. :func:`signed_texts`: MinHash/LSH only for texts not seen before (one pandas UDF per distinct
   text), with each text's truncation flag and numbers;
3. :func:`candidate_pairs`: text pairs sharing a band key (new x new, new x old); the prefix key
   keys pair a truncated text with the texts starting with the same words; buckets larger than
   ``max_bucket`` are linked as a star to their smallest member instead of all pairs;
4. :func:`verified_pairs`: a candidate is kept (as state: these are the neighbourhoods) when its
   Jaccard is >= ``params.threshold`` or its truncated end is contained in the other at >=
   ``params.containment``, and the two texts do not state different numbers;
5. :func:`text_edges`: a verified pair is an edge only at ``params.link_threshold`` or above (or
   contained) and when its ends' neighbourhoods mostly coincide (:func:`with_support` >=
   ``params.min_support``): a pair whose ends see different tweets around them is a bridge
   between two groups, and connected components would put the two groups, far apart, into one
   cluster;
6. :func:`graph_edges` + connected components: tweet -> its text's representative, edges, retweet
   -> original; old tweets enter the graph as their existing cluster id, so connected components
   over the batch alone re-use old clusters and reveal merges;
7. :func:`canonicals` and :func:`assignments`: each component's canonical is its earliest tweet
   (event time, then id); rows of new tweets and of every old cluster the batch touched are
   (re)assigned; merges and re-keys are reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake.dedup.components import connected_components
from crisislake.dedup.minhash import LshParams, containment, jaccard, numbers_conflict, with_signature
from crisislake.dedup.normalize import normalize_text

TEXT_SCHEMA = T.StructType([
    T.StructField("norm_hash", T.LongType(), False),
    T.StructField("rep_node", T.LongType(), False),
    T.StructField("shingles", T.ArrayType(T.LongType()), True),
    T.StructField("truncated", T.BooleanType(), True),
    T.StructField("numbers", T.ArrayType(T.LongType()), True),
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
PAIR_SCHEMA = T.StructType([
    T.StructField("a", T.LongType(), False),
    T.StructField("b", T.LongType(), False),
    T.StructField("similarity", T.DoubleType(), False),
    T.StructField("contained", T.BooleanType(), True),
])


@dataclass
class DedupState:
    """What earlier runs left behind (all empty on the first run)."""

    texts: DataFrame       # TEXT_SCHEMA
    bands: DataFrame       # BAND_SCHEMA
    tweets: DataFrame      # OLD_TWEET_SCHEMA
    pairs: DataFrame       # PAIR_SCHEMA: verified text pairs (a < b)

    @classmethod
    def empty(cls, spark: SparkSession) -> DedupState:
        return cls(
            texts=spark.createDataFrame([], TEXT_SCHEMA),
            bands=spark.createDataFrame([], BAND_SCHEMA),
            tweets=spark.createDataFrame([], OLD_TWEET_SCHEMA),
            pairs=spark.createDataFrame([], PAIR_SCHEMA),
        )


@dataclass
class DedupResult:
    assignments: DataFrame  # node, cluster_id, is_canonical, cluster_size, similarity_to_canonical
    merges: DataFrame       # cluster_id (old), merged_into, reason
    new_texts: DataFrame    # TEXT_SCHEMA rows to persist
    new_bands: DataFrame    # BAND_SCHEMA rows to persist
    new_tweets: DataFrame   # node, norm_hash, event_ms
    new_pairs: DataFrame    # PAIR_SCHEMA rows to persist (verified pairs)
    text_edges: DataFrame   # a, b, similarity, contained, support (the verified pairs that became edges)


def with_norm_text(text_col: str = "text"):
    """Transform: ``norm_text`` (normalised, never null) and ``norm_hash`` (null for empty text)."""

    def inner(df: DataFrame) -> DataFrame:
        return df.withColumn("norm_text", normalize_text(F.col(text_col))).withColumn(
            "norm_hash", F.when(F.col("norm_text") != "", F.xxhash64("norm_text"))
        )

    return inner


def candidate_pairs(new_bands: DataFrame, old_bands: DataFrame, max_bucket: int, prefix_band: int) -> DataFrame:
    """Distinct text pairs ``(h1 < h2)`` sharing a band key, at least one of them new; in a prefix
    bucket (``band >= prefix_band``: ``prefix_band`` for whole texts, ``prefix_band + 1`` for
    truncated ones) at least one of them truncated.

    Spark decision: almost every bucket holds one text, so bucket sizes come first from a hash
    aggregate (partial aggregation map-side, no sort) and only the members of buckets with two or
    more texts, one of them new, go through the self-join. The band index is folded into
    ``band_key`` by the MinHash kernel (the prefix key has its own salt), so the key alone
    identifies a bucket.
    """
    def keyed(bands: DataFrame, is_new: bool) -> DataFrame:
        return bands.select("band_key", "norm_hash", F.lit(is_new).alias("is_new"),
                            (F.col("band") >= prefix_band).alias("prefix"), (F.col("band") > prefix_band).alias("cut"))

    # Only buckets a new text falls into matter; old-only buckets were resolved by earlier runs.
    old_keys = keyed(old_bands, False).join(new_bands.select("band_key"), "band_key", "left_semi")
    members = keyed(new_bands, True).unionByName(old_keys)
    buckets = members.groupBy("band_key").agg(
        F.count(F.lit(1)).alias("bucket_size"),
        F.min("norm_hash").alias("bucket_min"),
        F.max(F.col("is_new").cast("int")).alias("has_new"),
        F.max(F.col("cut").cast("int")).alias("has_cut"),
    ).where((F.col("bucket_size") > 1) & (F.col("has_new") == 1))
    shared = members.join(buckets, "band_key").where(~F.col("prefix") | (F.col("has_cut") == 1))
    small = shared.where(F.col("bucket_size") <= max_bucket).select("band_key", "norm_hash", "is_new", "prefix", "cut")
    x, y = small.alias("x"), small.alias("y")
    pairs = x.join(y, "band_key").where(
        (F.col("x.norm_hash") < F.col("y.norm_hash")) & (F.col("x.is_new") | F.col("y.is_new"))
        & (~F.col("x.prefix") | F.col("x.cut") | F.col("y.cut"))
    ).select(F.col("x.norm_hash").alias("h1"), F.col("y.norm_hash").alias("h2"))
    # A huge bucket (a very common band) would be quadratic; its new members go to its minimum.
    stars = shared.where((F.col("bucket_size") > max_bucket) & F.col("is_new") & (~F.col("prefix") | F.col("cut")))
    stars = stars.where(F.col("norm_hash") != F.col("bucket_min")).select(
        F.least("norm_hash", "bucket_min").alias("h1"), F.greatest("norm_hash", "bucket_min").alias("h2"))
    return pairs.unionByName(stars).distinct()


def verified_pairs(pairs: DataFrame, texts: DataFrame, params: LshParams) -> DataFrame:
    """Candidate pairs that are near-duplicates: ``a, b, similarity`` (exact shingle Jaccard),
    ``contained`` (a truncated end found in the other at ``params.containment`` or above);
    kept when ``similarity >= threshold`` or ``contained``, unless the two state different
    numbers (:func:`crisislake.dedup.minhash.numbers_conflict`)."""

    def side(h: str, k: str) -> DataFrame:
        return texts.select(F.col("norm_hash").alias(h), *(F.col(c).alias(f"{c}{k}") for c in
                                                           ("shingles", "truncated", "numbers")))

    contained = F.lit(False)
    if params.containment > 0:
        contained = containment(F.col("shingles1"), F.col("truncated1"), F.col("shingles2"), F.col("truncated2"),
                                params.min_contained) >= F.lit(params.containment)
    return (
        pairs.join(side("h1", "1"), "h1").join(side("h2", "2"), "h2")
        .withColumn("similarity", jaccard(F.col("shingles1"), F.col("shingles2")))
        .withColumn("contained", contained)
        .where(((F.col("similarity") >= F.lit(params.threshold)) | F.col("contained"))
               & ~numbers_conflict(F.coalesce("numbers1", F.array().cast("array<long>")),
                                   F.coalesce("numbers2", F.array().cast("array<long>"))))
        .select(F.col("h1").alias("a"), F.col("h2").alias("b"), "similarity", "contained")
    )


def with_support(neighbours: DataFrame, weights: DataFrame):
    """Transform of edges ``a, b, ...``: adds ``support``, the weighted Jaccard of the closed
    neighbourhoods of ``a`` and ``b``.

    The closed neighbourhood of a text is itself and every text it has a verified pair with in
    ``neighbours`` (``a, b``: pairs at the Jaccard threshold or above, old and new); a text weighs
    its number of tweets (``weights``: ``norm_hash, weight``; 1 when missing). ``support`` is the
    weight of the texts near both ends over the weight of the texts near either end, both ends
    included: 1.0 for a pair inside a group whose members are all near each other, low for an edge
    from a group to a text that is near other texts than the group's. Precision is counted over
    tweet pairs, so weighting by tweets makes the test strict where a bridge costs many pairs.

    Every edge must be one of the ``neighbours`` pairs (its ends are then in each other's
    neighbourhood). The caller passes only the pairs around the edges' ends: the cost is the sum,
    over edges, of the degree of their ends.

    Parameters
    ----------
    neighbours: ``a, b`` verified pairs (either order, duplicates allowed).
    weights: ``norm_hash, weight`` per text.
    """

    def inner(edges: DataFrame) -> DataFrame:
        weight = weights.select(F.col("norm_hash").alias("v"), F.col("weight").cast("double").alias("w"))
        links = neighbours.select(F.col("a").alias("u"), F.col("b").alias("v")).union(
            neighbours.select(F.col("b").alias("u"), F.col("a").alias("v"))
        )
        selves = links.select("u", F.col("u").alias("v"))
        # Spark decision: the closed adjacency (with each row's weight and the total weight of the
        # row's neighbourhood, by a window rather than an aggregate joined back) is read by both
        # sides of the common-neighbour join; one local checkpoint builds it once.
        closed = (
            links.union(selves).distinct()
            .join(weight, "v", "left").withColumn("w", F.coalesce("w", F.lit(1.0)))
            .withColumn("total", F.sum("w").over(Window.partitionBy("u")))
            .localCheckpoint(eager=True)
        )
        # Both ends are in both closed neighbourhoods, so every edge meets at least two rows here
        # (an inner join loses none) and one aggregate gives the common weight and both totals.
        keys = edges.columns
        return (
            edges.join(closed.select(F.col("u").alias("a"), F.col("v").alias("c"), "w",
                                     F.col("total").alias("total_a")), "a")
            .join(closed.select(F.col("u").alias("b"), F.col("v").alias("c"), F.col("total").alias("total_b")),
                  ["b", "c"])
            .groupBy(*keys)
            .agg(F.sum("w").alias("common"), F.first("total_a").alias("total_a"), F.first("total_b").alias("total_b"))
            .withColumn("support", F.col("common") / (F.col("total_a") + F.col("total_b") - F.col("common")))
            .select(*keys, "support")
        )

    return inner


def filter_edges(link_threshold: float, min_support: float, neighbours: DataFrame, weights: DataFrame):
    """Transform of verified pairs ``a, b, similarity[, contained]``: the pairs that become edges,
    i.e. ``similarity >= link_threshold`` (or ``contained``) and :func:`with_support` ``>= min_support`` (``support`` is
    null when ``min_support`` is 0: the test is skipped and nothing is computed)."""

    def inner(pairs: DataFrame) -> DataFrame:
        at_link = F.col("similarity") >= F.lit(link_threshold)
        linked = pairs.where(at_link | F.col("contained") if "contained" in pairs.columns else at_link)
        if min_support <= 0.0:
            return linked.withColumn("support", F.lit(None).cast("double"))
        return linked.transform(with_support(neighbours, weights)).where(F.col("support") >= F.lit(min_support))

    return inner


def normalised_tweets(batch: DataFrame, text_col: str, link_col: Optional[str]) -> DataFrame:
    """Stage 1: ``node, event_ms, link_to, norm_text, norm_hash`` per tweet of the batch.

    Spark decision: the normalised batch feeds six later plans (distinct texts, graph keys,
    canonicals, output rows); one local checkpoint runs the regular expressions once.
    """
    link = F.col(link_col).cast("long") if link_col else F.lit(None).cast("long")
    return batch.select(
        F.col("node").cast("long").alias("node"), F.col(text_col).alias("text"),
        F.col("event_ms").cast("long").alias("event_ms"), link.alias("link_to"),
    ).transform(with_norm_text("text")).drop("text").localCheckpoint(eager=True)


def signed_texts(tweets: DataFrame, old_texts: DataFrame, params: LshParams) -> Tuple[DataFrame, DataFrame]:
    """Stage 2: one text node per distinct normalised text not seen before, with its signature:
    (``new_texts`` as TEXT_SCHEMA, ``new_bands`` as BAND_SCHEMA; a truncated text's prefix key has
    band ``num_bands + 1``, a whole text's ``num_bands``: positions from ``num_bands`` on are prefix
    keys)."""
    fresh = (
        tweets.where(F.col("norm_hash").isNotNull())
        .groupBy("norm_hash").agg(F.min("node").alias("rep_node"), F.first("norm_text").alias("norm_text"))
        .join(old_texts.select("norm_hash"), "norm_hash", "left_anti")
    )
    # Spark decision: the UDF is the expensive part; checkpoint so later joins never re-run it.
    signed = fresh.transform(with_signature(params, "norm_text")).localCheckpoint(eager=True)
    new_texts = signed.select(*TEXT_SCHEMA.fieldNames())
    band = F.col("band").cast("int")
    new_bands = signed.select("norm_hash", "truncated", F.posexplode("band_keys").alias("band", "band_key")).select(
        F.when(band < params.num_bands, band).when(F.col("truncated"), F.lit(params.num_bands + 1))
        .otherwise(F.lit(params.num_bands)).alias("band"),
        "band_key", "norm_hash",
    )
    return new_texts, new_bands


def neighbourhoods(verified: DataFrame, tweets: DataFrame, state: DedupState) -> Tuple[DataFrame, DataFrame]:
    """(``neighbours``: this batch's verified pairs and the persisted ones of their ends;
    ``weights``: tweets per text, old and new, for every text of those pairs)."""
    ends = verified.select(F.col("a").alias("norm_hash")).union(verified.select(F.col("b").alias("norm_hash")))
    old_pairs = state.pairs.join(ends.withColumnRenamed("norm_hash", "a"), "a", "left_semi").unionByName(
        state.pairs.join(ends.withColumnRenamed("norm_hash", "b"), "b", "left_semi")
    )
    neighbours = verified.select("a", "b").unionByName(old_pairs.select("a", "b"))
    # every text of those pairs, including old texts that are not ends of a new pair themselves
    nodes = neighbours.select(F.col("a").alias("norm_hash")).union(neighbours.select(F.col("b").alias("norm_hash")))
    weights = (
        tweets.select("norm_hash").unionByName(state.tweets.select("norm_hash"))
        .join(nodes.distinct(), "norm_hash", "left_semi")
        .groupBy("norm_hash").agg(F.count(F.lit(1)).alias("weight"))
    )
    return neighbours, weights


def text_edges(new_texts: DataFrame, new_bands: DataFrame, tweets: DataFrame, state: DedupState,
               params: LshParams) -> Tuple[DataFrame, DataFrame, DataFrame]:
    """Stages 3-5: (``texts``: new and old text nodes, ``verified`` pairs, ``edges``)."""
    # Spark decision: the pairs feed both the text filter and the verification join; checkpointed
    # (a few bytes per pair) so the band aggregation and self-join run once, not twice.
    pairs = candidate_pairs(new_bands, state.bands, params.max_bucket, params.num_bands).localCheckpoint(eager=True)
    texts = new_texts.unionByName(state.texts.select(*TEXT_SCHEMA.fieldNames()))
    involved = pairs.select(F.col("h1").alias("norm_hash")).union(pairs.select(F.col("h2").alias("norm_hash"))).distinct()
    verified = verified_pairs(pairs, texts.join(involved, "norm_hash", "left_semi"), params).localCheckpoint(eager=True)
    neighbours, weights = neighbourhoods(verified, tweets, state)
    edges = verified.transform(
        filter_edges(params.link_threshold, params.min_support, neighbours, weights)
    ).localCheckpoint(eager=True)
    return texts, verified, edges


def _as_cluster(df: DataFrame, col: str, old_cluster: DataFrame) -> DataFrame:
    """Replace the node in ``col`` by its old cluster id when it is an old tweet."""
    lookup = old_cluster.withColumnRenamed("old_node", col).withColumnRenamed("cluster_id", f"{col}_cluster")
    return df.join(lookup, col, "left").withColumn(col, F.coalesce(F.col(f"{col}_cluster"), F.col(col))).drop(
        f"{col}_cluster"
    )


def graph_edges(tweets: DataFrame, texts: DataFrame, edges: DataFrame, state: DedupState) -> Tuple[DataFrame, DataFrame]:
    """Stage 6: (``keyed``: ``node, event_ms, link_to, key`` per new tweet, ``src, dst`` graph edges).

    Spark decision: tweets sharing a normalised text are contracted into their text's
    representative node (an exact duplicate is Jaccard 1.0), so the connected components run over
    text nodes, verified pairs and links only, not one edge per tweet. Old nodes enter as their
    cluster id, so an old cluster is a single node of the graph.
    """
    reps = texts.select("norm_hash", "rep_node")
    old_cluster = state.tweets.select(F.col("node").alias("old_node"), "cluster_id")
    # key = the node a new tweet is contracted into (its text's representative, or itself)
    keyed = _as_cluster(
        tweets.join(reps, "norm_hash", "left").select(
            "node", "event_ms", "link_to", F.coalesce("rep_node", "node").alias("key")
        ),
        "key", old_cluster,
    ).localCheckpoint(eager=True)
    pair_edges = edges.join(reps.withColumnRenamed("norm_hash", "a").withColumnRenamed("rep_node", "src"), "a").join(
        reps.withColumnRenamed("norm_hash", "b").withColumnRenamed("rep_node", "dst"), "b"
    ).select("src", "dst")
    pair_edges = _as_cluster(_as_cluster(pair_edges, "src", old_cluster), "dst", old_cluster)
    # a link to a new tweet goes to that tweet's key, to an old tweet to its cluster id
    link_targets = keyed.select(F.col("node").alias("dst"), F.col("key").alias("dst_key")).unionByName(
        old_cluster.select(F.col("old_node").alias("dst"), F.col("cluster_id").alias("dst_key"))
    )
    link_edges = keyed.where(F.col("link_to").isNotNull()).select(
        F.col("key").alias("src"), F.col("link_to").alias("dst")
    ).join(link_targets, "dst").select("src", F.col("dst_key").alias("dst"))
    return keyed, pair_edges.unionByName(link_edges)


def canonicals(keyed: DataFrame, components: DataFrame, state: DedupState) -> Tuple[DataFrame, DataFrame]:
    """Stage 7a: (``canon``: ``node, cluster_id, old_cluster`` for new tweets and touched old
    clusters' canonicals, ``merges``: ``cluster_id, merged_into, reason``). The canonical of a
    component is its earliest member among new tweets and old clusters' canonicals."""
    new_nodes = keyed.join(components.withColumnRenamed("node", "key"), "key", "left").select(
        "node", "event_ms", F.coalesce("component", "key").alias("component"),
        F.lit(None).cast("long").alias("old_cluster"),
    )
    touched = keyed.select(F.col("key").alias("node")).unionByName(components.select("node")).distinct()
    old_canon = state.tweets.where(F.col("node") == F.col("cluster_id")).select("node", "event_ms")
    old_nodes = old_canon.join(touched, "node").join(components, "node", "left").select(
        "node", "event_ms", F.coalesce("component", "node").alias("component"), F.col("node").alias("old_cluster")
    )
    order = Window.partitionBy("component").orderBy(F.col("event_ms").asc_nulls_last(), F.col("node").asc())
    canon = new_nodes.unionByName(old_nodes).withColumn("cluster_id", F.first("node").over(order)).withColumn(
        "n_old", F.count("old_cluster").over(Window.partitionBy("component"))
    ).localCheckpoint(eager=True)
    merges = canon.where(F.col("old_cluster").isNotNull() & (F.col("old_cluster") != F.col("cluster_id"))).select(
        F.col("old_cluster").alias("cluster_id"), F.col("cluster_id").alias("merged_into"),
        F.when(F.col("n_old") > 1, F.lit("merged")).otherwise(F.lit("rekeyed_earlier_tweet")).alias("reason"),
    )
    return canon.select("node", "cluster_id", "old_cluster"), merges


def assignments(canon: DataFrame, tweets: DataFrame, texts: DataFrame, state: DedupState) -> DataFrame:
    """Stage 7b: ``node, cluster_id, is_canonical, cluster_size, similarity_to_canonical`` for the
    new tweets and every tweet of an old cluster the batch touched."""
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
    empty = F.array().cast("array<long>")
    with_sh = rows.join(texts.select("norm_hash", "shingles"), "norm_hash", "left").withColumn(
        "shingles", F.coalesce("shingles", empty)
    )
    canon_sh = with_sh.where(F.col("node") == F.col("cluster_id")).select(
        "cluster_id", F.col("shingles").alias("canon_shingles")
    )
    is_canonical = F.col("node") == F.col("cluster_id")
    return (
        with_sh.join(canon_sh, "cluster_id", "left")
        .withColumn("cluster_size", F.count(F.lit(1)).over(Window.partitionBy("cluster_id")))
        .select(
            "node", "cluster_id", is_canonical.alias("is_canonical"), F.col("cluster_size").cast("long"),
            F.when(is_canonical, F.lit(1.0)).otherwise(jaccard(F.col("shingles"), F.coalesce("canon_shingles", empty)))
            .alias("similarity_to_canonical"),
        )
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
    checkpointed stages, the connected-components rounds and the signature UDF (cached once per
    distinct new text).
    """
    tweets = normalised_tweets(batch, text_col, link_col)
    new_texts, new_bands = signed_texts(tweets, state.texts, params)
    texts, verified, edges = text_edges(new_texts, new_bands, tweets, state, params)
    keyed, graph = graph_edges(tweets, texts, edges, state)
    canon, merges = canonicals(keyed, connected_components(graph), state)
    rows = assignments(canon, tweets, texts, state)
    new_tweets = tweets.select("node", "norm_hash", "event_ms")
    return DedupResult(rows, merges, new_texts, new_bands, new_tweets, verified, edges)
