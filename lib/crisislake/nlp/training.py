"""Grouped cross-validation, threshold choice and the final fit for one task.

Cost: the text features are computed once and cached (``MEMORY_AND_DISK``); each fold only fits
IDF + logistic regression. Validation predictions come to the driver as (score, gold) pairs —
one small tuple per training row (tens of thousands), needed for the threshold search.
"""
from __future__ import annotations

import logging
import time
from typing import Dict, List, Optional, Tuple

from pyspark import StorageLevel
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

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


def assign_folds(group_sizes: Dict[str, int], k: int) -> Dict[str, int]:
    """Spread groups over ``k`` folds, largest first into the smallest fold (deterministic).

    >>> assign_folds({"a": 10, "b": 6, "c": 5, "d": 1}, 2)
    {'a': 0, 'b': 1, 'c': 1, 'd': 0}
    """
    loads = [0] * k
    out: Dict[str, int] = {}
    for group, size in sorted(group_sizes.items(), key=lambda gs: (-gs[1], gs[0])):
        fold = min(range(k), key=lambda f: (loads[f], f))
        out[group] = fold
        loads[fold] += size
    return out


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
    quick: bool = False,
    target_precision: Optional[float] = None,
) -> Tuple[PipelineModel, Dict[str, object]]:
    """Cross-validate by group, choose thresholds, fit the final model.

    ``data`` is deduplicated training data (``text, label, group, source``). With ``quick``
    (holdout mode) only fold 0 is held out and the model fitted on the other folds is kept, with
    no refit on everything: one fit instead of ``folds + 1``.
    Returns the fitted PipelineModel and the validation metrics for ``metrics.json``.
    """
    started = time.monotonic()
    target = spec.target_precision if target_precision is None else target_precision
    label_counts = {r["label"]: r["count"] for r in data.groupBy("label").count().collect()}
    labels_present = [lab for lab in spec.labels if label_counts.get(lab)]
    group_sizes = {r["group"]: r["count"] for r in data.groupBy("group").count().collect()}
    k = max(2, min(folds, len(group_sizes)))
    fold_of = assign_folds(group_sizes, k)
    fold_map = F.create_map(*[x for g, f in fold_of.items() for x in (F.lit(g), F.lit(f))])

    text_model = feat.fit_text_model(data, "text", features)
    prepared = (text_model.transform(data)
                .transform(with_label_index(spec.labels))
                .transform(with_class_weights({lab: label_counts[lab] for lab in labels_present}))
                .withColumn("fold", fold_map[F.col("group")])
                .select("label", "label_idx", "weight", "group", "source", "fold", f"{feat.PREFIX}tf")
                .persist(StorageLevel.MEMORY_AND_DISK))
    n_rows = prepared.count()
    head_pipeline = Pipeline(stages=feat.head_stages(spec.labels, features, head, weight_col="weight"))

    val_folds = [0] if quick else list(range(k))
    oof_parts = []
    head_model = None
    for fold in val_folds:
        fitted = head_pipeline.fit(prepared.where(F.col("fold") != fold))
        oof_parts.append(fitted.transform(prepared.where(F.col("fold") == fold)))
        head_model = fitted
        log.info("%s: fold %d/%d fitted", spec.name, fold + 1, k)
    oof = oof_parts[0]
    for part in oof_parts[1:]:
        oof = oof.unionByName(part)
    rows = _scores(oof, spec).collect()  # one small tuple per validation row (see module doc)

    metrics: Dict[str, object] = {}
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
    by_group = _per_group(rows, preds, spec)
    metrics.update(
        validation=f"holdout fold 0 of {k} (grouped by event)" if quick else
        f"{k}-fold cross-validation grouped by event (out-of-fold predictions)",
        folds=k, n_train=n_rows, label_counts=label_counts, groups=fold_of,
        **report, decision_threshold=decision, per_group=by_group,
    )
    if review:
        metrics.update(threshold=review["threshold"], target_precision=target,
                       precision_at_threshold=review["precision"], recall_at_threshold=review["recall"],
                       target_reached=bool(review["reached"]))
    else:
        metrics.update(threshold=decision, target_precision=None)
    if spec.binary:
        p, r = precision_recall_at(scored, decision)
        metrics.update(precision_at_decision=round(p, 6), recall_at_decision=round(r, 6))

    if not quick:
        head_model = head_pipeline.fit(prepared)
    prepared.unpersist()
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    return feat.combine(text_model, head_model), metrics


def _other(spec: TaskSpec) -> str:
    return next(lab for lab in spec.labels if lab != spec.positive)


def _per_group(rows, preds, spec: TaskSpec) -> Dict[str, Dict[str, object]]:
    """Held-out score per event: accuracy always, F1 of the positive class for binary tasks."""
    out: Dict[str, Dict[str, list]] = {}
    for row, pair in zip(rows, preds):
        group = row["group"]
        # Kaggle "groups" are its 221 keywords: report them as one held-out collection.
        out.setdefault("kaggle" if group.startswith("kaggle:") else group, []).append(pair)
    summary = {}
    for group, pairs in sorted(out.items()):
        rep = classification_report(pair_counts_from(pairs), spec.positive, spec.labels)
        summary[group] = {"n": rep["n"], "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"]}
        if spec.binary:
            summary[group]["f1"] = rep["f1"]
    return summary
