"""Lake mode: curated/tweets -> enriched/tweet_clusters, incrementally, with merges recorded.

Run 1 sees A (+ a hashtag copy of A) and B (+ a retweet), which are not near-duplicates of each
other (word 2-gram Jaccard 0.556 < 0.6). Run 2 brings C, a near-duplicate of both (0.778 each),
tweeted seven times (C and six retweets): the two old clusters merge into A's, and the merge is
recorded. Run 3 has nothing new and changes nothing.

Why seven: an edge needs neighbourhood support >= 0.8 (tweets near both ends / tweets near either
end). With C weighing k tweets, C-A sees {C, A, A #coflood} of {C, A, A #coflood, B + RT B}, i.e.
(k + 2) / (k + 4), and so does C-B; k = 7 gives 9/11 = 0.82 (k = 5: 7/9 = 0.78). A single C (1
tweet: 3/5) would be a bridge between two groups that are not alike, and stays apart
(tests/test_dedup_pairs.py).
"""
from datetime import datetime

import pytest
from crisislake.dedup.job import dedup_lake
from pyspark.sql import types as T

TWEETS_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType(), False),
    T.StructField("created_at", T.TimestampType(), True),
    T.StructField("text", T.StringType(), True),
    T.StructField("lang", T.StringType(), True),
    T.StructField("author_id", T.LongType(), True),
    T.StructField("author_handle", T.StringType(), True),
    T.StructField("retweet_of_id", T.LongType(), True),
    T.StructField("quote_of_id", T.LongType(), True),
    T.StructField("reply_to_id", T.LongType(), True),
    T.StructField("hashtags", T.ArrayType(T.StringType()), True),
    T.StructField("urls", T.ArrayType(T.StringType()), True),
    T.StructField("mentions", T.ArrayType(T.StringType()), True),
    T.StructField("place_country", T.StringType(), True),
    T.StructField("place_name", T.StringType(), True),
    T.StructField("lat", T.DoubleType(), True),
    T.StructField("lon", T.DoubleType(), True),
    T.StructField("source_uri", T.StringType(), True),
    T.StructField("source_line", T.LongType(), True),
    T.StructField("ingested_at", T.TimestampType(), True),
    T.StructField("run_id", T.StringType(), True),
])

P = "Evacuation ordered for Lyons and Jamestown this morning:"
Q = " flood waters from the St. Vrain river have cut every road into town and the bridge on Main Street is gone"
R = " - Boulder County sheriff says, more rain expected tonight"
A, B, C = P + Q, Q + R, P + Q + R


def _tweet(tweet_id: int, minute: int, text, retweet_of=None):
    created = datetime(2013, 9, 12, 10, minute)
    return (tweet_id, created, text, "en", 1, "h", retweet_of, None, None, [], [], [], None, None, None, None,
            "raw/x.json", tweet_id, created, "ingest")


def _append(spark, config, rows):
    spark.createDataFrame(rows, TWEETS_SCHEMA).write.format("delta").mode("append").save(
        config.table("curated", "tweets")
    )


def _clusters(spark, config):
    df = spark.read.format("delta").load(config.table("enriched", "tweet_clusters"))
    return {r["tweet_id"]: (r["cluster_id"], r["is_canonical"], r["cluster_size"]) for r in df.collect()}


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    from crisislake.config import load_config

    lake = tmp_path_factory.mktemp("dedup_lake")
    config = load_config("local", lake_root=str(lake), overrides=["spark.shuffle_partitions=2"], environ={})
    _append(spark, config, [_tweet(100, 1, A), _tweet(101, 2, A + " #coflood"), _tweet(200, 3, B),
                            _tweet(150, 4, None), _tweet(160, 5, "RT @x: " + B, retweet_of=200)])
    first = dedup_lake(spark, config, "run-1")
    after_first = _clusters(spark, config)
    retweets_of_c = [_tweet(301 + k, 8 + k, "RT @y: " + C, retweet_of=300) for k in range(6)]
    _append(spark, config, [_tweet(300, 6, C), _tweet(400, 7, "Unrelated: rain all week in Denver")] + retweets_of_c)
    second = dedup_lake(spark, config, "run-2")
    after_second = _clusters(spark, config)
    third = dedup_lake(spark, config, "run-3")
    merges = [(r["cluster_id"], r["merged_into"], r["reason"], r["run_id"]) for r in
              spark.read.format("delta").load(config.table("enriched", "cluster_merges")).collect()]
    versions = spark.sql(f"DESCRIBE HISTORY delta.`{config.table('enriched', 'tweet_clusters')}`").count()
    return {"first": first, "after_first": after_first, "second": second, "after_second": after_second,
            "third": third, "merges": merges, "cluster_versions": versions}


