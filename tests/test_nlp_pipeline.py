"""Pipeline fit/transform, save/load, bad rows, dedup and the evaluate contract on tiny data."""
from __future__ import annotations

import argparse
import json

import pytest
from chispa import assert_df_equality
from crisislake.nlp import data, predict
from crisislake.nlp import features as feat
from crisislake.nlp.evaluate_job import evaluate_file
from crisislake.nlp.tasks import TASKS
from crisislake.nlp.text import clean_text, is_unknown_text
from crisislake.nlp.training import with_label_index
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import types as T

TINY_FEATURES = feat.FeatureParams(num_features=1 << 12, min_doc_freq=1)
TINY_HEAD = feat.HeadParams(reg_param=1e-3, max_iter=50)
TRAIN_SCHEMA = T.StructType([T.StructField("text", T.StringType()), T.StructField("label", T.StringType())])
TRAIN_ROWS = [
    ("flood water rising in the town", "1"), ("flood water covers the road", "1"),
    ("earthquake destroyed houses", "1"), ("earthquake destroyed the school", "1"),
    ("happy birthday to my friend", "0"), ("happy birthday lovely picnic", "0"),
    ("lovely sunny picnic today", "0"), ("sunny day lovely music", "0"),
]


@pytest.fixture(scope="module")
def tiny_model(spark) -> PipelineModel:
    source_df = spark.createDataFrame(TRAIN_ROWS, TRAIN_SCHEMA).transform(with_label_index(["0", "1"]))
    return feat.build_pipeline(["0", "1"], features=TINY_FEATURES, head=TINY_HEAD).fit(source_df)


@pytest.fixture(scope="module")
def tiny_model_path(tiny_model, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("models") / "relevance" / "v-test")
    tiny_model.write().overwrite().save(path)
    return path


def _texts(spark, rows):
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("text", T.StringType())])
    return spark.createDataFrame(rows, schema)


def test_pipeline_predicts_training_vocabulary(spark, tiny_model):
    source_df = _texts(spark, [(1, "flood water in town"), (2, "happy birthday picnic")])
    actual = {r["id"]: r["predicted_label"] for r in tiny_model.transform(source_df).collect()}
    assert actual == {1: "1", 2: "0"}


def test_saved_model_predicts_the_same_after_load(spark, tiny_model, tiny_model_path):
    source_df = _texts(spark, [(1, "earthquake destroyed town"), (2, "lovely music"), (3, "flood picnic")])
    before = tiny_model.transform(source_df).select("id", "prediction", "probability")
    after = PipelineModel.load(tiny_model_path).transform(source_df).select("id", "prediction", "probability")
    assert_df_equality(before, after, ignore_row_order=True)


def test_clean_text_strips_retweet_links_mentions_and_splits_hashtags(spark):
    source_df = spark.createDataFrame([("RT @ann: #NepalEarthquake &amp; aid http://t.co/x @bob",)], "text string")
    actual = source_df.select(clean_text("text").alias("c")).first()["c"]
    assert actual == "nepal earthquake & aid httpurl atuser"


def test_clean_text_sql_keeps_the_retweet_prefix_when_asked(spark):
    from crisislake.nlp.text import clean_text_sql
    from pyspark.sql import functions as F

    source_df = spark.createDataFrame([("RT @ann: #NepalEarthquake &amp; aid http://t.co/x @bob",)], "text string")
    actual = source_df.select(F.expr(clean_text_sql("text", keep_retweet=True)).alias("c")).first()["c"]
    assert actual == "rt atuser : nepal earthquake & aid httpurl atuser"


def test_default_text_stages_give_a_retweet_the_words_rt_atuser(spark):
    source_df = spark.createDataFrame([("RT @ann: Flood in town",), ("Flood in town",)], "text string")
    actual = [r["cl_words"] for r in feat.fit_text_model(source_df).transform(source_df).collect()]
    assert actual == [["rt", "atuser", "flood", "in", "town"], ["flood", "in", "town"]]


def test_text_stages_without_keep_retweet_drop_the_prefix_as_old_models_did(spark):
    source_df = spark.createDataFrame([("RT @ann: Flood in town",)], "text string")
    params = feat.FeatureParams(keep_retweet=False)
    actual = feat.fit_text_model(source_df, params=params).transform(source_df).first()["cl_words"]
    assert actual == ["flood", "in", "town"]


