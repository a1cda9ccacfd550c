"""``crisislake classify``: label curated tweets for every task into ``enriched/tweet_labels``.

Incremental: per task, only tweets without a label (or review-queue entry) from the current
default model version are scored. Confident predictions are MERGEd into ``enriched/tweet_labels``
on (tweet_id, task, model_version); positives below the task's review threshold go to
``enriched/review_queue`` with the reason instead. Per task: candidates = published + queued.
"""
from __future__ import annotations

import argparse
import logging
from typing import Dict, List, Optional

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake import delta_io
from crisislake.config import Config
from crisislake.context import JobContext, require_table
from crisislake.nlp import predict
from crisislake.nlp.tasks import TASKS, TaskSpec, get_task
from crisislake.runs import run_step

log = logging.getLogger(__name__)

LABEL_KEYS = ["tweet_id", "task", "model_version"]
LABELS_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType(), False), T.StructField("task", T.StringType(), False),
    T.StructField("label", T.StringType(), True), T.StructField("confidence", T.DoubleType(), True),
    T.StructField("model_version", T.StringType(), False), T.StructField("run_id", T.StringType(), True),
    T.StructField("labelled_at", T.TimestampType(), True),
])
REVIEW_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType(), False), T.StructField("task", T.StringType(), False),
    T.StructField("label", T.StringType(), True), T.StructField("confidence", T.DoubleType(), True),
    T.StructField("threshold", T.DoubleType(), True), T.StructField("reason", T.StringType(), True),
    T.StructField("model_version", T.StringType(), False), T.StructField("run_id", T.StringType(), True),
])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks (default: all)")
    parser.add_argument("--model", action="append", default=[], metavar="TASK=PATH",
                        help="use this saved PipelineModel for TASK (repeatable); default: the task's default model")


def read_tweets(spark: SparkSession, path: str) -> DataFrame:
    """``tweet_id, text, lang`` from curated/tweets (Delta)."""
    return spark.read.format("delta").load(path).select("tweet_id", "text", "lang")


def read_done(spark: SparkSession, path: str, task: str, version: str) -> Optional[DataFrame]:
    """Tweet ids this model version has already labelled or queued (None if no table yet)."""
    if not delta_io.is_delta_table(spark, path):
        return None
    return (spark.read.format("delta").load(path)
            .where((F.col("task") == task) & (F.col("model_version") == version)).select("tweet_id"))


def filter_unlabelled(done: List[DataFrame]):
    """Transform: drop tweets whose id appears in any of ``done``."""
    def _apply(df: DataFrame) -> DataFrame:
        for ids in done:
            df = df.join(ids, "tweet_id", "left_anti")
        return df
    return _apply


def to_label_rows(task: str, version: str, run_id: str):
    """Transform: scored tweets not needing review -> ``enriched/tweet_labels`` rows."""
    def _apply(scored: DataFrame) -> DataFrame:
        return scored.where(~F.col("needs_review")).select(
            F.col("tweet_id").cast("long"), F.lit(task).alias("task"), F.col("pred_label").alias("label"),
            F.col("confidence"), F.lit(version).alias("model_version"), F.lit(run_id).alias("run_id"),
            F.current_timestamp().alias("labelled_at"))
    return _apply


def to_review_rows(spec: TaskSpec, threshold: float, version: str, run_id: str):
    """Transform: scored tweets needing review -> ``enriched/review_queue`` rows with the reason."""
    def _apply(scored: DataFrame) -> DataFrame:
        return scored.where(F.col("needs_review")).select(
            F.col("tweet_id").cast("long"), F.lit(spec.name).alias("task"), F.col("pred_label").alias("label"),
            F.col("confidence"), F.lit(float(threshold)).alias("threshold"),
            predict.review_reason(spec, threshold).alias("reason"),
            F.lit(version).alias("model_version"), F.lit(run_id).alias("run_id"))
    return _apply


def write_rows(spark: SparkSession, rows: DataFrame, path: str, schema: T.StructType) -> Dict[str, int]:
    delta_io.ensure_table(spark, path, schema)
    return delta_io.merge_into(spark, rows, path, LABEL_KEYS)


def read_done_all(spark: SparkSession, labels_path: str, review_path: str, task: str, version: str) -> List[DataFrame]:
    """The tweet-id sets this task's model version has labelled and queued (0-2 DataFrames)."""
    return [d for d in (read_done(spark, labels_path, task, version), read_done(spark, review_path, task, version))
            if d is not None]


def filter_pending_for_any(done_per_task: List[List[DataFrame]]):
    """Transform: keep tweets that at least one task has not labelled or queued yet."""
    def _apply(df: DataFrame) -> DataFrame:
        if any(not done for done in done_per_task):
            return df  # a task with nothing done needs every tweet
        ids = None
        for done in done_per_task:
            task_ids = done[0] if len(done) == 1 else done[0].unionByName(done[1])
            ids = task_ids if ids is None else ids.join(task_ids, "tweet_id", "left_semi")
        return df.join(ids.distinct(), "tweet_id", "left_anti")
    return _apply


