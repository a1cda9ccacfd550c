"""Pure-Python scores and thresholds (no Spark)."""
from __future__ import annotations

import pytest
from crisislake.nlp.data import kaggle_keyword_type
from crisislake.nlp.evaluate_job import build_gold_mapping
from crisislake.nlp.metrics import best_f1_threshold, choose_threshold, classification_report
from crisislake.nlp.tasks import TASKS, normalise_label
from crisislake.nlp.training import TRAIN_ONLY_FOLD, assign_folds, fold_assignment


def test_report_macro_f1_averages_only_gold_labels():
    # gold a: 2 rows (1 right, 1 predicted c); gold b: 1 row right. c never occurs in gold.
    pairs = {("a", "a"): 1, ("a", "c"): 1, ("b", "b"): 1}
    report = classification_report(pairs)
    # F1(a) = 2*1*0.5/1.5 = 0.666667, F1(b) = 1.0; c is not averaged
    assert report["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2, abs=1e-6)
    assert report["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert report["confusion_matrix"] == {"labels": ["a", "b", "c"], "matrix": [[1, 0, 1], [0, 1, 0], [0, 0, 0]]}
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_report_binary_positive_class_figures():
    pairs = {("1", "1"): 6, ("1", "0"): 2, ("0", "1"): 3, ("0", "0"): 9}
    report = classification_report(pairs, positive="1", label_order=["0", "1"])
    assert report["precision"] == pytest.approx(6 / 9, abs=1e-6)
    assert report["recall"] == pytest.approx(6 / 8, abs=1e-6)
    assert report["f1"] == pytest.approx(2 * (6 / 9) * (6 / 8) / (6 / 9 + 6 / 8), abs=1e-6)
    assert report["per_class"]["0"]["support"] == 12
    assert report["confusion_matrix"]["matrix"] == [[9, 3], [2, 6]]


def test_choose_threshold_takes_lowest_score_reaching_target_precision():
    scored = [(0.99, True), (0.95, True), (0.9, False), (0.85, True), (0.8, True), (0.7, False), (0.6, False)]
    # accepting down to 0.8: 4 TP, 1 FP -> precision 0.8; down to 0.7: 4/6 -> below 0.8
    chosen = choose_threshold(scored, 0.8, min_accepted=1)
    assert chosen == {"threshold": 0.8, "precision": 0.8, "recall": 1.0, "reached": 1.0}


def test_choose_threshold_reports_unreached_target():
    scored = [(0.9, False), (0.8, True), (0.7, False)]
    chosen = choose_threshold(scored, 0.95, min_accepted=1)
    assert chosen["reached"] == 0.0
    assert chosen["threshold"] == 0.8  # best precision (1/2) among thresholds >= 0.5


def test_best_f1_threshold_moves_below_half_when_positives_score_low():
    scored = [(0.45, True), (0.44, True), (0.2, False), (0.9, True)]
    assert best_f1_threshold(scored) == 0.3


def test_binary_gold_labels_accept_bools_and_numbers():
    spec = TASKS["police_force"]
    assert [normalise_label(spec, v) for v in (1, 0, "1", "0", True, "false", 1.0, "maybe")] == [
        "1", "0", "1", "0", "1", "0", "1", None]


def test_label_map_skips_labels_it_does_not_name():
    mapping = build_gold_mapping(TASKS["relevance"], ["Relevant", "Not relevant", "Unsure"],
                                 {"Relevant": 1, "not relevant": "0"})
    assert mapping == {"Relevant": "1", "Not relevant": "0"}


def test_assign_folds_keeps_each_group_in_one_fold_and_balances():
    folds = assign_folds({"e1": 100, "e2": 60, "e3": 50, "e4": 45}, 2)
    assert folds == {"e1": 0, "e2": 1, "e3": 1, "e4": 0}


def test_assign_folds_with_labels_spreads_each_labels_groups_over_folds():
    # flood first (same group count, name order): e3 -> fold 0, e4 -> fold 1 (unused by flood);
    # hurricane: e1 -> fold 1 (load 10 < 20), e2 -> fold 0 (fold 1 already has a hurricane).
    sizes = {"e1": 100, "e2": 90, "e3": 20, "e4": 10}
    labels = {"e1": "hurricane", "e2": "hurricane", "e3": "flood", "e4": "flood"}
    assert assign_folds(sizes, 2, labels) == {"e1": 1, "e2": 0, "e3": 0, "e4": 1}


def test_fold_assignment_keeps_training_only_sources_out_of_every_fold():
    rows = [("e1", 50, "flood", "crisislex_t26"), ("e2", 40, "flood", "crisislex_t6"),
            ("e3", 30, "tornado", "crisislex_t26"), ("kaggle:tornado", 20, "tornado", "kaggle")]
    folds = fold_assignment(rows, 2, True, ("kaggle",))
    # tornado (1 held-out group) first: e3 -> fold 0; flood: e1 -> fold 1 (fold 0 is fuller), e2 -> fold 0
    assert folds == {"e3": 0, "e1": 1, "e2": 0, "kaggle:tornado": TRAIN_ONLY_FOLD}


def test_kaggle_keyword_map_is_conservative():
    assert [kaggle_keyword_type(k) for k in ("earthquake", "bush%20fires", "cyclone", "derailment",
                                             "bomb", "exploded", "whirlwind", "structural%20failure", "fire")] == [
        "earthquake", "wildfire", "hurricane", "transport_accident", None, None, None, None, None]
