"""Known near-duplicate and known distinct pairs through the whole clustering path.

One batch holds every case (disjoint node ranges) and is clustered once per module: each test
then checks one behaviour on that result.
"""

import pytest
from crisislake.dedup.cluster import DedupState, cluster_batch
from crisislake.dedup.minhash import LshParams, jaccard_py, shingle_sets
from crisislake.dedup.normalize import normalize_py
from pyspark.sql import types as T

BATCH_SCHEMA = T.StructType([
    T.StructField("node", T.LongType(), False),
    T.StructField("text", T.StringType(), True),
    T.StructField("event_ms", T.LongType(), True),
])

WEST = "Massive explosion reported at the fertilizer plant in West, Texas. Many injured, homes damaged"
BOSTON = "Two explosions near the finish line of the Boston Marathon, runners and spectators hurt"
QUAKE = "Strong earthquake shakes Guatemala City this morning, buildings evacuated, no reports yet"
SANDY = "Hurricane Sandy storm surge floods lower Manhattan subway stations, power out downtown"
FLOOD = "Floods in Alberta: Calgary downtown evacuated as the Bow and Elbow rivers keep rising"
# (name, node of left, left, node of right, right); each case uses a different story.
NEAR_DUPLICATES = [
    ("retweet prefix", 11, WEST, 12, "RT @KHOU: " + WEST),
    ("swapped link", 21, BOSTON + " http://t.co/aaa111", 22, BOSTON + " http://t.co/zzz999"),
    ("added hashtags", 31, QUAKE, 32, QUAKE + " #sismo #guatemala"),
    ("html entity", 41, SANDY + " & subway", 42, SANDY + " &amp; subway"),
    ("truncated", 51, FLOOD + " near the zoo and the stampede grounds", 52, FLOOD + " near the zoo and the stamp… http://t.co/x"),
]
DISTINCT = [
    ("same topic, different report", 61, "Fertilizer plant blast in West TX: death toll rises to 14, officials say",
     62, "West Texas fertilizer plant fire brought under control overnight, investigators on site"),
    ("different events", 71, "Flooding closes I-45 in Houston, avoid the area", 72, "Tornado touches down near Moore, Oklahoma"),
    ("short texts sharing words", 81, "praying for boston", 82, "praying for texas"),
]
EMPTY_NODES = {91: None, 92: "", 93: "   ", 94: None, 95: "https://t.co/only @someone"}


DEFAULT = LshParams.for_threshold()
WORD3 = LshParams.for_threshold(0.7, "word", 3)


def _exact_jaccard(left: str, right: str, params: LshParams = DEFAULT) -> float:
    hashes, offsets = shingle_sets([normalize_py(left), normalize_py(right)], params.shingle, params.ngram)
    return jaccard_py(hashes[offsets[0]:offsets[1]].tolist(), hashes[offsets[1]:offsets[2]].tolist())


@pytest.fixture(scope="module")
def clustered(spark):
    rows = [(a, left, a) for _, a, left, _, _ in NEAR_DUPLICATES + DISTINCT]
    rows += [(b, right, b) for _, _, _, b, right in NEAR_DUPLICATES + DISTINCT]
    rows += [(node, text, node) for node, text in EMPTY_NODES.items()]
    source_df = spark.createDataFrame(rows, BATCH_SCHEMA)
    result = cluster_batch(source_df, DedupState.empty(spark), DEFAULT)
    return {r["node"]: r.asDict() for r in result.assignments.collect()}


@pytest.mark.parametrize("name,a,left,b,right", NEAR_DUPLICATES, ids=[c[0] for c in NEAR_DUPLICATES])
def test_known_near_duplicate_pair_is_above_link_threshold(name, a, left, b, right):
    assert _exact_jaccard(left, right) >= 0.76


@pytest.mark.parametrize("name,a,left,b,right", DISTINCT, ids=[c[0] for c in DISTINCT])
def test_known_distinct_pair_is_below_threshold(name, a, left, b, right):
    assert _exact_jaccard(left, right) < 0.6


@pytest.mark.parametrize("name,a,left,b,right", NEAR_DUPLICATES, ids=[c[0] for c in NEAR_DUPLICATES])
def test_near_duplicate_pair_is_one_cluster_keyed_by_earliest(clustered, name, a, left, b, right):
    assert (clustered[a]["cluster_id"], clustered[b]["cluster_id"]) == (a, a)
    assert (clustered[a]["is_canonical"], clustered[b]["is_canonical"]) == (True, False)
    assert clustered[a]["cluster_size"] == 2


@pytest.mark.parametrize("name,a,left,b,right", DISTINCT, ids=[c[0] for c in DISTINCT])
def test_distinct_pair_stays_in_two_clusters(clustered, name, a, left, b, right):
    assert (clustered[a]["cluster_id"], clustered[b]["cluster_id"]) == (a, b)


