"""classify: labels into enriched/tweet_labels, uncertain positives into enriched/review_queue."""
from __future__ import annotations

import pytest
from chispa import assert_df_equality
from crisislake.nlp import features as feat
from crisislake.nlp import predict
from crisislake.nlp.classify_job import classify_task, group_by_text_stages
from crisislake.nlp.tasks import TASKS
from crisislake.nlp.training import with_label_index
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F
from pyspark.sql import types as T

TWEETS_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType()), T.StructField("text", T.StringType()),
    T.StructField("lang", T.StringType()),
])


@pytest.fixture(scope="module")
def police_model(spark, tmp_path_factory) -> str:
    rows = [("police fired tear gas at protesters", "1"), ("police fired rubber bullets at protesters", "1"),
            ("officer beat a protester with a baton", "1"), ("officer beat a man with a baton", "1"),
            ("great pizza for lunch", "0"), ("great coffee for lunch today", "0"),
            ("my cat sleeps all day", "0"), ("my cat loves pizza", "0")]
    source_df = spark.createDataFrame(rows, "text string, label string").transform(with_label_index(["0", "1"]))
    model = feat.build_pipeline(["0", "1"], features=feat.FeatureParams(num_features=1 << 12, min_doc_freq=1),
                                head=feat.HeadParams(reg_param=1e-3, max_iter=50)).fit(source_df)
    path = str(tmp_path_factory.mktemp("models") / "police_force" / "v-test")
    model.write().overwrite().save(path)
    return path


def test_positives_below_review_threshold_go_to_review_queue_not_labels(spark, config, police_model):
    spec = TASKS["police_force"]
    loaded = predict.load(spark, police_model, spec)
    # Above any probability the model gives: every positive needs review.
    loaded.review_threshold = 0.999999
    tweets = spark.createDataFrame([
        (1, "police fired tear gas at the crowd", "en"), (2, "great pizza for lunch", "en"),
        (3, "", None), (4, "officer beat a protester with a baton", None),
    ], TWEETS_SCHEMA)
    labels_path = config.table("enriched", "tweet_labels")
    review_path = config.table("enriched", "review_queue")
    counts = classify_task(spark, tweets, spec, loaded, labels_path, review_path, "run-1")
    assert (counts["candidates"], counts["published"], counts["review"], counts["unknown"]) == (4, 2, 2, 1)
    published = spark.read.format("delta").load(labels_path).select("tweet_id", "label")
    expected_df = spark.createDataFrame([(2, "0"), (3, "unknown")], "tweet_id long, label string")
    assert_df_equality(published, expected_df, ignore_row_order=True, ignore_nullable=True)
    queued = spark.read.format("delta").load(review_path)
    assert sorted(r["tweet_id"] for r in queued.collect()) == [1, 4]
    assert queued.where(F.col("reason").contains("below the review threshold 1.000")).count() == 2
    assert {r["model_version"] for r in queued.collect()} == {"v-test"}


def test_rerun_labels_only_new_tweets(spark, config, police_model):
    spec = TASKS["police_force"]
    loaded = predict.load(spark, police_model, spec)
    loaded.review_threshold = 0.0  # publish everything
    labels_path = config.table("enriched", "tweet_labels")
    review_path = config.table("enriched", "review_queue")
    first = spark.createDataFrame([(1, "police fired tear gas", "en"), (2, "my cat", "en")], TWEETS_SCHEMA)
    classify_task(spark, first, spec, loaded, labels_path, review_path, "run-1")
    second = first.unionByName(spark.createDataFrame([(3, "great pizza", "en")], TWEETS_SCHEMA))
    counts = classify_task(spark, second, spec, loaded, labels_path, review_path, "run-2")
    assert (counts["candidates"], counts["labels_inserted"]) == (1, 1)
    runs = {r["tweet_id"]: r["run_id"] for r in spark.read.format("delta").load(labels_path).collect()}
    assert runs == {1: "run-1", 2: "run-1", 3: "run-2"}


def test_tasks_with_identical_text_stages_share_one_featurisation(spark, police_model):
    spec = TASKS["police_force"]
    first, second = predict.load(spark, police_model, spec), predict.load(spark, police_model, spec)
    other = predict.load(spark, police_model, spec)
    other.model = other.model.copy()
    other.model.stages[feat.n_text_stages(other.model) - 1].setNumFeatures(1 << 13)
    groups = group_by_text_stages({"police_force": first, "force_rank": second, "relevance": other})
    assert groups == [["police_force", "force_rank"], ["relevance"]]


def test_models_that_clean_retweets_differently_do_not_share_features(spark, police_model):
    # A model saved before keep_retweet (its cleaning drops "RT @user:") must not reuse the
    # features of a current model: the same tweet gives other words.
    spec = TASKS["police_force"]
    current, old = predict.load(spark, police_model, spec), predict.load(spark, police_model, spec)
    old_text = feat.fit_text_model(spark.createDataFrame([("x",)], "text string"),
                                   params=feat.FeatureParams(num_features=1 << 12, keep_retweet=False))
    old.model = feat.combine(old_text, PipelineModel(stages=old.model.stages[feat.n_text_stages(old.model):]))
    groups = group_by_text_stages({"police_force": current, "relevance": old})
    assert groups == [["police_force"], ["relevance"]]


def test_scoring_shared_features_equals_scoring_with_the_whole_model(spark, police_model):
    spec = TASKS["police_force"]
    loaded = predict.load(spark, police_model, spec)
    tweets = spark.createDataFrame([(1, "police fired tear gas at the crowd", "en"), (2, "great pizza", "en"),
                                    (3, "", None)], TWEETS_SCHEMA)
    cols = ["tweet_id", "pred_label", "confidence", "needs_review"]
    expected_df = tweets.transform(predict.score(loaded, spec, "text", "lang")).select(*cols)
    actual_df = (tweets.transform(predict.featurise(loaded.model))
                 .transform(predict.score(loaded, spec, "text", "lang", featurised=True)).select(*cols))
    assert_df_equality(actual_df, expected_df, ignore_row_order=True)
    assert {r["tweet_id"]: r["pred_label"] for r in actual_df.collect()} == {1: "1", 2: "0", 3: "unknown"}
