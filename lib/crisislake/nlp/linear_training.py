"""Fit a :class:`~crisislake.nlp.linear.LinearModel` with scikit-learn on the driver.

The training sets are small (tens of thousands of deduplicated texts), so they are collected to
the driver once, featurised with :mod:`crisislake.nlp.hashed` (the code that scores them later),
and every fold and the final model are fitted by scikit-learn's ``LogisticRegression``: seconds
per fit, where Spark ML's LBFGS took minutes. Validation is grouped exactly as before
(:func:`crisislake.nlp.training.fold_assignment`: events, Kaggle keywords, text buckets).
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from crisislake.nlp.hashed import HashParams, idf_weights, l2_per_block, term_counts
from crisislake.nlp.linear import LinearModel
from crisislake.nlp.metrics import (
    best_f1_threshold,
    choose_threshold,
    classification_report,
    pair_counts_from,
    precision_recall_at,
)
from crisislake.nlp.tasks import TaskSpec
from crisislake.nlp.training import fold_assignment, per_group_scores, train_only_sources

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinearHead:
    """Logistic-regression settings (scikit-learn's ``C``; ``class_weight`` "balanced" or None)."""

    c: float = 4.0
    class_weight: Optional[str] = "balanced"
    min_df: int = 2
    max_iter: int = 1000
    # Keep only features seen in >= min_groups training groups (events): the words of one event
    # ("sandy", "yolanda") cannot carry to the next. 1 = keep all.
    min_groups: int = 1
    # Weigh every source (CrisisLex, Kaggle, ...) the same in total, within the class weights.
    balance_sources: bool = False

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


def count_matrix(texts: Sequence[Optional[str]], params: HashParams):
    """scipy CSR of the sublinear term frequencies of ``texts``."""
    import scipy.sparse as sp

    indptr, indices, values = term_counts(texts, params)
    return sp.csr_matrix((values, indices, indptr), shape=(len(texts), params.n_features))


def _tfidf(counts, idf: np.ndarray, params: HashParams, active: np.ndarray):
    """TF-IDF with per-block L2 norm, restricted to the ``active`` columns (as scoring does)."""
    import scipy.sparse as sp

    weighted = l2_per_block(counts.indptr, counts.indices, counts.data * idf[counts.indices], params.bits)
    full = sp.csr_matrix((weighted, counts.indices, counts.indptr), shape=counts.shape)
    return full[:, active]


def _groups_per_feature(counts, groups: np.ndarray) -> np.ndarray:
    """How many distinct groups each feature occurs in."""
    codes = np.unique(groups, return_inverse=True)[1]
    rows = np.repeat(codes, np.diff(counts.indptr))
    pairs = np.unique(rows.astype(np.int64) * counts.shape[1] + counts.indices)
    return np.bincount(pairs % counts.shape[1], minlength=counts.shape[1])


def sample_weights(y: np.ndarray, sources: Optional[np.ndarray], head: LinearHead) -> Optional[np.ndarray]:
    """Per-row weights: "balanced" classes (n / (k * n_class)), within equal-weight sources
    when ``head.balance_sources``; ``None`` when neither applies."""
    if not head.balance_sources or sources is None:
        return None
    weights = np.ones(len(y), dtype=np.float64)
    names = np.unique(sources)
    for name in names:
        at = sources == name
        classes, counts = np.unique(y[at], return_counts=True)
        share = len(y) / len(names) / at.sum()
        for cls, n in zip(classes, counts):
            cw = at.sum() / (len(classes) * n) if head.class_weight == "balanced" else 1.0
            weights[at & (y == cls)] = share * cw
    return weights


def fit_model(task: str, labels: List[str], counts, y: np.ndarray, params: HashParams,
              head: LinearHead = LinearHead(), groups: Optional[np.ndarray] = None,
              sources: Optional[np.ndarray] = None) -> LinearModel:
    """Fit IDF and logistic regression on ``counts`` (:func:`count_matrix`) and gold ``y``
    (``groups``: each row's event, for ``head.min_groups``; ``sources`` for ``balance_sources``)."""
    from sklearn.linear_model import LogisticRegression

    idf = idf_weights(counts.indptr, counts.indices, params, head.min_df)
    if head.min_groups > 1 and groups is not None:
        idf[_groups_per_feature(counts, groups) < head.min_groups] = 0.0
    active = np.nonzero(idf)[0]
    x = _tfidf(counts, idf, params, active)
    weights = sample_weights(y, sources, head)
    lr = LogisticRegression(C=head.c, class_weight=None if weights is not None else head.class_weight,
                            max_iter=head.max_iter)
    lr.fit(x, y, sample_weight=weights)
    present = [str(c) for c in lr.classes_]
    if len(labels) == 2:
        if present != labels:
            raise ValueError(f"{task}: training data must hold both labels {labels}, got {present}")
        coef, intercept = lr.coef_.T, lr.intercept_
    else:
        # Labels absent from the training rows never win: zero weights, a very low intercept.
        coef = np.zeros((len(active), len(labels)), dtype=np.float32)
        intercept = np.full(len(labels), -30.0, dtype=np.float32)
        for i, lab in enumerate(present):
            j = labels.index(lab)
            coef[:, j] = lr.coef_[i] if len(present) > 2 else (lr.coef_[0] if i == 1 else -lr.coef_[0]) / 2
            intercept[j] = lr.intercept_[i] if len(present) > 2 else (
                lr.intercept_[0] if i == 1 else -lr.intercept_[0]) / 2
    return LinearModel(task=task, labels=list(labels), params=params, active=active.astype(np.int64),
                       idf=idf[active].astype(np.float32), coef=np.asarray(coef, dtype=np.float32),
                       intercept=np.asarray(intercept, dtype=np.float32))


def predict_counts(model: LinearModel, counts) -> np.ndarray:
    return model.proba_from_counts(counts.indptr, counts.indices, counts.data)


def train_linear(
    spec: TaskSpec, rows, params: HashParams = HashParams(), head: LinearHead = LinearHead(), folds: int = 4,
    cv: bool = False, refit: bool = True, target_precision: Optional[float] = None,
) -> Tuple[LinearModel, Dict[str, object]]:
    """Validate by group, choose thresholds, fit the kept model; as
    :func:`crisislake.nlp.training.train_task` but on a pandas frame ``rows`` (``text, label,
    group, source``) and scikit-learn. Returns the model and the ``metrics.json`` fields."""
    started = time.monotonic()
    target = spec.target_precision if target_precision is None else target_precision
    rows = rows.reset_index(drop=True)
    y = rows["label"].astype(str).to_numpy()
    groups = rows.groupby("group").agg(n=("label", "size"), n_labels=("label", "nunique"),
                                       label=("label", "min"), source=("source", "min"))
    single_label = not spec.binary and bool((groups["n_labels"] == 1).all())
    train_only = train_only_sources(spec.name)
    k = max(2, min(folds, int((~groups["source"].isin(train_only)).sum())))
    fold_of = fold_assignment([(g, int(r.n), r.label, r.source) for g, r in groups.iterrows()], k, single_label,
                              train_only)
    fold = rows["group"].map(fold_of).to_numpy()
    counts = count_matrix(rows["text"].tolist(), params)
    group, source = rows["group"].to_numpy(), rows["source"].to_numpy()

    val_folds = list(range(k)) if cv else [0]
    val_idx, val_prob = [], []
    model = None
    for f in val_folds:
        train_at, held_at = np.nonzero(fold != f)[0], np.nonzero(fold == f)[0]
        model = fit_model(spec.name, spec.labels, counts[train_at], y[train_at], params, head,
                          group[train_at], source[train_at])
        val_idx.append(held_at)
        val_prob.append(predict_counts(model, counts[held_at]))
        log.info("%s: fold %d/%d fitted", spec.name, f + 1, k)
    at = np.concatenate(val_idx)
    prob = np.concatenate(val_prob)
    metrics = validation_metrics(spec, y[at], prob, rows["group"].to_numpy()[at], target)
    metrics.update(
        validation=f"{k}-fold cross-validation grouped by event (out-of-fold predictions)" if cv else
        f"holdout fold 0 of {k} (grouped by event)",
        refit_on_all_rows=refit, folds=k, n_train=int(len(rows)),
        label_counts={str(k_): int(v) for k_, v in rows["label"].value_counts().items()}, groups=fold_of)
    if refit:
        model = fit_model(spec.name, spec.labels, counts, y, params, head, group, source)
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    return model, metrics


def validation_metrics(spec: TaskSpec, gold: np.ndarray, prob: np.ndarray, groups: np.ndarray,
                       target: Optional[float]) -> Dict[str, object]:
    """Report, decision and review thresholds from held-out probabilities (model label order)."""
    labels = spec.labels
    pred_idx = prob.argmax(axis=1)
    out: Dict[str, object] = {}
    if spec.binary:
        p_pos = prob[:, labels.index(spec.positive)]
        scored = [(float(p), g == spec.positive) for p, g in zip(p_pos, gold)]
        decision = best_f1_threshold(scored)
        other = next(lab for lab in labels if lab != spec.positive)
        preds = [(g, spec.positive if p >= decision else other) for g, p in zip(gold, p_pos)]
        review = choose_threshold(scored, target, floor=decision) if target else None
    else:
        decision = 0.0
        preds = [(g, labels[i]) for g, i in zip(gold, pred_idx)]
        scored = [(float(prob[r, i]), labels[i] == g) for r, (g, i) in enumerate(zip(gold, pred_idx))]
        review = choose_threshold(scored, target, floor=0.0) if target else None
    out.update(classification_report(pair_counts_from(preds), spec.positive, labels))
    out.update(decision_threshold=decision, per_group=per_group_scores(list(groups), preds, spec))
    if review:
        out.update(threshold=review["threshold"], target_precision=target, precision_at_threshold=review["precision"],
                   recall_at_threshold=review["recall"], target_reached=bool(review["reached"]))
    else:
        out.update(threshold=decision, target_precision=None)
    if spec.binary:
        p, r = precision_recall_at(scored, decision)
        out.update(precision_at_decision=round(p, 6), recall_at_decision=round(r, 6))
    return out
