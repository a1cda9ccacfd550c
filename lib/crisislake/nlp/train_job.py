"""``crisislake train --task {relevance,disaster_type,police_force,force_rank,all}``.

Reads the bundled training data (``data/training``) plus extra labelled files from
``models.extra_training_dir`` (Kaggle's disaster tweets when present) and the reviewer decisions
in the lake (``enriched/review_decisions``, training-only rows; ``--no-reviews`` leaves them out;
:mod:`crisislake.nlp.review_rows`), deduplicates and resolves
conflicting labels, validates on one held-out fold of events (``--cv``: k-fold grouped
cross-validation instead), chooses thresholds, refits on all rows and saves the model under
``<models_root>/<task>/<version>/`` with ``metrics.json``, marking it default.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crisislake.config import Config
from crisislake.context import JobContext
from crisislake.nlp import data, linear_training, model_store, review_rows, training
from crisislake.nlp import features as feat
from crisislake.nlp.hashed import HashParams
from crisislake.nlp.tasks import TASKS, get_task
from crisislake.nlp.text import looks_non_english
from crisislake.runs import run_step

log = logging.getLogger(__name__)

# Default: one grouped holdout fold for metrics and thresholds, then a refit on all rows.
# --cv: k grouped folds (out-of-fold metrics), then the refit. --quick (``make run`` on a fresh
# machine): at most QUICK_MAX_ROWS rows and fewer iterations, same holdout + refit.
QUICK_MAX_ROWS = 20000
QUICK_HEAD = feat.HeadParams(max_iter=30)
# disaster_type is judged on unseen events: drop hashed features seen in one training event only.
# relevance: C = 0.5 (stronger L2) was chosen on validation fold 1 of the bench's split (F1 at the
# fold-1 threshold 0.894 vs 0.867 at C = 4, scikit-learn emulation); police_force keeps C = 4 (its
# fold-1 F1 was no better at 0.5). disaster_type's type-lexicon weight 0.3 was chosen the same way
# (fold-1 macro-F1 0.433 without, 0.488 / 0.534 / 0.532 / 0.523 at 0.1 / 0.3 / 0.6 / 1.0).
TASK_HEAD_DEFAULTS = {"disaster_type": {"min_groups": 2, "lexicon_weight": 0.3}, "relevance": {"c": 0.5}}


# The default engine: hashed word + char n-gram TF-IDF and scikit-learn's logistic regression
# (:mod:`crisislake.nlp.linear`), per task. Chosen on held-out events, see docs/models.md.
LINEAR_HEADS = {
    "relevance": linear_training.LinearHead(c=4.0),
    "disaster_type": linear_training.LinearHead(c=4.0, min_groups=2),
    "police_force": linear_training.LinearHead(c=4.0),
    "force_rank": linear_training.LinearHead(c=4.0),
    "information_type": linear_training.LinearHead(c=4.0),
}
LINEAR_FEATURES = HashParams()
# disaster_type adds the type lexicon (features.TYPE_LEXICON, weight 0.3 as in the Spark ML model).
TASK_FEATURES = {"disaster_type": dataclasses.replace(
    LINEAR_FEATURES, lexicon=tuple(feat.TYPE_LEXICON.items()), lexicon_weight=0.3)}


def linear_features(task: str) -> HashParams:
    """The hashed-feature settings of ``task``'s linear model."""
    return TASK_FEATURES.get(task, LINEAR_FEATURES)
ENGINES = ("linear", "spark-ml")


def task_head(task: str, base: feat.HeadParams = feat.HeadParams()) -> feat.HeadParams:
    """``base`` with ``task``'s settings from :data:`TASK_HEAD_DEFAULTS`: the head ``train`` fits
    (and the bench measures)."""
    return dataclasses.replace(base, **TASK_HEAD_DEFAULTS.get(task, {}))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="all", choices=list(TASKS) + ["all"])
    parser.add_argument("--version", default=None, help="model version folder (default: time + data fingerprint)")
    parser.add_argument("--folds", type=int, default=4,
                        help="groups are spread over this many folds; fold 0 is the holdout (default 4)")
    parser.add_argument("--cv", action="store_true",
                        help="k-fold grouped cross-validation (folds + 1 fits) instead of one holdout fold")
    parser.add_argument("--quick", action="store_true",
                        help=f"fast model: <= {QUICK_MAX_ROWS} rows, fewer iterations")
    parser.add_argument("--holdout", action="store_true",
                        help="keep the model fitted without the holdout fold (no refit on all rows)")
    parser.add_argument("--target-precision", type=float, default=None,
                        help="precision the review threshold must reach (default: 0.90 for relevance "
                             "and police_force, none for the multi-class tasks)")
    parser.add_argument("--reg-param", type=float, default=None,
                        help="L2 regularisation (default: 1 / (C * rows), like scikit-learn's C; C = 4, "
                             "relevance 0.5)")
    parser.add_argument("--no-extra", action="store_true", help="ignore models.extra_training_dir")
    parser.add_argument("--no-reviews", action="store_true",
                        help="ignore reviewer decisions (enriched/review_decisions); by default each decided "
                             "tweet is a training-only row")
    parser.add_argument("--engine", default="linear", choices=ENGINES,
                        help="linear (default: hashed TF-IDF + scikit-learn logistic regression, scored in "
                             "Spark's Python workers) or spark-ml (the Spark ML PipelineModel)")
    parser.add_argument("--no-default", action="store_true", help="do not mark the new model as default")


