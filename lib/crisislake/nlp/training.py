"""Grouped cross-validation, threshold choice and the final fit for one task.

Cost: the text features are computed once and cached (``MEMORY_AND_DISK``); each fold only fits
IDF + logistic regression. Validation predictions come to the driver as (score, gold) pairs —
one small tuple per training row (tens of thousands), needed for the threshold search.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake.nlp import features as feat
from crisislake.nlp.metrics import (
    best_f1_threshold,
    choose_threshold,
    classification_report,
    pair_counts_from,
    precision_recall_at,
)
from crisislake.nlp.tasks import TaskSpec

log = logging.getLogger(__name__)


def assign_folds(group_sizes: Dict[str, int], k: int, group_labels: Optional[Dict[str, str]] = None) -> Dict[str, int]:
    """Spread groups over ``k`` folds, largest first into the smallest fold (deterministic).

    With ``group_labels`` (the label of single-label groups, e.g. an event's disaster type) the
    groups of each label are spread over the folds first, so a held-out fold does not take every
    event of a type out of training (with 2 hurricane events in 4 folds, both used to land in
    fold 0 by size alone).

    >>> assign_folds({"a": 10, "b": 6, "c": 5, "d": 1}, 2)
    {'a': 0, 'b': 1, 'c': 1, 'd': 0}
    >>> assign_folds({"a": 10, "b": 9, "c": 5, "d": 4}, 2, {"a": "x", "b": "x", "c": "y", "d": "y"})
    {'a': 0, 'b': 1, 'c': 1, 'd': 0}
    """
    loads = [0] * k
    out: Dict[str, int] = {}
    if group_labels:
        by_label: Dict[str, List[str]] = {}
        for group in group_sizes:
            by_label.setdefault(group_labels.get(group, ""), []).append(group)
        # Labels with the fewest groups first: they are the ones a fold can empty.
        for label in sorted(by_label, key=lambda lab: (len(by_label[lab]), lab)):
            used: Dict[int, int] = {}
            for group in sorted(by_label[label], key=lambda g: (-group_sizes[g], g)):
                fold = min(range(k), key=lambda f: (used.get(f, 0), loads[f], f))
                out[group] = fold
                used[fold] = used.get(fold, 0) + 1
                loads[fold] += group_sizes[group]
        return out
    for group, size in sorted(group_sizes.items(), key=lambda gs: (-gs[1], gs[0])):
        fold = min(range(k), key=lambda f: (loads[f], f))
        out[group] = fold
        loads[fold] += size
    return out


# Training-only sources per task: their rows are always on the training side, never in a
# validation fold. Kaggle's keyword rows are weak disaster_type labels (a keyword, not a human
# judgement of the type), so scoring on them would measure the keyword map, not the model.
TRAIN_ONLY_SOURCES: Dict[str, Tuple[str, ...]] = {"disaster_type": ("kaggle",)}
# Reviewer decisions (crisislake.nlp.review_rows) are training-only for every task: a reviewed
# tweet comes from the lake's events, and scoring on it would grade the model on the very items
# picked for being hard.
TRAIN_ONLY_EVERY_TASK: Tuple[str, ...] = ("review",)
TRAIN_ONLY_FOLD = -1


def train_only_sources(task: str) -> Tuple[str, ...]:
    """The sources whose rows ``task`` always trains on and never validates on.

    >>> train_only_sources("disaster_type"), train_only_sources("relevance")
    (('kaggle', 'review'), ('review',))
    """
    return TRAIN_ONLY_SOURCES.get(task, ()) + TRAIN_ONLY_EVERY_TASK


def fold_assignment(group_rows: List[Tuple[str, int, Optional[str], str]], k: int, by_label: bool,
                    train_only_sources: Tuple[str, ...] = ()) -> Dict[str, int]:
    """Fold per group from ``(group, rows, single label or None, source)`` tuples.

    Groups from ``train_only_sources`` get :data:`TRAIN_ONLY_FOLD` (always trained on); the others
    are spread by :func:`assign_folds`, per label when ``by_label``.

    >>> fold_assignment([("e1", 10, "flood", "t26"), ("e2", 8, "flood", "t6"),
    ...                  ("kaggle:flood", 30, "flood", "kaggle")], 2, True, ("kaggle",))
    {'e1': 0, 'e2': 1, 'kaggle:flood': -1}
    """
    held = [(g, n, lab) for g, n, lab, src in group_rows if src not in train_only_sources]
    folds = assign_folds({g: n for g, n, _ in held}, k, {g: lab for g, _, lab in held} if by_label else None)
    folds.update({g: TRAIN_ONLY_FOLD for g, _, _, src in group_rows if src in train_only_sources})
    return folds


def with_label_index(labels: List[str], label_col: str = "label"):
    """Transform: add ``label_idx`` (position of the label in ``labels``)."""
    def _apply(df: DataFrame) -> DataFrame:
        mapping = F.create_map(*[x for i, lab in enumerate(labels) for x in (F.lit(lab), F.lit(float(i)))])
        return df.withColumn("label_idx", mapping[F.col(label_col)])
    return _apply


def with_class_weights(counts: Dict[str, int], label_col: str = "label"):
    """Transform: add ``weight`` = n / (k * n_label), so every class weighs the same in total."""
    total, k = sum(counts.values()), len(counts)
    def _apply(df: DataFrame) -> DataFrame:
        mapping = F.create_map(*[x for lab, n in counts.items() for x in (F.lit(lab), F.lit(total / (k * n)))])
        return df.withColumn("weight", mapping[F.col(label_col)])
    return _apply


def with_group_features(tf_col: str = "cl_tf"):
    """Transform: featurised rows -> distinct ``(group, fold, idx)``: which hashed features occur
    in which group (event).

    Training only: a Python UDF reads the sparse vector's indices (Spark SQL has no function for
    it, and its ``hash`` is not the Murmur3 variant ``HashingTF`` uses); one pass over the
    training rows, never on the scoring path.
    """
    indices = F.udf(lambda v: [int(i) for i in v.indices] if v is not None else [], T.ArrayType(T.IntegerType()))

    def _apply(df: DataFrame) -> DataFrame:
        return df.select("group", "fold", F.explode(indices(F.col(tf_col))).alias("idx")).distinct()
    return _apply


def features_in_groups(group_features: DataFrame, min_groups: int, exclude_fold: Optional[int] = None) -> List[int]:
    """Sorted hashed-feature indices occurring in >= ``min_groups`` groups outside ``exclude_fold``.

    An action: brings up to ``num_features`` ints (2^18: ~2 MB) to the driver for a VectorSlicer.
    """
    df = group_features if exclude_fold is None else group_features.where(F.col("fold") != exclude_fold)
    kept = (df.groupBy("idx").agg(F.countDistinct("group").alias("n_groups"))
            .where(F.col("n_groups") >= min_groups).select("idx").collect())
    return sorted(int(r["idx"]) for r in kept)


def _scores(pred: DataFrame, spec: TaskSpec) -> DataFrame:
    """(gold, predicted index, positive probability, max probability) per validation row."""
    prob = vector_to_array("probability")
    pos_idx = spec.labels.index(spec.positive) if spec.binary else 0
    return pred.select(
        F.col("label").alias("gold"), F.col("prediction").cast("int").alias("pred_idx"),
        prob[pos_idx].alias("p_pos"), F.array_max(prob).alias("p_max"), "group")


def train_task(
    spec: TaskSpec,
    data: DataFrame,
    features: feat.FeatureParams = feat.FeatureParams(),
    head: feat.HeadParams = feat.HeadParams(),
    folds: int = 4,
    cv: bool = False,
    refit: bool = True,
    target_precision: Optional[float] = None,
) -> Tuple[PipelineModel, Dict[str, object]]:
    """Validate by group, choose thresholds, fit the final model.

    ``data`` is deduplicated training data (``text, label, group, source``). Groups are spread
    over ``folds`` folds (per label for multi-class tasks whose groups carry one label, see
    :func:`assign_folds`). By default fold 0 is held out for the metrics and thresholds; with
    ``cv`` every fold is (out-of-fold predictions, ``folds`` fits). With ``refit`` the kept model
    is fitted again on all rows; without it, the model fitted without fold 0 is kept.
    Returns the fitted PipelineModel and the validation metrics for ``metrics.json``.
    """
    started = time.monotonic()
    target = spec.target_precision if target_precision is None else target_precision
    plan = plan_folds(spec, data, folds)
    k, label_counts = plan.k, plan.label_counts
    fold_map = F.create_map(*[x for g, f in plan.fold_of.items() for x in (F.lit(g), F.lit(f))])

    text_model = feat.fit_text_model(data, "text", features)
    prepared = (text_model.transform(data)
                .transform(with_label_index(spec.labels))
                .transform(with_class_weights({lab: label_counts[lab] for lab in plan.labels_present}))
                .withColumn("fold", fold_map[F.col("group")])
                .select("label", "label_idx", "weight", "group", "source", "fold", *feat.head_input_columns(head))
                .persist(StorageLevel.MEMORY_AND_DISK))
    n_rows = prepared.count()
    group_features = None
    if head.min_groups > 1:
        group_features = prepared.transform(with_group_features()).persist(StorageLevel.MEMORY_AND_DISK)

    def fit_head(exclude_fold: Optional[int]) -> PipelineModel:
        # Regularisation from the full row count (a holdout fit sees ~3/4 of it: close enough).
        keep = (features_in_groups(group_features, head.min_groups, exclude_fold)
                if group_features is not None else None)
        stages = feat.head_stages(spec.labels, features, head, weight_col="weight", n_rows=n_rows, keep_features=keep)
        rows = prepared if exclude_fold is None else prepared.where(F.col("fold") != exclude_fold)
        return feat.fit_head(stages, rows)

    val_folds = list(range(k)) if cv else [0]
    oof_parts = []
    head_model = None
    for fold in val_folds:
        fitted = fit_head(fold)
        oof_parts.append(fitted.transform(prepared.where(F.col("fold") == fold)))
        head_model = fitted
        log.info("%s: fold %d/%d fitted", spec.name, fold + 1, k)
    oof = oof_parts[0]
    for part in oof_parts[1:]:
        oof = oof.unionByName(part)
    rows = _scores(oof, spec).collect()  # one small tuple per validation row (see module doc)
    metrics = validation_metrics(spec, rows, target)
    metrics.update(
        validation=f"{k}-fold cross-validation grouped by event (out-of-fold predictions)" if cv else
        f"holdout fold 0 of {k} (grouped by event)",
        refit_on_all_rows=refit, folds=k, n_train=n_rows, label_counts=label_counts, groups=plan.fold_of,
    )

    if refit:
        head_model = fit_head(None)
    prepared.unpersist()
    if group_features is not None:
        group_features.unpersist()
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    return feat.combine(text_model, head_model), metrics


@dataclass(frozen=True)
class FoldPlan:
    """How :func:`train_task` splits its rows: ``k`` folds, each group's fold, the label counts."""

    k: int
    fold_of: Dict[str, int]
    label_counts: Dict[str, int]
    labels_present: List[str]


