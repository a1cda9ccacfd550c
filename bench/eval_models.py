#!/usr/bin/env python3
"""Quality of the default models on data they never saw: leave-event-out and leave-dataset-out.

Every quality figure in bench/results/models.md (linked from docs/models.md) comes from here. The rows are exactly the ones ``crisislake
train`` fits on (deduplicated, conflicts resolved, English; ``train_job.english_training_rows``);
the default model (``train_job.LINEAR_FEATURES`` / ``LINEAR_HEADS``) and the baseline (scikit-learn
``TfidfVectorizer`` word 1-2-grams + char_wb 2-5-grams, ``LogisticRegression(C=4,
class_weight="balanced")``) are fitted on the same training side of each split and scored on the
same held-out side, in the same run.

Splits (groups are events; Kaggle keywords for Kaggle rows; Blue Witness text buckets):

* ``leave-event-out``: the 4 grouped folds ``train`` uses, each held out in turn (out-of-fold
  predictions: every event scored once by a model that never saw it). Binary tasks decide at the
  threshold that is F1-best on the *other* folds' out-of-fold predictions (the held-out fold's
  labels never choose it), and at 0.5.
* ``later-events`` (disaster_type, information_type): trained on CrisisLex events that started
  before 2013-07-01, scored on the later ones.
* ``leave-dataset-out``: trained on one collection, scored on another (see each task).

Usage: ``PYTHONPATH=lib .venv/bin/python bench/eval_models.py`` (all tasks, ~1 h on 2 quiet
cores with the baseline). ``EVAL_TASKS=relevance,information_type`` picks tasks,
``EVAL_BASELINE=0`` skips the baseline, ``EVAL_HEAD='{"c": 1}'`` / ``EVAL_FEATURES='{"char_sizes":
[3, 4]}'`` try other settings of the default model, ``EVAL_OUT=path.md`` also writes the report there
(default ``bench/results/models.md``; ``-`` = stdout only).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

TASKS = [t for t in os.environ.get(
    "EVAL_TASKS", "relevance,police_force,disaster_type,information_type,force_rank").split(",") if t]
BASELINE = os.environ.get("EVAL_BASELINE", "1") != "0"
OUT = os.environ.get("EVAL_OUT", str(ROOT / "bench" / "results" / "models.md"))
MAIN_TYPES = ["earthquake", "flood", "hurricane", "wildfire"]
LATER = "2013-07-01"
# Start dates of the CrisisLex events (T26 start_day, corrected for the Brazil nightclub fire of
# 2013-01-27; T6 from the papers), for the later-events split.
EVENT_START = {
    "2012_colorado_wildfires": "2012-06-08", "2012_costa_rica_earthquake": "2012-09-04",
    "2012_guatemala_earthquake": "2012-11-06", "2012_italy_earthquakes": "2012-05-18",
    "2012_philipinnes_floods": "2012-08-01", "2012_typhoon_pablo": "2012-11-24",
    "2012_venezuela_refinery": "2012-08-24", "2012_sandy_hurricane": "2012-10-28",
    "2013_alberta_floods": "2013-06-17", "2013_australia_bushfire": "2013-10-12",
    "2013_bohol_earthquake": "2013-10-14", "2013_boston_bombings": "2013-04-15",
    "2013_brazil_nightclub_fire": "2013-01-27", "2013_colorado_floods": "2013-09-08",
    "2013_glasgow_helicopter_crash": "2013-11-29", "2013_la_airport_shootings": "2013-11-01",
    "2013_lac_megantic_train_crash": "2013-07-06", "2013_manila_floods": "2013-08-17",
    "2013_ny_train_crash": "2013-12-01", "2013_queensland_floods": "2013-01-17",
    "2013_russia_meteor": "2013-02-14", "2013_sardinia_floods": "2013-11-16",
    "2013_savar_building_collapse": "2013-04-23", "2013_singapore_haze": "2013-06-17",
    "2013_spain_train_crash": "2013-07-24", "2013_typhoon_yolanda": "2013-11-02",
    "2013_west_texas_explosion": "2013-04-17", "2013_oklahoma_tornado": "2013-05-20",
}


def baseline_model():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    features = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
    ])
    return make_pipeline(features, LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced"))


class Models:
    """Fits the default model and the baseline on row subsets; returns held-out probabilities."""

    def __init__(self, spec, rows):
        from crisislake.nlp.linear_training import count_matrix
        from crisislake.nlp.train_job import LINEAR_HEADS, linear_features

        self.spec, self.rows = spec, rows
        self.params, self.head = linear_features(spec.name), LINEAR_HEADS[spec.name]
        # Variants without editing the defaults: EVAL_HEAD / EVAL_FEATURES hold JSON field overrides.
        self.head = dataclasses.replace(self.head, **json.loads(os.environ.get("EVAL_HEAD", "{}")))
        feats = json.loads(os.environ.get("EVAL_FEATURES", "{}"))
        if "char_sizes" in feats:
            feats["char_sizes"] = tuple(feats["char_sizes"])
        self.params = dataclasses.replace(self.params, **feats)
        self.counts = count_matrix(rows["text"].tolist(), self.params)
        self.y = rows["label"].astype(str).to_numpy()
        self.groups, self.sources = rows["group"].to_numpy(), rows["source"].to_numpy()
        self.seconds = {"model": 0.0, "baseline": 0.0}

    def proba(self, which: str, train_at, test_at):
        """Probabilities (task label order) for ``test_at`` from a model fitted on ``train_at``."""
        from crisislake.nlp.linear_training import fit_model, predict_counts

        started = time.process_time()
        if which == "model":
            model = fit_model(self.spec.name, self.spec.labels, self.counts[train_at], self.y[train_at],
                              self.params, self.head, self.groups[train_at], self.sources[train_at])
            out = predict_counts(model, self.counts[test_at])
        else:
            texts = self.rows["text"].to_numpy()
            base = baseline_model().fit(texts[train_at], self.y[train_at])
            raw = base.predict_proba(texts[test_at])
            out = np.zeros((len(test_at), len(self.spec.labels)))
            for i, lab in enumerate(base.classes_):
                out[:, self.spec.labels.index(str(lab))] = raw[:, i]
        self.seconds[which] += time.process_time() - started
        return out


def report(spec, gold, pred, labels=None):
    from crisislake.nlp.metrics import classification_report, pair_counts_from

    pairs = [(g, p) for g, p in zip(gold, pred) if labels is None or g in labels]
    return classification_report(pair_counts_from(pairs), spec.positive, spec.labels)


def decide(spec, prob, threshold=None):
    """Labels from probabilities: argmax, or for binary tasks positive at ``threshold``."""
    if spec.binary and threshold is not None:
        pos = spec.labels.index(spec.positive)
        other = next(lab for lab in spec.labels if lab != spec.positive)
        return np.where(prob[:, pos] >= threshold, spec.positive, other)
    return np.asarray(spec.labels)[prob.argmax(axis=1)]


def other_folds_threshold(spec, prob, gold, fold, f):
    from crisislake.nlp.metrics import best_f1_threshold

    at = fold != f
    pos = spec.labels.index(spec.positive)
    return best_f1_threshold([(float(p), g == spec.positive) for p, g in zip(prob[at, pos], gold[at])])


def event_folds(spec, rows, k: int = 4) -> np.ndarray:
    """Each row's fold among the ``k`` grouped folds ``train`` uses (-1: a training-only source)."""
    from crisislake.nlp.training import fold_assignment, train_only_sources

    groups = rows.groupby("group").agg(n=("label", "size"), n_labels=("label", "nunique"),
                                       label=("label", "min"), source=("source", "min"))
    single = not spec.binary and bool((groups["n_labels"] == 1).all())
    train_only = train_only_sources(spec.name)
    fold_of = fold_assignment([(g, int(r.n), r.label, r.source) for g, r in groups.iterrows()], k, single, train_only)
    return rows["group"].map(fold_of).to_numpy()


