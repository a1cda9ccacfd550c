"""The default linear models: hashed features, the scikit-learn fit, numpy scoring inside Spark."""
from __future__ import annotations

import math

import numpy as np
import pytest
from crisislake.nlp import model_store, predict
from crisislake.nlp.hashed import HashParams, normalise, term_counts
from crisislake.nlp.linear import PROB_PREFIX, LinearModel, score_frame
from crisislake.nlp.linear_training import LinearHead, count_matrix, fit_model, sample_weights
from crisislake.nlp.tasks import TASKS

FLOOD = ["flood water rising in the streets", "river flooding homes", "floods cut the roads",
         "flood warning for the town", "homes under water after the flood", "flooded streets downtown"]
QUAKE = ["earthquake shakes the city", "strong quake felt downtown", "buildings cracked by the earthquake",
         "magnitude 6 quake hits", "earthquake aftershocks tonight", "tremor and quake damage"]


def test_normalise_keeps_the_retweet_marker_and_splits_hashtags():
    assert normalise("RT @bob: #NepalEarthquake &amp; aftershocks http://t.co/x @amy") == (
        "rt atuser nepal earthquake & aftershocks httpurl atuser")
    assert normalise("RT @bob: hello", keep_retweet=False) == "hello"
    assert normalise(None) == "" and normalise("") == ""


def test_term_counts_of_a_repeated_word():
    # "ab ab": word "ab" x2 and bigram "ab ab" x1; char_wb 2-5-grams of " ab " twice each:
    # " a", "ab", "b ", " ab", "ab ", " ab " (a 5-gram needs a longer word).
    indptr, indices, values = term_counts(["ab ab"], HashParams(bits=16))
    assert list(indptr) == [0, 8]
    assert sorted(values) == pytest.approx([1.0] + [1 + math.log(2)] * 7)
    assert (indices < (1 << 16)).sum() == 2  # two word features, six char features after them


def test_empty_and_null_texts_have_no_features():
    indptr, indices, _ = term_counts([None, "", "a"], HashParams(bits=16))
    # "a": no word (words have >= 2 characters); char 2-grams " a", "a "; 3-gram " a ".
    assert list(indptr) == [0, 0, 0, 3]
    assert (indices >= (1 << 16)).all()


def test_lexicon_features_hold_their_weight_outside_the_norm():
    params = HashParams(bits=16, lexicon=(("flood", "flood"), ("quake", "quake")), lexicon_weight=0.3)
    counts = count_matrix(["Floods in town", "nothing here"], params)
    first = 2 << 16
    assert counts[0, first] == pytest.approx(0.3) and counts[0, first + 1] == 0
    assert counts[1, first:].nnz == 0


def _disaster_model(params=HashParams(bits=16)):
    counts = count_matrix(FLOOD + QUAKE, params)
    y = np.array(["flood"] * 6 + ["earthquake"] * 6)
    return fit_model("disaster_type", TASKS["disaster_type"].labels, counts, y, params, LinearHead(min_df=1))


def test_multiclass_fit_predicts_unseen_texts_and_never_an_absent_label():
    model = _disaster_model()
    prob = model.predict_proba(["the flood water", "a quake shakes"])
    labels = TASKS["disaster_type"].labels
    assert [labels[i] for i in prob.argmax(axis=1)] == ["flood", "earthquake"]
    assert prob[:, labels.index("hurricane")].max() < 1e-9
    assert np.allclose(prob.sum(axis=1), 1.0)


def test_source_balancing_gives_each_source_half_the_weight():
    y = np.array(["1", "0", "1", "1", "0", "0"])
    sources = np.array(["a", "a", "a", "a", "b", "b"])
    weights = sample_weights(y, sources, LinearHead(balance_sources=True))
    # source a (4 rows: 3 x "1", 1 x "0") and b (2 rows of "0") each weigh 3 in total;
    # inside a, each class weighs 1.5.
    assert list(np.round(weights, 6)) == [0.5, 1.5, 0.5, 0.5, 1.5, 1.5]


def test_min_groups_drops_the_words_of_one_event():
    params = HashParams(bits=16, char_sizes=())
    texts = ["flood sandy", "flood yolanda", "quake bohol", "quake italy"]
    counts = count_matrix(texts, params)
    y = np.array(["flood", "flood", "earthquake", "earthquake"])
    groups = np.array(["e1", "e2", "e3", "e4"])
    model = fit_model("disaster_type", TASKS["disaster_type"].labels, counts, y, params,
                      LinearHead(min_df=1, min_groups=2), groups)
    # Only "flood" and "quake" occur in two events; the names and bigrams of one event are gone.
    assert len(model.active) == 2


def test_saved_model_scores_the_same_in_spark_as_in_numpy(spark, config):
    model = _disaster_model(HashParams(bits=16, lexicon=(("flood", "flood"),), lexicon_weight=0.3))
    path = model_store.save_linear(spark, model, {"macro_f1": 1.0}, config.models_root, "disaster_type", "v1")
    loaded = model_store.load_model(spark, path)
    assert isinstance(loaded, LinearModel) and loaded.params == model.params
    texts = ["flood water rising", "quake damage", None, "RT @x: floods again #FloodAlert"]
    expected = model.predict_proba(texts)
    source_df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id long, text string")
    rows = source_df.transform(score_frame({"disaster_type": loaded})).orderBy("id").collect()
    actual = np.array([r[PROB_PREFIX + "disaster_type"] for r in rows])
    assert np.allclose(actual, expected, atol=1e-6)
    assert model_store.default_model_path(spark, config.models_root, "disaster_type") == path


def test_predict_score_labels_a_linear_model_like_a_pipeline(spark, config):
    model = _disaster_model()
    path = model_store.save_linear(spark, model, {"macro_f1": 1.0}, config.models_root, "disaster_type", "v2")
    loaded = predict.load(spark, path, TASKS["disaster_type"])
    source_df = spark.createDataFrame([(1, "flood in the streets"), (2, "quake felt"), (3, "😀")],
                                      "id long, text string")
    rows = {r["id"]: r for r in source_df.transform(predict.score(loaded, TASKS["disaster_type"])).collect()}
    assert [rows[i]["pred_label"] for i in (1, 2, 3)] == ["flood", "earthquake", "unknown"]
    assert rows[1]["confidence"] > 0.5 and rows[3]["confidence"] == 1.0
