"""The edge rule on hand-made pair tables: which verified pairs become edges before the
connected components (``filter_edges`` / ``with_support``)."""
import pytest
from crisislake.dedup.cluster import filter_edges, with_support
from pyspark.sql import types as T

PAIR_SCHEMA = T.StructType([
    T.StructField("a", T.LongType(), False),
    T.StructField("b", T.LongType(), False),
    T.StructField("similarity", T.DoubleType(), False),
])
WEIGHT_SCHEMA = T.StructType([T.StructField("norm_hash", T.LongType(), False), T.StructField("weight", T.LongType())])

# Two groups of three texts, all alike inside (0.9), joined by one pair 3-4 (0.8) whose ends share
# no neighbour; 7-8 an isolated pair at 0.72 (below the old 0.76 link); heavy text 10 (5 tweets)
# with 11 near it and 12 near 11 only (10-12 below the threshold: no pair).
GROUPS = [(1, 2, 0.9), (1, 3, 0.9), (2, 3, 0.9), (4, 5, 0.9), (4, 6, 0.9), (5, 6, 0.9), (3, 4, 0.8)]
ISOLATED = [(7, 8, 0.72)]
HEAVY = [(10, 11, 0.8), (11, 12, 0.8)]
WEIGHTS = [(n, 1) for n in (1, 2, 3, 4, 5, 6, 7, 8, 11, 12)] + [(10, 5)]


@pytest.fixture(scope="module")
def supported(spark):
    pairs = spark.createDataFrame(GROUPS + ISOLATED + HEAVY, PAIR_SCHEMA)
    weights = spark.createDataFrame(WEIGHTS, WEIGHT_SCHEMA)
    return {(r["a"], r["b"]): r["support"] for r in pairs.transform(with_support(pairs, weights)).collect()}


def test_bridge_between_two_groups_has_low_support(supported):
    # N[3] = {1, 2, 3, 4}, N[4] = {3, 4, 5, 6}: both {3, 4} of six texts
    assert supported[(3, 4)] == pytest.approx(2 / 6)


def test_pair_inside_a_group_has_full_or_high_support(supported):
    # N[1] = N[2] = {1, 2, 3}; N[3] adds the bridge end 4
    assert (supported[(1, 2)], supported[(1, 3)], supported[(2, 3)]) == pytest.approx((1.0, 3 / 4, 3 / 4))


def test_isolated_pair_has_support_one(supported):
    assert supported[(7, 8)] == pytest.approx(1.0)


def test_support_weighs_texts_by_their_tweets(supported):
    # N[10] = {10, 11} (6 tweets), N[11] = {10, 11, 12} (7), N[12] = {11, 12} (2)
    assert (supported[(10, 11)], supported[(11, 12)]) == pytest.approx((6 / 7, 2 / 7))


def test_bridge_is_dropped_and_group_isolated_and_heavy_edges_kept(spark):
    pairs = spark.createDataFrame(GROUPS + ISOLATED + HEAVY, PAIR_SCHEMA)
    weights = spark.createDataFrame(WEIGHTS, WEIGHT_SCHEMA)
    actual = {(r["a"], r["b"]) for r in pairs.transform(filter_edges(0.7, 0.75, pairs, weights)).collect()}
    assert actual == {(1, 2), (1, 3), (2, 3), (4, 5), (4, 6), (5, 6), (7, 8), (10, 11)}


def test_link_threshold_still_applies_before_support(spark):
    pairs = spark.createDataFrame(GROUPS + ISOLATED, PAIR_SCHEMA)
    weights = spark.createDataFrame(WEIGHTS, WEIGHT_SCHEMA)
    actual = {(r["a"], r["b"]) for r in pairs.transform(filter_edges(0.76, 0.75, pairs, weights)).collect()}
    assert actual == {(1, 2), (1, 3), (2, 3), (4, 5), (4, 6), (5, 6)}


def test_min_support_zero_keeps_every_pair_at_the_link_threshold(spark):
    pairs = spark.createDataFrame(GROUPS + ISOLATED + HEAVY, PAIR_SCHEMA)
    weights = spark.createDataFrame(WEIGHTS, WEIGHT_SCHEMA)
    actual = pairs.transform(filter_edges(0.7, 0.0, pairs, weights)).count()
    assert actual == len(GROUPS + ISOLATED + HEAVY)


# Next batch against the state a first batch left (word 3-grams at 0.7, support 0.75: the numbers
# below are for those): an old neighbour that is not an end of any new pair still weighs its tweets. H (5 tweets) ~ H1 (3 tweets) at 10/12; the new H3 ~ H1 at 12/16
# but ~ H at 10/16 only. N[H1] = {H1, H, H3} weighs 3 + 5 + 1, N[H3] = {H3, H1} 1 + 3: support
# 4/9, so H3 stays alone (had H counted as one tweet: 4/5, and H3 would have joined).
HEADLINE = "queensland counts flood cost as new south wales braces for river peaks"
H1 = HEADLINE + " four deaths"
H3 = H1 + " confirmed tonight in brisbane"
BATCH_SCHEMA = T.StructType([
    T.StructField("node", T.LongType(), False),
    T.StructField("text", T.StringType(), True),
    T.StructField("event_ms", T.LongType(), True),
])


def _next_batch_clusters(spark, params):
    from crisislake.dedup.cluster import DedupState, cluster_batch

    first_df = spark.createDataFrame([(n, HEADLINE, n) for n in range(1, 6)] + [(n, H1, n) for n in (6, 7, 8)],
                                     BATCH_SCHEMA)
    first = cluster_batch(first_df, DedupState.empty(spark), params)
    state = DedupState(
        texts=first.new_texts, bands=first.new_bands, pairs=first.new_pairs,
        tweets=first.new_tweets.join(first.assignments.select("node", "cluster_id"), "node"),
    )
    second = cluster_batch(spark.createDataFrame([(9, H3, 9)], BATCH_SCHEMA), state, params)
    return {r["node"]: r["cluster_id"] for r in second.assignments.collect()}


def test_old_neighbour_weighs_its_tweets_in_the_next_batch(spark):
    from crisislake.dedup.minhash import LshParams

    assert _next_batch_clusters(spark, LshParams.for_threshold(0.7, "word", 3, min_support=0.75)) == {9: 9}


def test_next_batch_without_support_test_joins_the_old_cluster(spark):
    from crisislake.dedup.minhash import LshParams

    actual = _next_batch_clusters(spark, LshParams.for_threshold(0.7, "word", 3, min_support=0.0))
    assert actual == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1}
