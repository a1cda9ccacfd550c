"""Reviewer decisions as labelled training rows (the review loop).

``crisislake sync-reviews`` copies reviewer decisions into ``enriched/review_decisions``; this
module turns them into ``text, label, group, source`` rows for ``crisislake train``:

* per (tweet, task) the newest decision wins (``decided_at``, then ``decision_id`` on a tie);
* ``confirm``: the judged label (the model's label, ``label``, else ``model_label``);
  ``relabel``: the label the reviewer gave; ``reject``: for a binary task the other label, for a
  multi-class task nothing (a rejection does not say which label is right: counted, not used);
* a label that is not one of the task's labels is counted and left out, as is a decision whose
  tweet has no text in ``curated/tweets``;
* every row has source :data:`REVIEW_SOURCE` and group ``review:<task>``: training-only
  (``training.train_only_sources``), never a validation fold.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from crisislake.nlp.tasks import TaskSpec

REVIEW_SOURCE = "review"
REVIEW_COUNT_NAMES = ("decisions", "decided_tweets", "rows", "reject_not_usable", "unknown_label", "no_text")


def review_group(task: str) -> str:
    """The group (pseudo-event) of a task's review rows.

    >>> review_group("relevance")
    'review:relevance'
    """
    return f"{REVIEW_SOURCE}:{task}"


def latest_decisions(decisions: DataFrame, task: str) -> DataFrame:
    """Transform: ``task``'s decisions, one per tweet: the newest ``decided_at`` wins
    (``decision_id``, the larger, breaks a tie so the choice is the same on every run)."""
    newest_first = Window.partitionBy("tweet_id").orderBy(F.col("decided_at").desc(), F.col("decision_id").desc())
    return (decisions.where(F.col("task") == task)
            .withColumn("_rank", F.row_number().over(newest_first))
            .where(F.col("_rank") == 1).drop("_rank"))


def decided_label(spec: TaskSpec) -> Column:
    """The training label a decision gives (null when it gives none, e.g. a multi-class reject)."""
    judged = F.coalesce(F.col("label"), F.col("model_label"))
    decision = F.col("decision")
    if spec.binary:
        other = F.create_map(F.lit(spec.labels[0]), F.lit(spec.labels[1]), F.lit(spec.labels[1]), F.lit(spec.labels[0]))
        rejected = other[judged]
    else:
        rejected = F.lit(None).cast("string")
    return (F.when(decision == "confirm", judged).when(decision == "relabel", F.col("label"))
            .when(decision == "reject", rejected))


def with_review_label(spec: TaskSpec):
    """Transform: latest decisions -> ``train_label`` (the task's label or null) and ``outcome``
    (``row``, ``reject_not_usable`` or ``unknown_label``)."""
    def _apply(df: DataFrame) -> DataFrame:
        label = decided_label(spec)
        in_task = label.isin(spec.labels)
        outcome = (F.when(in_task, "row")
                   .when((F.col("decision") == "reject") & F.lit(not spec.binary), "reject_not_usable")
                   .otherwise("unknown_label"))
        return df.withColumn("train_label", F.when(in_task, label)).withColumn("outcome", outcome)
    return _apply


def review_training_rows(decisions: DataFrame, tweets: DataFrame, spec: TaskSpec) -> Tuple[DataFrame, Dict[str, int]]:
    """``text, label, group, source`` rows from reviewer decisions for ``spec``, and their counts.

    ``decisions``: rows of ``enriched/review_decisions``; ``tweets``: ``tweet_id, text`` (e.g.
    ``curated/tweets``). Counts: ``decisions`` (of this task), ``decided_tweets`` (after newest
    wins), ``rows`` (labelled rows returned), ``reject_not_usable`` (multi-class rejects),
    ``unknown_label`` (a label outside the task's labels, or none), ``no_text`` (no text for the
    tweet). One aggregation over the task's decisions: an action, a handful of ints to the driver.
    """
    texts = (tweets.select("tweet_id", "text").where(F.col("text").isNotNull() & (F.trim("text") != ""))
             .groupBy("tweet_id").agg(F.min("text").alias("text")))
    judged = (latest_decisions(decisions, spec.name).transform(with_review_label(spec))
              .join(texts, "tweet_id", "left")
              .withColumn("outcome", F.when((F.col("outcome") == "row") & F.col("text").isNull(), "no_text")
                          .otherwise(F.col("outcome"))))
    n_decisions = decisions.where(F.col("task") == spec.name).count()
    by_outcome = {r["outcome"]: int(r["n"]) for r in judged.groupBy("outcome").agg(F.count(F.lit(1)).alias("n")).collect()}
    counts = {"decisions": n_decisions, "decided_tweets": sum(by_outcome.values()),
              **{k: by_outcome.get(k, 0) for k in ("row", "reject_not_usable", "unknown_label", "no_text")}}
    counts["rows"] = counts.pop("row")
    rows = judged.where(F.col("outcome") == "row").select(
        "text", F.col("train_label").alias("label"), F.lit(review_group(spec.name)).alias("group"),
        F.lit(REVIEW_SOURCE).alias("source"))
    return rows, {k: counts[k] for k in REVIEW_COUNT_NAMES}


def read_review_rows(spark: SparkSession, decisions_path: str, tweets_path: str,
                     spec: TaskSpec) -> Tuple[Optional[DataFrame], Dict[str, object]]:
    """The task's review rows from the lake's Delta tables, or ``(None, reason)`` when the lake has
    no ``enriched/review_decisions`` (or no ``curated/tweets`` to take the texts from)."""
    from crisislake import delta_io

    for path, name in ((decisions_path, "enriched/review_decisions"), (tweets_path, "curated/tweets")):
        if not delta_io.is_delta_table(spark, path):
            return None, {"skipped": f"no {name} table"}
    decisions = spark.read.format("delta").load(decisions_path)
    tweets = spark.read.format("delta").load(tweets_path)
    return review_training_rows(decisions, tweets, spec)