def plan_folds(spec: TaskSpec, data: DataFrame, folds: int) -> FoldPlan:
    """Spread the groups (events) over at most ``folds`` folds; sources that are training-only for
    the task never form a validation fold."""
    label_counts = {r["label"]: r["count"] for r in data.groupBy("label").count().collect()}
    group_rows = data.groupBy("group").agg(F.count(F.lit(1)).alias("n"), F.countDistinct("label").alias("n_labels"),
                                           F.min("label").alias("label"), F.min("source").alias("source")).collect()
    # Events of one type (disaster_type): spread each type's events over the folds.
    single_label = not spec.binary and all(r["n_labels"] == 1 for r in group_rows)
    train_only = train_only_sources(spec.name)
    k = max(2, min(folds, sum(1 for r in group_rows if r["source"] not in train_only)))
    fold_of = fold_assignment([(r["group"], r["n"], r["label"], r["source"]) for r in group_rows], k,
                              single_label, train_only)
    return FoldPlan(k, fold_of, label_counts, [lab for lab in spec.labels if label_counts.get(lab)])


def validation_metrics(spec: TaskSpec, rows: list, target: Optional[float]) -> Dict[str, object]:
    """Per-class report, decision and review thresholds and per-group scores of the validation
    rows (``gold``, ``p_pos`` or ``pred_idx``/``p_max``, ``group``)."""
    if spec.binary:
        scored = [(r["p_pos"], r["gold"] == spec.positive) for r in rows]
        decision = best_f1_threshold(scored)
        preds = [(r["gold"], spec.positive if r["p_pos"] >= decision else _other(spec)) for r in rows]
        review = choose_threshold(scored, target, floor=decision) if target else None
    else:
        decision = 0.0
        preds = [(r["gold"], spec.labels[r["pred_idx"]]) for r in rows]
        scored = [(r["p_max"], spec.labels[r["pred_idx"]] == r["gold"]) for r in rows]
        review = choose_threshold(scored, target, floor=0.0) if target else None
    report = classification_report(pair_counts_from(preds), spec.positive, spec.labels)
    metrics: Dict[str, object] = dict(**report, decision_threshold=decision, per_group=_per_group(rows, preds, spec))
    if review:
        metrics.update(threshold=review["threshold"], target_precision=target,
                       precision_at_threshold=review["precision"], recall_at_threshold=review["recall"],
                       target_reached=bool(review["reached"]))
    else:
        metrics.update(threshold=decision, target_precision=None)
    if spec.binary:
        p, r = precision_recall_at(scored, decision)
        metrics.update(precision_at_decision=round(p, 6), recall_at_decision=round(r, 6))
    return metrics


def _other(spec: TaskSpec) -> str:
    return next(lab for lab in spec.labels if lab != spec.positive)


def _per_group(rows, preds, spec: TaskSpec) -> Dict[str, Dict[str, object]]:
    return per_group_scores([row["group"] for row in rows], preds, spec)


def per_group_scores(groups: List[str], preds, spec: TaskSpec) -> Dict[str, Dict[str, object]]:
    """Held-out score per event: accuracy always, F1 of the positive class for binary tasks."""
    out: Dict[str, list] = {}
    for group, pair in zip(groups, preds):
        # Kaggle "groups" are its 221 keywords: report them as one held-out collection.
        out.setdefault("kaggle" if group.startswith("kaggle:") else group, []).append(pair)
    summary = {}
    for group, pairs in sorted(out.items()):
        rep = classification_report(pair_counts_from(pairs), spec.positive, spec.labels)
        summary[group] = {"n": rep["n"], "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"]}
        if spec.binary:
            summary[group]["f1"] = rep["f1"]
    return summary