def test_unknown_for_null_empty_emoji_non_latin_and_foreign_lang(spark):
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("text", T.StringType()),
                           T.StructField("lang", T.StringType())])
    source_df = spark.createDataFrame([
        (1, None, None), (2, "", None), (3, "😀😀 🔥", None), (4, "землетрясение в городе", None),
        (5, "terremoto en la ciudad", "es"), (6, "flood in town", None), (7, "flood in town", "en"),
        (8, "http://t.co/abc @user", None),
    ], schema)
    actual = {r["id"]: r["u"] for r in source_df.select("id", is_unknown_text("text", "lang").alias("u")).collect()}
    assert actual == {1: True, 2: True, 3: True, 4: True, 5: True, 6: False, 7: False, 8: True}


def test_scoring_bad_rows_gives_unknown_without_crashing(spark, tiny_model_path):
    loaded = predict.load(spark, tiny_model_path, TASKS["relevance"])
    source_df = _texts(spark, [(1, None), (2, ""), (3, "😀😀😀"), (4, "flood water rising")])
    actual = {r["id"]: r["pred_label"] for r in
              source_df.transform(predict.score(loaded, TASKS["relevance"])).collect()}
    assert actual == {1: "unknown", 2: "unknown", 3: "unknown", 4: "1"}


def test_resolve_conflicts_keeps_majority_and_drops_ties(spark):
    source_df = spark.createDataFrame([
        ("Flood in town http://t.co/1", "1", "e1", "s"), ("RT @x: flood in town!", "1", "e2", "s"),
        ("flood in town", "0", "e1", "s"),                      # 2 votes for 1, 1 for 0 -> 1
        ("nice day", "1", "e1", "s"), ("Nice day", "0", "e1", "s"),  # tie -> dropped
        ("quake", "1", "e3", "s"),
    ], "text string, label string, group string, source string")
    actual = {r["dedup_key"]: (r["label"], r["group"]) for r in data.resolve_conflicts(source_df).collect()}
    assert actual == {"flood in town": ("1", "e1"), "quake": ("1", "e3")}


def test_evaluate_json_matches_hand_computed_scores(spark, config, tiny_model_path, tmp_path, capsys):
    # gold after the map: 1,1,1,0,0,0 (+1 skipped "Unsure"); the tiny model predicts
    # flood/earthquake -> 1, birthday/picnic -> 0, emoji -> unknown.
    csv = tmp_path / "eval.csv"
    csv.write_text(
        "tweet,gold\n"
        "flood water rising fast,Relevant\n"
        "earthquake destroyed the bridge,Relevant\n"
        "happy birthday picnic,Relevant\n"
        "flood water everywhere,Not relevant\n"
        "lovely sunny birthday,Not relevant\n"
        "😀😀,Not relevant\n"
        "whatever,Unsure\n", encoding="utf-8")
    args = argparse.Namespace(task="relevance", input=str(csv), text_col="tweet", label_col="gold",
                              label_map='{"Relevant": 1, "Not relevant": "0"}', model=tiny_model_path,
                              run_id="r1")
    result = evaluate_file(spark, config, args)
    json.loads(json.dumps(result))  # serialisable as one JSON object
    assert result["task"] == "relevance"
    assert (result["n"], result["skipped"]) == (6, 1)
    assert result["accuracy"] == pytest.approx(0.5, abs=1e-6)
    # class 1: TP 2, predicted 3, support 3 -> P = R = F1 = 2/3
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3), abs=1e-6)
    # class 0: TP 1, predicted 2, support 3 -> P 0.5, R 1/3, F1 0.4; macro over gold {0, 1}
    assert result["per_class"]["0"] == pytest.approx(
        {"precision": 0.5, "recall": 1 / 3, "f1": 0.4, "support": 3}, abs=1e-6)
    assert result["per_class"]["1"]["support"] == 3
    assert result["macro_f1"] == pytest.approx((0.4 + 2 / 3) / 2, abs=1e-6)
    assert result["confusion_matrix"] == {"labels": ["0", "1", "unknown"],
                                          "matrix": [[1, 1, 1], [1, 2, 0], [0, 0, 0]]}
    assert result["threshold"] == 0.5  # a plugged-in model without metrics.json decides at 0.5
    assert result["tweets_per_s"] > 0


