#!/usr/bin/env python3
"""Tweet classification: the Spark NLP pipeline vs scikit-learn TF-IDF + LR, same splits, same run.

For relevance, disaster_type and police_force: the deduplicated training data is split by
event (group) into 4 folds with the same assignment as ``crisislake train``; fold 0 is held
out. Both models train on folds 1-3 and are scored on fold 0 at their default decision (argmax),
so the comparison is like for like. Then throughput: 100,000 tweets (``BENCH_SCALE`` scales it)
classified by the Spark relevance model loaded once, and by the scikit-learn model.

Usage: ``.venv/bin/python bench/bench_classify.py`` (``BENCH_SCALE=0.05`` for a quick check:
fewer training rows and tweets). Prints one table per task and the throughput lines.
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from proc_memory import vm_hwm_mb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
N_THROUGHPUT = int(100_000 * SCALE)
TASKS = [t for t in os.environ.get("BENCH_TASKS", "relevance,disaster_type,police_force").split(",") if t]


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


def main() -> int:
    from crisislake.config import load_config
    from crisislake.nlp import data
    from crisislake.nlp import features as feat
    from crisislake.nlp.tasks import get_task
    from crisislake.nlp.training import assign_folds, with_class_weights, with_label_index
    from crisislake.session import build_spark
    from pyspark.sql import functions as F

    config = load_config("local", overrides=["spark.driver_memory=3g", "spark.shuffle_partitions=4"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"BENCH_SCALE={SCALE}")
    spark = build_spark(config.spark, app_name="bench-classify")
    jvm_pid = None
    try:
        jvm_pid = spark.sparkContext._gateway.proc.pid
    except AttributeError:
        pass
    rows_out = []
    relevance_models = None
    for task in TASKS:
        spec = get_task(task)
        raw, _ = data.load_training_data(spark, spec, config.models.extra_training_dir)
        pdf = data.resolve_conflicts(raw).select("text", "label", "group").toPandas()
        group_labels = pdf.groupby("group")["label"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else None)
        single = not spec.binary and group_labels.notna().all()
        fold_of = assign_folds(pdf["group"].value_counts().to_dict(), 4, group_labels.to_dict() if single else None)
        pdf["fold"] = pdf["group"].map(fold_of)
        if SCALE < 1.0:
            pdf = pdf.sample(frac=max(SCALE, 0.05), random_state=1)
        train, test = pdf[pdf["fold"] != 0], pdf[pdf["fold"] == 0]
        counts = train["label"].value_counts().to_dict()

        t0 = time.monotonic()
        train_sdf = (spark.createDataFrame(train[["text", "label"]])
                     .transform(with_label_index(spec.labels)).transform(with_class_weights(counts)))
        model = feat.build_pipeline(spec.labels, weight_col="weight", n_rows=len(train)).fit(train_sdf)
        spark_fit_s = time.monotonic() - t0
        t0 = time.monotonic()
        pred = (model.transform(spark.createDataFrame(test[["text", "label"]]))
                .select("label", "predicted_label").toPandas())
        spark_pred_s = time.monotonic() - t0
        spark_rep = report(spec, pred["label"], pred["predicted_label"])

        t0 = time.monotonic()
        baseline = sklearn_baseline().fit(train["text"], train["label"])
        sk_fit_s = time.monotonic() - t0
        t0 = time.monotonic()
        sk_pred = baseline.predict(test["text"])
        sk_pred_s = time.monotonic() - t0
        sk_rep = report(spec, test["label"], sk_pred)

        held_out = sorted(g for g, f in fold_of.items() if f == 0)
        print(f"\n[{task}] train {len(train)} rows, held-out {len(test)} rows from "
              f"{len(held_out)} groups: {', '.join(held_out[:12])}{' ...' if len(held_out) > 12 else ''}")
        print(f"  {'model':<28}{'precision':>10}{'recall':>8}{'f1':>8}{'macro_f1':>10}{'acc':>8}{'fit s':>8}{'tw/s':>9}")
        for name, rep, fit_s, pred_s in (("spark-nlp + spark ml LR", spark_rep, spark_fit_s, spark_pred_s),
                                         ("sklearn tfidf + LR", sk_rep, sk_fit_s, sk_pred_s)):
            p, r, f1 = (rep["precision"], rep["recall"], rep["f1"]) if spec.binary else ("-", "-", "-")
            fmt = _fmt
            print(f"  {name:<28}{fmt(p):>10}{fmt(r):>8}{fmt(f1):>8}{rep['macro_f1']:>10.3f}{rep['accuracy']:>8.3f}"
                  f"{fit_s:>8.1f}{len(test) / pred_s:>9.0f}")
        if not spec.binary:
            print("  per-class F1 (spark / sklearn): " + ", ".join(
                f"{lab} {spark_rep['per_class'][lab]['f1']:.2f}/{sk_rep['per_class'].get(lab, {}).get('f1', 0):.2f}"
                for lab in spark_rep["per_class"] if spark_rep["per_class"][lab]["support"]))
        rows_out.append((task, spark_rep, sk_rep))
        if task == "relevance":
            relevance_models = (model, baseline, pdf["text"].tolist())

    if relevance_models is not None and N_THROUGHPUT > 0:
        model, baseline, texts = relevance_models
        reps = N_THROUGHPUT // len(texts) + 1
        corpus = [f"{t} #{i}" for i in range(reps) for t in texts][:N_THROUGHPUT]
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/tweets.parquet"
            import pandas as pd

            spark.createDataFrame(pd.DataFrame({"tweet_id": range(len(corpus)), "text": corpus})) \
                .repartition(2).write.parquet(path)
            tweets = spark.read.parquet(path)
            tweets.count()
            saved = f"{tmp}/model"
            model.write().save(saved)
            from pyspark.ml import PipelineModel

            loaded = PipelineModel.load(saved)  # loaded once
            t0 = time.monotonic()
            (loaded.transform(tweets).select("tweet_id", "predicted_label", F.col("probability"))
             .write.format("noop").mode("overwrite").save())
            spark_s = time.monotonic() - t0
        t0 = time.monotonic()
        baseline.predict(corpus)
        sk_s = time.monotonic() - t0
        print(f"\nthroughput on {len(corpus)} tweets (relevance model, loaded once, 2 partitions):")
        print(f"  spark-nlp pipeline  {len(corpus) / spark_s:>9.0f} tweets/s  ({spark_s:.1f} s)")
        print(f"  sklearn baseline    {len(corpus) / sk_s:>9.0f} tweets/s  ({sk_s:.1f} s, one Python process)")
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
