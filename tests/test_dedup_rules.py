"""The verification rule for truncated texts and stated numbers: containment and number conflicts,
by hand, and one batch through the whole clustering path where the Jaccard rule alone fails.

Hand values: shingles are small integer sets here, so every score is a ratio of counts.
"""
import pytest
from crisislake.dedup.cluster import DedupState, cluster_batch
from crisislake.dedup.minhash import (
    LshParams,
    containment,
    containment_score_py,
    jaccard_py,
    numbers_conflict,
    numbers_conflict_py,
    shingle_sets,
)
from crisislake.dedup.normalize import normalize_py
from pyspark.sql import functions as F
from pyspark.sql import types as T

# (part, part truncated, whole, whole truncated, expected containment score)
CONTAINMENT = [
    ([1, 2, 3, 4], True, [1, 2, 3, 4, 5, 6, 7, 8], False, 1.0),       # a cut copy: all of it is there
    ([1, 2, 3, 4], True, [1, 2, 3, 9, 10, 11], False, 0.75),          # 3 of its 4
    ([1, 2, 3, 4], False, [1, 2, 3, 4, 5, 6, 7, 8], False, 0.0),      # not truncated: Jaccard only
    ([1], True, [1, 2, 3], False, 0.0),                               # one shingle is too little
    ([1, 2, 3, 4, 5, 6], False, [1, 2, 3, 4], True, 1.0),             # the truncated end may be b
    ([1, 2, 3, 4], True, [1, 2, 3, 7, 8, 9], True, 0.75),             # both cut: the larger share
]
NUMBERS = [([4], [9], True), ([4], [4, 12], False), ([], [9], False), ([4, 12], [4, 13], True), ([], [], False)]


@pytest.mark.parametrize("part,part_cut,whole,whole_cut,expected", CONTAINMENT)
def test_containment_score_by_hand(part, part_cut, whole, whole_cut, expected):
    assert containment_score_py(part, part_cut, whole, whole_cut) == pytest.approx(expected)


@pytest.mark.parametrize("a,b,expected", NUMBERS)
def test_numbers_conflict_by_hand(a, b, expected):
    assert numbers_conflict_py(a, b) is expected


def test_spark_columns_give_the_hand_values(spark):
    schema = T.StructType([
        T.StructField("a", T.ArrayType(T.LongType())), T.StructField("ta", T.BooleanType()),
        T.StructField("b", T.ArrayType(T.LongType())), T.StructField("tb", T.BooleanType()),
    ])
    df = spark.createDataFrame([(p, pc, w, wc) for p, pc, w, wc, _ in CONTAINMENT], schema)
    scores = [r[0] for r in df.select(containment(*(F.col(c) for c in ("a", "ta", "b", "tb")), 2)).collect()]
    nums = spark.createDataFrame([(a, b) for a, b, _ in NUMBERS], "a array<long>, b array<long>")
    conflicts = [r[0] for r in nums.select(numbers_conflict(F.col("a"), F.col("b"))).collect()]
    assert (scores, conflicts) == ([c[-1] for c in CONTAINMENT], [n[-1] for n in NUMBERS])


# One batch: a story and a truncated retweet of it (must now be one cluster), a template tweet that
# differs from another only in its numbers, and a different story sharing the first half.
STORY = ("Bridge on Highway 7 near Canmore washed out by the Bow river, crews say the road will stay "
         "closed for days and drivers should use the Trans-Canada instead")
CUT_RETWEET = ("RT @ab_roads: Bridge on Highway 7 near Canmore washed out by the Bow river, crews say the road "
               "wi… http://t.co/q1")
TOLL_A = "Officials in Moore now say 24 people died in the tornado, among them 9 children, and 237 were injured"
TOLL_B = "Officials in Moore now say 51 people died in the tornado, among them 20 children, and 237 were injured"
OTHER = ("Bridge on Highway 7 near Canmore washed out by the Bow river, the mayor asks people to stay home "
         "and keep off the riverbanks until the water goes down")
BATCH = [(1, STORY, 1), (2, CUT_RETWEET, 2), (3, TOLL_A, 3), (4, TOLL_B, 4), (5, OTHER, 5)]


def _word2(text):
    return shingle_sets([normalize_py(text).removesuffix(" …")], "word", 2)[0].tolist()


def test_the_pairs_as_the_rule_sees_them():
    story, cut, a, b = _word2(STORY), _word2(CUT_RETWEET), _word2(TOLL_A), _word2(TOLL_B)
    # the cut copy keeps 16 of 29 words: Jaccard 15 / 28 is below 0.6, yet all its shingles are there
    assert (round(jaccard_py(story, cut), 3), containment_score_py(cut, True, story, False)) == (0.536, 1.0)
    # the template pair is above the Jaccard threshold (14 / 22) but states other numbers
    assert round(jaccard_py(a, b), 3) == 0.636


@pytest.fixture(scope="module")
def clusters(spark):
    schema = T.StructType([T.StructField("node", T.LongType()), T.StructField("text", T.StringType()),
                           T.StructField("event_ms", T.LongType())])
    result = cluster_batch(spark.createDataFrame(BATCH, schema), DedupState.empty(spark), LshParams.for_threshold())
    return {r["node"]: r["cluster_id"] for r in result.assignments.collect()}


def test_truncated_retweet_joins_its_story(clusters):
    assert (clusters[1], clusters[2]) == (1, 1)


def test_template_tweet_with_other_numbers_stays_apart(clusters):
    assert (clusters[3], clusters[4]) == (3, 4)


def test_other_story_sharing_the_first_half_stays_apart(clusters):
    # the cut retweet goes on past the shared words ("crews say the road"): 11 of its 15 shingles
    # are in OTHER (0.733), below the containment of 0.9, so it does not chain OTHER in
    assert clusters[5] == 5