def train_and_save(
    spark: SparkSession, config: Config, task: str, version: Optional[str] = None, quick: bool = False,
    folds: int = 4, target_precision: Optional[float] = None, head: Optional[feat.HeadParams] = None,
    use_extra: bool = True, make_default: bool = True, holdout: bool = False, cv: bool = False,
    bundled_dir: Path = data.BUNDLED_DIR, engine: str = "linear", use_reviews: bool = True,
) -> Dict[str, object]:
    """Train one task and save it; returns a summary (path, version, validation scores).

    ``bundled_dir``: the bundled training files (``data/training``; tests pass a small copy).
    ``engine``: ``linear`` (default) or ``spark-ml``; ``quick`` and ``head`` apply to spark-ml.
    ``use_reviews``: add the lake's reviewer decisions as training-only rows."""
    spec = get_task(task)
    english, counts, files, resolved = english_training_rows(spark, config, spec, use_extra, bundled_dir,
                                                             use_reviews)
    if engine == "linear":
        params = linear_features(task)
        settings = {"task": task, "engine": engine, "holdout": holdout, "cv": cv, "folds": folds,
                    "features": params.to_dict(), "head": LINEAR_HEADS[task].to_dict(),
                    "target_precision": target_precision, "review": counts["review"]}
        rows = to_pandas_sorted(english)
        model, metrics = linear_training.train_linear(spec, rows, params, LINEAR_HEADS[task], folds, cv=cv,
                                                      refit=not holdout, target_precision=target_precision)
        description = (f"hashed word 1-2-gram & char_wb {'/'.join(map(str, params.char_sizes))}-gram TF-IDF"
                       f"{' + type lexicon' if params.lexicon else ''} + LogisticRegression "
                       "(scikit-learn fit, numpy scoring)")
        feature_dict, head_dict = params.to_dict(), LINEAR_HEADS[task].to_dict()
    else:
        head = task_head(task, head or (QUICK_HEAD if quick else feat.HeadParams()))
        features = feat.FeatureParams()
        if quick and counts["english_texts"] > QUICK_MAX_ROWS:
            # Deterministic per-row sample, so the quick model is reproducible.
            share = int(1000 * QUICK_MAX_ROWS / counts["english_texts"])
            english = english.where((F.abs(F.hash("dedup_key")) % 1000) < share)
        settings = {"task": task, "quick": quick, "holdout": holdout, "cv": cv, "folds": folds,
                    "features": features.to_dict(), "head": head.to_dict(), "target_precision": target_precision,
                    "review": counts["review"]}
        model, metrics = training.train_task(spec, english, features, head, folds, cv=cv, refit=not holdout,
                                             target_precision=target_precision)
        description = (f"{'Spark NLP Tokenizer/Normalizer' if features.tokenizer == 'sparknlp' else 'RegexTokenizer'}"
                       f" + word 1-2-gram & char {'/'.join(map(str, features.char_ngrams))}-gram HashingTF + IDF + "
                       "LogisticRegression")
        feature_dict, head_dict = features.to_dict(), head.to_dict()
    resolved.unpersist()
    fp = data.fingerprint(files, settings)
    version = version or model_store.new_version(fp)
    metrics.update(
        task=task, version=version, labels=spec.labels, positive_label=spec.positive, engine=engine,
        training_data={"files": files, "fingerprint": fp, **counts},
        features=feature_dict, head=head_dict, quick=quick, holdout=holdout, cv=cv, model=description,
        library_versions=model_store.library_versions(),
    )
    save = model_store.save_linear if engine == "linear" else model_store.save_model
    path = save(spark, model, metrics, config.models_root, task, version, make_default)
    summary = {"task": task, "path": path, "version": version, "n_train": metrics["n_train"],
               "macro_f1": metrics["macro_f1"], "f1": metrics["f1"], "threshold": metrics["threshold"],
               "review_rows": counts["review_rows"]}
    log.info("trained %s", json.dumps(summary))
    return summary