def classify_task(
    spark: SparkSession, tweets: DataFrame, spec: TaskSpec, loaded: predict.LoadedModel,
    labels_path: str, review_path: str, run_id: str, featurised: bool = False,
    done: Optional[List[DataFrame]] = None,
) -> Dict[str, int]:
    """Score one task's unlabelled tweets and write labels and review rows; returns counts.

    With ``featurised`` the tweets already carry the model's text features (shared by tasks);
    ``done`` is :func:`read_done_all` for this task when the caller has read it already.
    """
    if done is None:
        done = read_done_all(spark, labels_path, review_path, spec.name, loaded.version)
    # Scored once, written twice (labels and review queue): persist so the model runs once.
    scored = (tweets.transform(filter_unlabelled(done))
              .transform(predict.score(loaded, spec, "text", "lang", featurised=featurised))
              .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        candidates = scored.count()
        by_kind = _kind_counts(scored)
        labels = write_rows(spark, scored.transform(to_label_rows(spec.name, loaded.version, run_id)),
                            labels_path, LABELS_SCHEMA)
        review = write_rows(spark, scored.transform(
            to_review_rows(spec, loaded.review_threshold, loaded.version, run_id)), review_path, REVIEW_SCHEMA)
    finally:
        scored.unpersist()
    return {"candidates": candidates, "published": by_kind["published"], "review": by_kind["review"],
            "unknown": by_kind["unknown"], "labels_inserted": labels["inserted"],
            "review_inserted": review["inserted"]}


def _kind_counts(scored: DataFrame) -> Dict[str, int]:
    row = scored.agg(
        F.sum(F.when(~F.col("needs_review"), 1).otherwise(0)).alias("published"),
        F.sum(F.when(F.col("needs_review"), 1).otherwise(0)).alias("review"),
        F.sum(F.when(F.col("pred_label") == "unknown", 1).otherwise(0)).alias("unknown"),
    ).first()
    return {k: int(row[k] or 0) for k in ("published", "review", "unknown")}


def classify(spark: SparkSession, config: Config, run_id: str, tasks: List[str],
             model_paths: Optional[Dict[str, str]] = None) -> Dict[str, object]:
    from crisislake.nlp.train_job import ensure_default_models

    tweets_path = config.table("curated", "tweets")
    labels_path = config.table("enriched", "tweet_labels")
    review_path = config.table("enriched", "review_queue")
    summary: Dict[str, object] = {}
    with run_step(config.zone("_runs"), run_id, "classify") as record:
        if not delta_io.is_delta_table(spark, tweets_path):
            record.counts["note"] = f"no table at {tweets_path}"
            return {"skipped": f"no curated tweets at {tweets_path}"}
        paths = dict(model_paths or {})
        missing = [t for t in tasks if t not in paths]
        paths.update(ensure_default_models(spark, config, run_id, missing))
        tweets = read_tweets(spark, tweets_path)
        record.read["curated/tweets"] = tweets_path
        loaded = {task: predict.load(spark, paths[task], get_task(task)) for task in tasks}
        for group in group_by_text_stages(loaded):
            shared, features = len(group) > 1, None
            done = {t: read_done_all(spark, labels_path, review_path, t, loaded[t].version) for t in group}
            if shared:
                # Text features (most of the scoring cost) computed once for every task in the
                # group, for the tweets some task still needs; persisted because each head reads them.
                features = (tweets.transform(filter_pending_for_any([done[t] for t in group]))
                            .transform(predict.shared_features({t: loaded[t].model for t in group}))
                            .persist(StorageLevel.MEMORY_AND_DISK))
            try:
                for task in group:
                    counts = classify_task(spark, features if shared else tweets, get_task(task), loaded[task],
                                           labels_path, review_path, run_id, featurised=shared, done=done[task])
                    counts["model_version"] = loaded[task].version
                    counts["shared_features_with"] = [t for t in group if t != task]
                    record.counts[task] = counts
                    summary[task] = counts
            finally:
                if features is not None:
                    features.unpersist()
        record.wrote.update({"enriched/tweet_labels": labels_path, "enriched/review_queue": review_path})
        record.rows_read = max((c["candidates"] for c in summary.values()), default=0)
        record.rows_written = sum(c["labels_inserted"] + c["review_inserted"] for c in summary.values())
    return summary


def group_by_text_stages(loaded: Dict[str, predict.LoadedModel]) -> List[List[str]]:
    """Tasks in groups whose models have identical text stages (each plugged-in model alone)."""
    groups: Dict[str, List[str]] = {}
    for task, model in loaded.items():
        key = predict.text_signature(model.model) or f"own:{task}"
        groups.setdefault(key, []).append(task)
    return list(groups.values())


def run(ctx: JobContext) -> Dict[str, object]:
    args = ctx.args
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for t in tasks:
        get_task(t)
    paths = {}
    for item in args.model:
        task, _, path = item.partition("=")
        paths[get_task(task.strip()).name] = path.strip()
    missing = require_table(ctx, ctx.config.table("curated", "tweets"), "run `crisislake ingest-tweets` first")
    if missing:
        return missing
    with ctx.stage("classify new tweets"):
        return classify(ctx.spark, ctx.config, ctx.run_id, tasks, paths)