def test_first_run_keeps_a_and_b_apart(runs):
    assert runs["after_first"] == {
        100: (100, True, 2), 101: (100, False, 2), 200: (200, True, 2), 160: (200, False, 2), 150: (150, True, 1),
    }


def test_bridging_tweet_merges_two_old_clusters_into_the_earliest(runs):
    clusters = runs["after_second"]
    assert {t: clusters[t] for t in (100, 101, 200, 160, 300, 301, 306)} == {
        100: (100, True, 11), 101: (100, False, 11), 200: (100, False, 11), 160: (100, False, 11),
        300: (100, False, 11), 301: (100, False, 11), 306: (100, False, 11),
    }


def test_unrelated_new_tweet_and_null_text_stay_singletons(runs):
    assert (runs["after_second"][400], runs["after_second"][150]) == ((400, True, 1), (150, True, 1))


def test_merge_is_recorded(runs):
    assert runs["merges"] == [(200, 100, "merged", "run-2")]


def test_second_run_reports_only_new_tweets(runs):
    assert (runs["first"]["new_tweets"], runs["second"]["new_tweets"], runs["second"]["merges"]) == (5, 8, 1)


def test_rerun_without_new_tweets_changes_nothing(runs):
    assert runs["third"] == {"new_tweets": 0}
    # create + run-1 merge + run-2 merge; run 3 wrote no version
    assert runs["cluster_versions"] == 3


def test_state_built_with_other_shingles_is_refused_with_the_way_out(spark, tmp_path):
    from crisislake.config import load_config
    from crisislake.dedup.job import DedupStateError
    from crisislake.dedup.minhash import LshParams

    config = load_config("local", lake_root=str(tmp_path / "lake"), overrides=["spark.shuffle_partitions=2"], environ={})
    _append(spark, config, [_tweet(100, 1, A), _tweet(200, 3, B)])
    dedup_lake(spark, config, "run-1")  # default: word 2-grams
    _append(spark, config, [_tweet(300, 6, C)])
    with pytest.raises(DedupStateError, match=r"built with n2-word2-b31-r4-p4x3-pairs0.6-c0.9 and this run uses "
                                              r"n2-char5-b31-r4-p4x3-pairs0.6-c0.9"):
        dedup_lake(spark, config, "run-2", LshParams.for_threshold(0.6, "char"))
    assert dedup_lake(spark, config, "run-2")["new_tweets"] == 1  # the same settings go on


def test_state_built_before_text_pairs_is_refused(spark, tmp_path):
    from crisislake import delta_io
    from crisislake.config import load_config
    from crisislake.dedup.job import SIGNATURES_SCHEMA, STATE_PROPERTY, DedupStateError

    config = load_config("local", lake_root=str(tmp_path / "lake"), overrides=["spark.shuffle_partitions=2"], environ={})
    delta_io.ensure_table(spark, config.table("enriched", "tweet_signatures"), SIGNATURES_SCHEMA,
                          properties={STATE_PROPERTY: "word3-b20-r5"})
    with pytest.raises(DedupStateError, match=r"built with word3-b20-r5 and this run uses n2-word2-b31-r4-p4x3-pairs0.6-c0.9"
                                              r".*text_pairs"):
        dedup_lake(spark, config, "run-1")