def test_evaluate_reads_parquet_with_boolean_labels(spark, config, tiny_model_path, tmp_path):
    path = str(tmp_path / "eval.parquet")
    spark.createDataFrame([("flood water rising", True), ("happy birthday", False)],
                          "body string, is_disaster boolean").write.parquet(path)
    args = argparse.Namespace(task="relevance", input=path, text_col="body", label_col="is_disaster",
                              label_map=None, model=tiny_model_path, run_id="r1")
    result = evaluate_file(spark, config, args)
    assert (result["n"], result["skipped"], result["accuracy"]) == (2, 0, 1.0)


def test_char_ngrams_are_upper_case_overlapping_windows_of_the_padded_text(spark):
    source_df = spark.createDataFrame([("abc",)], "t string")
    actual = PipelineModel(stages=feat.char_ngram_stages("t", (3, 4))).transform(source_df).first()
    # padded " ABC ": 3-grams " AB", "ABC", "BC "; 4-grams " ABC", "ABC "
    assert (actual["cl_c3"], actual["cl_c4"]) == ([" AB", "ABC", "BC "], [" ABC", "ABC "])


def test_regex_words_split_on_non_alphanumerics_and_keep_placeholders(spark):
    source_df = spark.createDataFrame([("flood-water rising! httpurl atuser 2013",)], "t string")
    stages = feat.word_stages("t", feat.FeatureParams())
    actual = PipelineModel(stages=stages).transform(source_df).first()["cl_words"]
    assert actual == ["flood", "water", "rising", "httpurl", "atuser", "2013"]


def test_sparknlp_tokenizer_gives_the_same_words_as_the_regex_tokenizer(spark):
    source_df = spark.createDataFrame([("flood water rising! httpurl atuser 2013",)], "t string")
    stages = feat.word_stages("t", feat.FeatureParams(tokenizer="sparknlp"))
    actual = Pipeline(stages=stages).fit(source_df).transform(source_df).first()["cl_words"]
    assert actual == ["flood", "water", "rising", "httpurl", "atuser", "2013"]


def test_text_stages_end_at_the_hashing_tf(tiny_model):
    k = feat.n_text_stages(tiny_model)
    assert type(tiny_model.stages[k - 1]).__name__ == "HashingTF"
    assert type(tiny_model.stages[k]).__name__ == "IDFModel"


def test_kaggle_keyword_rows_get_the_type_their_keyword_names(spark):
    source_df = spark.createDataFrame([("suicide%20bomber",), ("forest%20fires",), ("Typhoon",), ("fire",),
                                       ("structural%20failure",), (None,)], "keyword string")
    actual = [r["label"] for r in source_df.transform(data.with_kaggle_keyword_type("keyword", "label")).collect()]
    assert actual == ["bombing", "wildfire", "hurricane", None, None, None]


def test_group_features_lists_each_events_hashed_feature_indices(spark):
    from crisislake.nlp.training import with_group_features
    from pyspark.ml.linalg import SparseVector, VectorUDT

    schema = T.StructType([T.StructField("group", T.StringType()), T.StructField("fold", T.IntegerType()),
                           T.StructField("cl_tf", VectorUDT())])
    source_df = spark.createDataFrame([("e1", 0, SparseVector(8, [1, 5], [1.0, 1.0])),
                                       ("e1", 0, SparseVector(8, [5], [1.0])),
                                       ("e2", 1, SparseVector(8, [2], [1.0]))], schema)
    actual = sorted(tuple(r) for r in source_df.transform(with_group_features()).collect())
    assert actual == [("e1", 0, 1), ("e1", 0, 5), ("e2", 1, 2)]


def test_min_groups_keeps_only_features_seen_in_two_training_events(spark):
    from crisislake.nlp.training import features_in_groups

    source_df = spark.createDataFrame(
        [("e1", 0, 1), ("e2", 1, 1), ("e1", 0, 2), ("e1", 0, 3), ("e3", 1, 3), ("e2", 1, 4), ("e3", 1, 4)],
        "group string, fold int, idx int")
    # idx 1: e1+e2, 3: e1+e3, 4: e2+e3 -> kept; 2: e1 only. Without fold 0 (e1): only 4.
    assert features_in_groups(source_df, 2) == [1, 3, 4]
    assert features_in_groups(source_df, 2, exclude_fold=0) == [4]