def leave_event_out(models: Models, which: str):
    """Out-of-fold probabilities over the 4 grouped folds ``train`` uses, and the folds."""
    rows, spec = models.rows, models.spec
    fold = event_folds(spec, rows)
    prob = np.zeros((len(rows), len(spec.labels)))
    for f in range(4):
        prob[fold == f] = models.proba(which, np.nonzero(fold != f)[0], np.nonzero(fold == f)[0])
    return prob, fold


def fmt_rep(rep, spec, labels=None):
    if spec.binary:
        return f"F1 {rep['f1']:.3f} (P {rep['precision']:.3f} / R {rep['recall']:.3f})"
    return f"macro-F1 {rep['macro_f1']:.3f}, weighted-F1 {rep['weighted_f1']:.3f}, accuracy {rep['accuracy']:.3f}"


def per_class_table(rep, title):
    lines = [f"\n{title}\n", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for lab, c in rep["per_class"].items():
        if c["support"]:
            lines.append(f"| {lab} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    return lines


def training_rows(task: str):
    """The task's training rows as ``train`` prepares them (cached in ``EVAL_CACHE`` if set)."""
    import pandas as pd
    from crisislake.nlp.tasks import get_task
    from crisislake.nlp.train_job import english_training_rows, to_pandas_sorted

    cache = Path(os.environ["EVAL_CACHE"]) / f"{task}.pkl" if os.environ.get("EVAL_CACHE") else None
    if cache is not None and cache.is_file():
        return pd.read_pickle(cache)
    english, _, _, resolved = english_training_rows(spark_session(), CONFIG, get_task(task))
    rows = to_pandas_sorted(english)
    resolved.unpersist()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        rows.to_pickle(cache)
    return rows


def evaluate_task(task, out):
    from crisislake.nlp.tasks import get_task

    spec = get_task(task)
    rows = training_rows(task)
    models = Models(spec, rows)
    kinds = ["model"] + (["baseline"] if BASELINE else [])
    out.append(f"\n## {task}\n\n{len(rows)} deduplicated English rows "
               f"({', '.join(f'{k} {v}' for k, v in rows['source'].value_counts().items())}).\n")
    out.append("| split | held-out rows | default model | TF-IDF + LR baseline |")
    out.append("|---|---|---|---|")
    details = []
    for split, train_at, test_at, labels, note in splits(spec, rows):
        cells, reps = [], {}
        for which in kinds:
            if split == "leave-event-out":
                prob, fold = cache_leo(models, which)
                at = np.arange(len(rows)) if test_at is None else test_at
                gold = models.y
                if spec.binary:
                    pred = np.empty(len(rows), dtype=object)
                    for f in sorted(set(fold) - {-1}):
                        t = other_folds_threshold(spec, prob, gold, fold, f)
                        pred[fold == f] = decide(spec, prob[fold == f], t)
                    at = at[fold[at] >= 0]
                    rep = report(spec, gold[at], pred[at], labels)
                    rep05 = report(spec, gold[at], decide(spec, prob[at], 0.5), labels)
                    cells.append(f"{fmt_rep(rep, spec)}; at 0.5: F1 {rep05['f1']:.3f}")
                else:
                    at = at[fold[at] >= 0]
                    rep = report(spec, gold[at], decide(spec, prob[at]), labels)
                    cells.append(fmt_rep(rep, spec))
                n = int(sum(1 for g in gold[at] if labels is None or g in labels))
            else:
                prob = models.proba(which, train_at, test_at)
                rep = report(spec, models.y[test_at], decide(spec, prob, 0.5 if spec.binary else None), labels)
                cells.append(fmt_rep(rep, spec))
                n = int(sum(1 for g in models.y[test_at] if labels is None or g in labels))
            reps[which] = rep
        out.append(f"| {split}{note} | {n} | {cells[0]} | {cells[1] if len(cells) > 1 else 'not run'} |")
        details += per_class_table(reps["model"], f"Per class, default model, {split}{note}:")
    extra_dataset_checks(spec, rows, models, out)
    out += details
    out.append(f"\nCPU seconds for fits and scoring: default model {models.seconds['model']:.0f}, "
               f"baseline {models.seconds['baseline']:.0f}.")


_LEO = {}


def cache_leo(models, which):
    key = (models.spec.name, which)
    if key not in _LEO:
        _LEO[key] = leave_event_out(models, which)
    return _LEO[key]


def splits(spec, rows):
    """``(name, train rows, test rows, gold labels scored, note)``; leave-event-out has no train rows."""
    src = rows["source"].to_numpy()
    group = rows["group"].to_numpy()
    idx = np.arange(len(rows))
    if spec.name == "relevance":
        kaggle = src == "kaggle"
        yield "leave-event-out", None, None, None, ": all rows"
        yield "leave-event-out", None, idx[kaggle], None, ": Kaggle rows (unseen keywords)"
        yield "leave-event-out", None, idx[~kaggle], None, ": CrisisLex rows (unseen events)"
        if kaggle.any():
            yield "leave-dataset-out", idx[~kaggle], idx[kaggle], None, ": CrisisLex -> Kaggle, at 0.5"
            yield "leave-dataset-out", idx[kaggle], idx[~kaggle], None, ": Kaggle -> CrisisLex, at 0.5"
    elif spec.name == "police_force":
        cited = src == "pb2020_cited"
        yield "leave-event-out", None, None, None, ": text buckets + 2020PB-cited"
        yield "leave-event-out", None, idx[~cited], None, ": Blue Witness rows"
        yield "leave-dataset-out", idx[~cited], idx[cited], None, ": Blue Witness -> 2020PB-cited tweets (all positive: F1 = 2R/(1+R))"
    elif spec.name in ("disaster_type", "information_type"):
        labels = MAIN_TYPES if spec.name == "disaster_type" else None
        note = " (main types)" if labels else ""
        yield "leave-event-out", None, None, labels, note
        start = np.asarray([EVENT_START.get(g, "") for g in group])
        known = start != ""
        later, earlier = idx[known & (start >= LATER)], idx[known & (start < LATER)]
        yield "later-events", earlier, later, labels, f"{note}: events before {LATER} -> after"
        if spec.name == "disaster_type" and (src == "kaggle").any():
            yield ("leave-dataset-out", idx[src != "kaggle"], idx[src == "kaggle"], labels,
                   f"{note}: CrisisLex -> Kaggle keyword rows (2015)")
        if spec.name == "disaster_type":
            yield "leave-event-out", None, None, None, " (all 11 types)"
    else:
        yield "leave-event-out", None, None, None, ""


def extra_dataset_checks(spec, rows, models, out):
    """information_type has one labelled collection; check its not_humanitarian side on others."""
    if spec.name != "information_type":
        return
    from crisislake.nlp.linear_training import count_matrix, fit_model, predict_counts

    rel = training_rows("relevance")
    other = rel[rel["source"] != "crisislex_t26"]
    model = fit_model(spec.name, spec.labels, models.counts, models.y, models.params, models.head, models.groups,
                      models.sources)
    pred = decide(spec, predict_counts(model, count_matrix(other["text"].tolist(), models.params)))
    is_not = pred == "not_humanitarian"
    lines = ["\nLeave-dataset-out for information_type (no other collection has its 7 labels): the model "
             "fitted on all CrisisLexT26 rows, scored on the other collections' relevance labels; "
             "'not related' should be not_humanitarian, 'related' should be one of the six others.\n",
             "| collection | rows | not related -> not_humanitarian (recall) | related -> a humanitarian type (recall) |",
             "|---|---|---|---|"]
    for name in sorted(other["source"].unique()):
        part = other["source"].to_numpy() == name
        lab = other["label"].to_numpy()[part]
        hit = is_not[part]
        lines.append(f"| {name} | {int(part.sum())} | {np.mean(hit[lab == '0']):.3f} of {int((lab == '0').sum())} | "
                     f"{np.mean(~hit[lab == '1']):.3f} of {int((lab == '1').sum())} |")
    out += lines


SPARK = CONFIG = None


def spark_session():
    """The Spark session, started the first time rows are not in the cache."""
    global SPARK
    if SPARK is None:
        from crisislake.session import build_spark

        SPARK = build_spark(CONFIG.spark, app_name="eval-models")
    return SPARK


def main() -> int:
    global CONFIG
    from crisislake.config import load_config

    CONFIG = load_config("local", overrides=["spark.driver_memory=3g", "spark.shuffle_partitions=4"])
    started = time.time()
    out = [f"# Model quality on unseen events and datasets\n\nWritten by `bench/eval_models.py` "
           f"({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} cores, "
           f"Python {platform.python_version()}; load average at start {os.getloadavg()[0]:.1f}). "
           f"Command: `EVAL_TASKS={','.join(TASKS)} PYTHONPATH=lib .venv/bin/python bench/eval_models.py`"
           + "".join(f"; {k}={os.environ[k]}" for k in ("EVAL_HEAD", "EVAL_FEATURES", "EVAL_BASELINE")
                     if os.environ.get(k)) + "."]
    try:
        for task in TASKS:
            evaluate_task(task, out)
            print("\n".join(out), flush=True) if OUT == "-" else None
    finally:
        if SPARK is not None:
            SPARK.stop()
    out.append(f"\nTotal {time.time() - started:.0f} s wall; load average at the end {os.getloadavg()[0]:.1f}.")
    text = "\n".join(out) + "\n"
    print(text)
    if OUT != "-":
        Path(OUT).parent.mkdir(parents=True, exist_ok=True)
        Path(OUT).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
