#!/usr/bin/env python3
"""Tweet classification: the Spark pipeline vs scikit-learn TF-IDF + LR, same splits, same run.

For each task (``BENCH_TASKS``, default relevance,disaster_type,police_force,force_rank) the
deduplicated training data is split by event (group) into folds with the same assignment as
``crisislake train`` (:func:`crisislake.nlp.training.fold_assignment`: each disaster type's
events spread over the folds; Kaggle keyword rows are training-only for disaster_type). Fold 0 is
held out, or, for the tasks in ``BENCH_CV_TASKS`` (default disaster_type), every fold in turn
(out-of-fold predictions, so every CrisisLex event is scored once by a model that never saw it).
Both models train on the same rows and are scored at their default decision (argmax). The Spark
text features are computed once and cached; each fold fits only the head (as ``train`` does).

Then throughput: 100,000 tweets (``BENCH_SCALE`` scales it) from Parquet classified by the
Spark relevance model loaded once (noop sink), and by the scikit-learn model. Wall seconds and
CPU-seconds (driver JVM user+sys from /proc, plus this Python process) are printed for every
fit and for scoring: on this shared machine CPU-seconds are the load-independent figure.

Usage: ``PYTHONPATH=lib .venv/bin/python bench/bench_classify.py`` (``BENCH_SCALE=0.05`` for a
quick check, ``BENCH_FOLDS`` folds, default 4). The Spark head is the task's as ``train`` fits
it (``train_job.task_head``: C, lexicon); ``BENCH_C=4`` forces one C for every task;
``BENCH_KEEP_RETWEET=0`` deletes the leading "RT @user:" again, as models before 2026-11-28 did;
``BENCH_MAX_ITER`` overrides the head's LBFGS iteration cap (to check it converged);
``BENCH_LEXICON`` the weight of the disaster-type lexicon features (0 = off; default the task's).
"""
from __future__ import annotations

import dataclasses
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from proc_memory import vm_hwm_mb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
N_THROUGHPUT = int(100_000 * SCALE)
TASKS = [t for t in os.environ.get("BENCH_TASKS", "relevance,disaster_type,police_force,force_rank").split(",") if t]
CV_TASKS = set(os.environ.get("BENCH_CV_TASKS", "disaster_type").split(","))
FOLDS = int(os.environ.get("BENCH_FOLDS", "4"))
# Spark head variants: min_groups (drop hashed features seen in fewer training events) per task.
MIN_GROUPS = {"disaster_type": [int(x) for x in os.environ.get("BENCH_DT_MIN_GROUPS", "2,1").split(",")]}
TICK = os.sysconf("SC_CLK_TCK")


class CpuClock:
    """Wall and CPU seconds (driver JVM + this Python process) between ``start`` and ``stop``."""

    def __init__(self, jvm_pid):
        self.jvm_pid = jvm_pid

    def _cpu(self):
        own = resource.getrusage(resource.RUSAGE_SELF)
        jvm = 0.0
        if self.jvm_pid:
            fields = Path(f"/proc/{self.jvm_pid}/stat").read_text().rsplit(")", 1)[1].split()
            jvm = (int(fields[11]) + int(fields[12])) / TICK
        return jvm, own.ru_utime + own.ru_stime

    def __enter__(self):
        self.t0, (self.j0, self.p0) = time.monotonic(), self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        jvm, py = self._cpu()
        self.jvm, self.py = jvm - self.j0, py - self.p0
        self.cpu = self.jvm + self.py

    def __str__(self):
        return f"{self.wall:.1f} s wall, {self.cpu:.1f} CPU-s (JVM {self.jvm:.1f}, Python {self.py:.1f})"