def english_training_rows(spark: SparkSession, config: Config, spec, use_extra: bool = True,
                          bundled_dir: Path = data.BUNDLED_DIR, use_reviews: bool = False):
    """The task's deduplicated English training rows (a Spark DataFrame with ``text, label,
    group, source, dedup_key``), their counts, the files read, and the cached frame to unpersist.

    ``use_reviews``: add the reviewer decisions of ``enriched/review_decisions`` (texts from
    ``curated/tweets``) as training-only rows (:mod:`crisislake.nlp.review_rows`); a reviewed text
    takes the reviewer's label over a bundled copy of it. ``counts["review"]`` says what was used."""
    raw, files = data.load_training_data(spark, spec, config.models.extra_training_dir if use_extra else "",
                                         bundled_dir)
    review_counts: Dict[str, object] = {"skipped": "--no-reviews"}
    reviewed = None
    if use_reviews:
        reviews, review_counts = review_rows.read_review_rows(
            spark, config.table("enriched", "review_decisions"), config.table("curated", "tweets"), spec)
        reviewed = data.resolve_conflicts(reviews) if reviews is not None else None
    combined = with_replaced(data.resolve_conflicts(raw), reviewed)
    # The classifiers are for English tweets: texts in another language are counted, not trained on.
    resolved = combined.withColumn("non_english", looks_non_english("text")).cache()
    n_raw = raw.count()
    is_review = F.col("source") == review_rows.REVIEW_SOURCE
    kept = ~F.col("replaced")
    agg = resolved.agg(
        F.count(F.when(~is_review, 1)).alias("bundled"), F.count(F.when(F.col("replaced"), 1)).alias("replaced"),
        F.count(F.when(kept & F.col("non_english"), 1)).alias("non_english"),
        F.count(F.when(is_review, 1)).alias("review"), F.count(F.when(is_review & F.col("non_english"), 1)).alias(
            "review_non_english")).first()
    n_kept = agg["bundled"] - agg["replaced"] + agg["review"]
    counts: Dict[str, object] = {
        "rows_read": n_raw, "unique_texts": agg["bundled"], "dropped_duplicates_or_conflicts": n_raw - agg["bundled"],
        "dropped_non_english": agg["non_english"], "english_texts": n_kept - agg["non_english"],
        "review_rows": agg["review"] - agg["review_non_english"]}
    if "rows" in review_counts:
        review_counts = dict(review_counts, unique_texts=agg["review"], non_english=agg["review_non_english"],
                             replaced_bundled_texts=agg["replaced"], used=counts["review_rows"])
    counts["review"] = review_counts
    return resolved.where(kept & ~F.col("non_english")).drop("non_english", "replaced"), counts, files, resolved


def with_replaced(bundled: DataFrame, reviewed: Optional[DataFrame]) -> DataFrame:
    """Deduplicated bundled rows plus deduplicated review rows, with ``replaced`` = a bundled row
    whose text (dedup key) a reviewer labelled: the review row stands for it."""
    if reviewed is None:
        return bundled.withColumn("replaced", F.lit(False))
    keys = reviewed.select("dedup_key", F.lit(True).alias("replaced"))
    return (bundled.join(keys, "dedup_key", "left").withColumn("replaced", F.coalesce("replaced", F.lit(False)))
            .unionByName(reviewed.withColumn("replaced", F.lit(False))))


def to_pandas_sorted(rows):
    """``text, label, group, source`` on the driver, sorted on the dedup key: the same rows in the
    same order on every run, so a fit is reproducible."""
    out = rows.select("text", "label", "group", "source", "dedup_key").toPandas()
    return out.sort_values("dedup_key", kind="stable").reset_index(drop=True)


def ensure_default_models(spark: SparkSession, config: Config, run_id: str, tasks: List[str]) -> Dict[str, str]:
    """Default model path per task, training a quick model first where a task has none."""
    paths = {}
    for task in tasks:
        path = model_store.default_model_path(spark, config.models_root, task)
        if path is None:
            log.info("no default %s model under %s: training a quick one", task, config.models_root)
            path = train_and_save(spark, config, task, quick=True)["path"]
        paths[task] = path
    return paths


def _train(spark: SparkSession, config: Config, args: argparse.Namespace, run_id: str) -> List[dict]:
    tasks = list(TASKS) if args.task == "all" else [args.task]
    head = feat.HeadParams(reg_param=args.reg_param,
                           max_iter=QUICK_HEAD.max_iter if args.quick else feat.HeadParams().max_iter)
    out = []
    with run_step(config.zone("_runs"), run_id, "train") as record:
        for task in tasks:
            summary = train_and_save(
                spark, config, task, version=args.version, quick=args.quick, folds=args.folds,
                target_precision=args.target_precision, head=head, use_extra=not args.no_extra,
                make_default=not args.no_default, holdout=args.holdout, cv=args.cv, engine=args.engine,
                use_reviews=not args.no_reviews)
            out.append(summary)
            record.wrote[task] = summary["path"]
            record.counts[task] = {k: summary[k] for k in ("n_train", "macro_f1", "f1", "threshold", "review_rows")}
        record.read["models.extra_training_dir"] = config.models.extra_training_dir
        if not args.no_reviews:
            record.read["enriched/review_decisions"] = config.table("enriched", "review_decisions")
    return out


def run(ctx: JobContext) -> dict:
    with ctx.stage(f"train {ctx.args.task}"):
        summaries = _train(ctx.spark, ctx.config, ctx.args, ctx.run_id)
    for summary in summaries:
        print(json.dumps(summary), flush=True)
    return {"models": {s["task"]: s["path"] for s in summaries}}