def test_null_and_empty_texts_are_kept_as_singletons(clustered):
    actual = sorted((n, clustered[n]["cluster_id"], clustered[n]["is_canonical"], clustered[n]["cluster_size"])
                    for n in EMPTY_NODES)
    assert actual == [(91, 91, True, 1), (92, 92, True, 1), (93, 93, True, 1), (94, 94, True, 1), (95, 95, True, 1)]


def test_no_row_is_dropped(clustered):
    assert len(clustered) == 2 * (len(NEAR_DUPLICATES) + len(DISTINCT)) + len(EMPTY_NODES)


def test_similarity_to_canonical_is_exact_jaccard(clustered):
    expected = round(_exact_jaccard(QUAKE, QUAKE + " #sismo #guatemala"), 6)
    assert (clustered[31]["similarity_to_canonical"], round(clustered[32]["similarity_to_canonical"], 6)) == (1.0, expected)


# A headline, the headline + a clause, the headline + two clauses (word 3-grams, threshold 0.7, the
# rule before word 2-grams): J(H, H1) = 10/12, J(H1, H2) = 12/14, J(H, H2) = 10/14 = 0.714 (>= 0.7
# but below a 0.76 link).
HEADLINE = "queensland counts flood cost as new south wales braces for river peaks"
CLAUSE_1 = HEADLINE + " four deaths"
CLAUSE_2 = CLAUSE_1 + " confirmed tonight"
LINK_076 = LshParams.for_threshold(0.7, "word", 3, link_threshold=0.76, min_support=0.0)  # the rule before support


def _cluster_ids(spark, rows, params):
    source_df = spark.createDataFrame(rows, BATCH_SCHEMA)
    return {r["node"]: r["cluster_id"] for r in cluster_batch(source_df, DedupState.empty(spark), params)
            .assignments.collect()}


def test_chain_of_linked_pairs_is_one_cluster_even_when_its_ends_are_not_linked(spark):
    # at link 0.76 H-H2 (0.714) is no edge; H-H1 and H1-H2 are, and chain all three
    assert round(_exact_jaccard(HEADLINE, CLAUSE_2, WORD3), 3) == 0.714
    rows = [(1, HEADLINE, 1), (2, CLAUSE_1, 2), (3, CLAUSE_2, 3)]
    assert _cluster_ids(spark, rows, LINK_076) == {1: 1, 2: 1, 3: 1}


def test_headline_and_its_two_extensions_are_one_cluster_by_default(spark):
    # all three pairs are >= 0.6 (word 2-grams: 0.846, 0.867, 0.733) and every end sees the same
    # three texts: support 1 each
    rows = [(1, HEADLINE, 1), (2, CLAUSE_1, 2), (3, CLAUSE_2, 3)]
    assert _cluster_ids(spark, rows, DEFAULT) == {1: 1, 2: 1, 3: 1}


def test_pair_between_threshold_and_link_threshold_is_not_linked(spark):
    assert _cluster_ids(spark, [(1, HEADLINE, 1), (3, CLAUSE_2, 3)], LINK_076) == {1: 1, 3: 3}


def test_link_threshold_at_the_threshold_links_that_pair(spark):
    params = LshParams.for_threshold(0.7, "word", 3, link_threshold=0.7)
    source_df = spark.createDataFrame([(1, HEADLINE, 1), (3, CLAUSE_2, 3)], BATCH_SCHEMA)
    result = cluster_batch(source_df, DedupState.empty(spark), params)
    assert {r["node"]: r["cluster_id"] for r in result.assignments.collect()} == {1: 1, 3: 1}


# Lyons: A and B are not near-duplicates (word 2-grams: 0.556); C is near both (0.778, 0.778), one
# tweet each.
LYONS_P = "Evacuation ordered for Lyons and Jamestown this morning:"
LYONS_Q = " flood waters from the St. Vrain river have cut every road into town and the bridge on Main Street is gone"
LYONS_R = " - Boulder County sheriff says, more rain expected tonight"
LYONS = [(1, LYONS_P + LYONS_Q, 1), (2, LYONS_Q + LYONS_R, 2), (3, LYONS_P + LYONS_Q + LYONS_R, 3)]


def test_text_bridging_two_unlike_texts_is_not_linked_by_default(spark):
    # C-A and C-B each have support 2/3 (C, A of C, A, B; C, B of C, A, B) < 0.8.
    result = cluster_batch(spark.createDataFrame(LYONS, BATCH_SCHEMA), DedupState.empty(spark), DEFAULT)
    assert {r["node"]: r["cluster_id"] for r in result.assignments.collect()} == {1: 1, 2: 2, 3: 3}


def test_min_support_zero_links_the_bridging_text_to_both(spark):
    params = LshParams.for_threshold(0.7, min_support=0.0)
    result = cluster_batch(spark.createDataFrame(LYONS, BATCH_SCHEMA), DedupState.empty(spark), params)
    assert {r["node"]: r["cluster_id"] for r in result.assignments.collect()} == {1: 1, 2: 1, 3: 1}


def test_link_threshold_below_threshold_is_rejected():
    with pytest.raises(ValueError, match="link_threshold"):
        LshParams.for_threshold(0.7, link_threshold=0.6)