def test_lexicon_features_fire_on_the_words_naming_each_type(spark):
    source_df = spark.createDataFrame(
        [(1, "typhoon makes landfall"), (2, "floods after the quake"), (3, "lovely picnic"), (4, None)],
        "id long, cl_text string")
    stage = feat.lexicon_stages(0.3)[0]
    rows = {r["id"]: r for r in stage.transform(source_df).collect()}
    fired = {i: sorted(name for name in feat.TYPE_LEXICON if r[f"cl_lex_{name}"] == 0.3) for i, r in rows.items()}
    assert fired == {1: ["hurricane"], 2: ["earthquake", "flood"], 3: [], 4: []}
    assert all(r[f"cl_lex_{name}"] in (0.0, 0.3) for r in rows.values() for name in feat.TYPE_LEXICON)


def test_head_with_lexicon_appends_one_feature_per_type_and_survives_save_and_load(spark, tmp_path):
    labels = ["earthquake", "flood", "hurricane"]
    rows = [("the quake shook the city", "earthquake"), ("earthquake damage downtown", "earthquake"),
            ("flood water in the streets", "flood"), ("river flooding near homes", "flood"),
            ("typhoon winds tonight", "hurricane"), ("cyclone warning issued", "hurricane")]
    source_df = spark.createDataFrame(rows, TRAIN_SCHEMA).transform(with_label_index(labels))
    head = feat.HeadParams(reg_param=1e-3, max_iter=50, lexicon_weight=0.3)
    model = feat.build_pipeline(labels, features=TINY_FEATURES, head=head).fit(source_df)
    # An unseen word of the type ("hurricane" never occurs in training) reaches it through the lexicon.
    test_df = _texts(spark, [(1, "hurricane"), (2, "tremor")])
    out = model.transform(test_df)
    assert {r["id"]: r["predicted_label"] for r in out.collect()} == {1: "hurricane", 2: "earthquake"}
    assert out.first()["features"].size == TINY_FEATURES.num_features + len(feat.TYPE_LEXICON)
    model.write().save(str(tmp_path / "m"))
    after = PipelineModel.load(str(tmp_path / "m")).transform(test_df).select("id", "probability")
    assert_df_equality(out.select("id", "probability"), after, ignore_row_order=True)


def test_fit_head_fits_what_a_pipeline_fits_and_frees_its_checkpoint(spark):
    labels = ["earthquake", "flood", "hurricane"]
    rows = [("the quake shook the city", "earthquake"), ("earthquake damage downtown", "earthquake"),
            ("flood water in the streets", "flood"), ("river flooding near homes", "flood"),
            ("typhoon winds tonight", "hurricane"), ("cyclone warning issued", "hurricane")]
    source_df = spark.createDataFrame(rows, TRAIN_SCHEMA).transform(with_label_index(labels))
    prepared = feat.fit_text_model(source_df, "text", TINY_FEATURES).transform(source_df)
    head = feat.HeadParams(reg_param=1e-3, max_iter=50, lexicon_weight=0.3)
    persisted = set(spark.sparkContext._jsc.getPersistentRDDs().keySet())

    ours = feat.fit_head(feat.head_stages(labels, TINY_FEATURES, head), prepared)

    assert set(spark.sparkContext._jsc.getPersistentRDDs().keySet()) == persisted
    theirs = Pipeline(stages=feat.head_stages(labels, TINY_FEATURES, head)).fit(prepared)
    assert [type(s).__name__ for s in ours.stages] == [type(s).__name__ for s in theirs.stages]
    test_df = feat.fit_text_model(source_df, "text", TINY_FEATURES).transform(
        _texts(spark, [(1, "hurricane"), (2, "tremor"), (3, "flood")]))
    got = {r["id"]: (r["predicted_label"], r["probability"].toArray()) for r in ours.transform(test_df).collect()}
    want = {r["id"]: (r["predicted_label"], r["probability"].toArray()) for r in theirs.transform(test_df).collect()}
    assert {i: lab for i, (lab, _) in got.items()} == {1: "hurricane", 2: "earthquake", 3: "flood"}
    for i, (label, prob) in want.items():
        assert got[i][0] == label
        assert got[i][1] == pytest.approx(prob, abs=1e-6)