def sklearn_baseline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    features = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
    ])
    return make_pipeline(features, LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced"))


def report(spec, gold, pred):
    from crisislake.nlp.metrics import classification_report, pair_counts_from

    return classification_report(pair_counts_from(zip(gold, pred)), spec.positive, spec.labels)


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def multi_event_macro_f1(rep, events_per_label):
    """Macro-F1 over the gold labels that have >= 2 events (a single-event class held out is unseen)."""
    labs = [lab for lab, n in events_per_label.items() if n >= 2 and rep["per_class"].get(lab, {}).get("support")]
    return sum(rep["per_class"][lab]["f1"] for lab in labs) / max(len(labs), 1), labs


def spark_fit(ctx, exclude_folds):
    """Fit the Spark head on the cached features of every fold but ``exclude_folds``."""
    from crisislake.nlp import features as feat
    from crisislake.nlp.training import features_in_groups, with_class_weights
    from pyspark.sql import functions as F

    counts = ctx.pdf[~ctx.pdf["fold"].isin(exclude_folds)]["label"].value_counts().to_dict()
    keep = (features_in_groups(ctx.group_features, ctx.min_groups, exclude_folds[0])
            if ctx.group_features is not None and len(exclude_folds) == 1 else
            features_in_groups(ctx.group_features.where(~F.col("fold").isin(*exclude_folds)), ctx.min_groups)
            if ctx.group_features is not None else None)
    train_sdf = ctx.sdf.where(~F.col("fold").isin(*exclude_folds)).transform(with_class_weights(counts))
    return feat.fit_head(feat.head_stages(
        ctx.spec.labels, ctx.fparams, ctx.hparams, weight_col="weight", n_rows=int(sum(counts.values())),
        keep_features=keep), train_sdf)


def spark_predict(sdf, fitted, fold, pos):
    """(gold, predicted label, probability of label index ``pos``) for the rows of ``fold``."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    out = fitted.transform(sdf.where(F.col("fold") == fold)).select(
        "label", "predicted_label", vector_to_array("probability")[pos].alias("p"))
    return [(r["label"], r["predicted_label"], r["p"]) for r in out.collect()]


def throughput(spark, jvm_pid, relevance_models):
    """Score N_THROUGHPUT tweets with the relevance model loaded once (noop sink) and with sklearn."""
    import pandas as pd
    from pyspark.ml import PipelineModel
    from pyspark.sql import functions as F

    if N_THROUGHPUT > 0:
        model, baseline, texts = relevance_models
        reps = N_THROUGHPUT // len(texts) + 1
        corpus = [f"{t} #{i}" for i in range(reps) for t in texts][:N_THROUGHPUT]
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/tweets.parquet"
            spark.createDataFrame(pd.DataFrame({"tweet_id": range(len(corpus)), "text": corpus})) \
                .repartition(2).write.parquet(path)
            tweets = spark.read.parquet(path)
            tweets.count()
            saved = f"{tmp}/model"
            model.write().save(saved)
            loaded = PipelineModel.load(saved)  # loaded once
            load = os.getloadavg()[0]
            with CpuClock(jvm_pid) as clock:
                (loaded.transform(tweets).select("tweet_id", "predicted_label", F.col("probability"))
                 .write.format("noop").mode("overwrite").save())
        with CpuClock(None) as sk_clock:
            baseline.predict(corpus)
        print(f"\nthroughput on {len(corpus)} tweets (relevance model, loaded once, 2 partitions, "
              f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}):")
        print(f"  spark pipeline    {len(corpus) / clock.wall:>7.0f} tweets/s wall, "
              f"{len(corpus) / clock.cpu:>7.0f} tweets per CPU-s  ({clock})")
        print(f"  sklearn baseline  {len(corpus) / sk_clock.wall:>7.0f} tweets/s wall, "
              f"{len(corpus) / sk_clock.cpu:>7.0f} tweets per CPU-s  ({sk_clock}, one Python process)")


def main() -> int:
    from crisislake.config import load_config
    from crisislake.nlp import data
    from crisislake.nlp import features as feat
    from crisislake.nlp.metrics import best_f1_threshold
    from crisislake.nlp.tasks import get_task
    from crisislake.nlp.text import looks_non_english
    from crisislake.nlp.train_job import task_head
    from crisislake.nlp.training import (
        TRAIN_ONLY_SOURCES,
        fold_assignment,
        with_group_features,
        with_label_index,
    )
    from crisislake.session import build_spark
    from pyspark import StorageLevel

    config = load_config("local", overrides=["spark.driver_memory=3g", "spark.shuffle_partitions=4"])
    fparams = feat.FeatureParams()
    if os.environ.get("BENCH_NUM_FEATURES"):  # try another hashing width without editing the defaults
        fparams = dataclasses.replace(fparams, num_features=int(os.environ["BENCH_NUM_FEATURES"]))
    if os.environ.get("BENCH_KEEP_RETWEET"):
        fparams = dataclasses.replace(fparams, keep_retweet=os.environ["BENCH_KEEP_RETWEET"] == "1")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"BENCH_SCALE={SCALE}; load average {os.getloadavg()[0]:.1f}; features {fparams.to_dict()}")
    spark = build_spark(config.spark, app_name="bench-classify")
    try:
        jvm_pid = spark.sparkContext._gateway.proc.pid
    except AttributeError:
        jvm_pid = None
    rows_out = []
    for task in TASKS:
        spec = get_task(task)
        # The task's head as `train` fits it (min_groups variants come from MIN_GROUPS instead),
        # with the BENCH_* overrides.
        overrides = {field: kind(os.environ[name]) for field, name, kind in (
            ("c", "BENCH_C", float), ("lexicon_weight", "BENCH_LEXICON", float), ("max_iter", "BENCH_MAX_ITER", int))
            if os.environ.get(name)}
        hparams = dataclasses.replace(task_head(task), **overrides)
        raw, _ = data.load_training_data(spark, spec, config.models.extra_training_dir)
        # English texts only, as `train` keeps (text.looks_non_english).
        pdf = (data.resolve_conflicts(raw).where(~looks_non_english("text"))
               .select("text", "label", "group", "source").toPandas())
        if SCALE < 1.0:
            pdf = pdf.sample(frac=max(SCALE, 0.05), random_state=1)
        stats = pdf.groupby("group").agg(n=("label", "size"), n_labels=("label", "nunique"),
                                         label=("label", "first"), source=("source", "min"))
        single = not spec.binary and (stats["n_labels"] == 1).all()
        train_only = TRAIN_ONLY_SOURCES.get(task, ())
        fold_of = fold_assignment([(g, r.n, r.label, r.source) for g, r in stats.iterrows()], FOLDS, single, train_only)
        pdf["fold"] = pdf["group"].map(fold_of).astype(int)
        eval_folds = list(range(FOLDS)) if task in CV_TASKS else [0]
        pos = spec.labels.index(spec.positive) if spec.binary else 0
        neg = next((lab for lab in spec.labels if lab != spec.positive), None)

        # Spark: featurise every row once (cached), fit the head per fold (and per head variant).
        spark_results = []
        with CpuClock(jvm_pid) as feat_clock:
            text_model = feat.fit_text_model(spark.createDataFrame(pdf[["text"]].head(10)), "text", fparams)
            featurised = text_model.transform(spark.createDataFrame(pdf[["text", "label", "group", "fold"]]))
            sdf = (featurised.transform(with_label_index(spec.labels))
                   .select("label", "label_idx", "fold", *feat.head_input_columns(hparams))
                   .persist(StorageLevel.MEMORY_AND_DISK))
            sdf.count()
        for min_groups in MIN_GROUPS.get(task, [1]):
            with CpuClock(jvm_pid) as spark_clock:
                group_features = None
                if min_groups > 1:
                    group_features = featurised.transform(with_group_features()).persist()
                spark_pairs, head, spark_val = [], None, []
                ctx = SimpleNamespace(pdf=pdf, sdf=sdf, spec=spec, fparams=fparams, hparams=hparams,
                                      group_features=group_features, min_groups=min_groups)

                for fold in eval_folds:
                    head = spark_fit(ctx, [fold])
                    spark_pairs += spark_predict(sdf, head, fold, pos)
                if spec.binary:  # decision threshold chosen on fold 1 by a model fitted without folds 0-1
                    spark_val = spark_predict(sdf, spark_fit(ctx, [0, 1]), 1, pos)
                if group_features is not None:
                    group_features.unpersist()
            spark_results.append((min_groups, report(spec, [g for g, _, _ in spark_pairs], [p for _, p, _ in spark_pairs]),
                                  spark_clock, len(spark_pairs), head))
            if spec.binary:
                thr = best_f1_threshold([(p, g == spec.positive) for g, _, p in spark_val])
                at_thr = report(spec, [g for g, _, _ in spark_pairs],
                                [spec.positive if p >= thr else neg for _, _, p in spark_pairs])
        sdf.unpersist()
        lr = head.stages[-2]
        iters = lr.summary.totalIterations if lr.hasSummary else "?"
        print(f"\n[{task}] Spark featurisation of {len(pdf)} rows: {feat_clock}; head C {hparams.c:g}, lexicon "
              f"{hparams.lexicon_weight:g}; last head: "
              f"{iters} LBFGS iterations of max {hparams.max_iter}")
        _, spark_rep, spark_clock, n_test, head = spark_results[0]

        with CpuClock(None) as sk_clock:
            sk_pairs, sk_probs, baseline = [], [], None
            for fold in eval_folds:
                train, test = pdf[pdf["fold"] != fold], pdf[pdf["fold"] == fold]
                baseline = sklearn_baseline().fit(train["text"], train["label"])
                sk_pairs += list(zip(test["label"], baseline.predict(test["text"])))
                if spec.binary:  # held-out probabilities, scored at the fold-1 threshold like Spark's
                    positive = baseline.predict_proba(test["text"])[:, list(baseline.classes_).index(spec.positive)]
                    sk_probs += list(zip(test["label"], positive))
            if spec.binary:
                val_model = sklearn_baseline().fit(pdf[~pdf["fold"].isin([0, 1])]["text"], pdf[~pdf["fold"].isin([0, 1])]["label"])
                val = pdf[pdf["fold"] == 1]
                sk_pv = val_model.predict_proba(val["text"])[:, list(val_model.classes_).index(spec.positive)]
                sk_thr = best_f1_threshold([(p, g == spec.positive) for p, g in zip(sk_pv, val["label"])])
                sk_at_thr = report(spec, [g for g, _ in sk_probs],
                                   [spec.positive if p >= sk_thr else neg for _, p in sk_probs])
        sk_rep = report(spec, *zip(*sk_pairs))

        held_out = sorted(g for g, f in fold_of.items() if f in eval_folds)
        how = f"{len(eval_folds)}-fold CV (out-of-fold)" if len(eval_folds) > 1 else f"fold 0 of {FOLDS}"
        print(f"[{task}] {how}: {n_test} held-out rows from {len(held_out)} groups; "
              f"{int((pdf['fold'] == -1).sum())} training-only rows ({', '.join(train_only) or 'none'}); "
              f"held out: {', '.join(held_out[:12])}{' ...' if len(held_out) > 12 else ''}")
        print(f"  {'model':<26}{'precision':>10}{'recall':>8}{'f1':>8}{'macro_f1':>10}{'acc':>8}  fits + scoring")
        for name, rep, clock in [(f"spark (min_groups {mg})" if len(spark_results) > 1 else "spark pipeline + LR",
                                  r, c) for mg, r, c, _, _ in spark_results] + [("sklearn tfidf + LR", sk_rep, sk_clock)]:
            p, r, f1 = (rep["precision"], rep["recall"], rep["f1"]) if spec.binary else ("-", "-", "-")
            print(f"  {name:<26}{_fmt(p):>10}{_fmt(r):>8}{_fmt(f1):>8}{rep['macro_f1']:>10.3f}{rep['accuracy']:>8.3f}"
                  f"  {clock}")
        if spec.binary:
            print(f"  at the F1-best threshold chosen on fold 1 (models fitted without folds 0-1): spark "
                  f"t={thr:.2f} P {at_thr['precision']:.3f} R {at_thr['recall']:.3f} F1 {at_thr['f1']:.3f}; "
                  f"sklearn t={sk_thr:.2f} P {sk_at_thr['precision']:.3f} R {sk_at_thr['recall']:.3f} "
                  f"F1 {sk_at_thr['f1']:.3f}")
        if not spec.binary:
            if single:
                per_label = (stats[~stats["source"].isin(list(train_only))]
                             .groupby("label").size().to_dict())
                for name, rep in [(f"spark (min_groups {mg})", r) for mg, r, _, _, _ in spark_results] + [
                        ("sklearn", sk_rep)]:
                    m, labs = multi_event_macro_f1(rep, per_label)
                    print(f"  {name}: macro-F1 over classes with >= 2 held-out events ({len(labs)}): {m:.3f}")
                print("  classes with one event only: " + ", ".join(
                    sorted(lab for lab, n in per_label.items() if n == 1)))
            print("  per-class F1 (spark / sklearn): " + ", ".join(
                f"{lab} {spark_rep['per_class'][lab]['f1']:.2f}/{sk_rep['per_class'].get(lab, {}).get('f1', 0):.2f}"
                for lab in spark_rep["per_class"] if spark_rep["per_class"][lab]["support"]))
            cm = spark_rep["confusion_matrix"]
            if "hurricane" in cm["labels"] and "flood" in cm["labels"]:
                h, fl = cm["labels"].index("hurricane"), cm["labels"].index("flood")
                print(f"  spark hurricane->flood {cm['matrix'][h][fl]} of {sum(cm['matrix'][h])}, "
                      f"flood->hurricane {cm['matrix'][fl][h]} of {sum(cm['matrix'][fl])}")
        rows_out.append((task, spark_rep, sk_rep))
        if task == "relevance":  # throughput right away, so it is measured even if a later task runs long
            throughput(spark, jvm_pid, (feat.combine(text_model, head), baseline, pdf["text"].tolist()))

    print(f"\npeak memory: python driver {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
          f"JVM {vm_hwm_mb(jvm_pid) if jvm_pid else float('nan'):.0f} MB")
    print("\nsummary (held-out events): " + "; ".join(
        f"{t}: spark {'f1' if s['f1'] is not None else 'macro_f1'} "
        f"{(s['f1'] if s['f1'] is not None else s['macro_f1']):.3f} vs sklearn "
        f"{(k['f1'] if k['f1'] is not None else k['macro_f1']):.3f}" for t, s, k in rows_out))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
