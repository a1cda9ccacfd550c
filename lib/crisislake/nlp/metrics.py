"""Classification scores and threshold choice, in plain Python over small collected results.

Spark aggregates first (a confusion count per (gold, predicted) pair, or one (score, gold) pair
per validation row); these functions only do arithmetic on what reaches the driver.
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _round(x: float) -> float:
    return round(float(x), 6)


def classification_report(
    pair_counts: Mapping[Tuple[str, str], int],
    positive: Optional[str] = None,
    label_order: Sequence[str] = (),
) -> Dict[str, object]:
    """Accuracy, per-class P/R/F1, macro-F1 and the confusion matrix from (gold, pred) counts.

    ``macro_f1`` averages F1 over the labels occurring among the gold labels; predictions of any
    other label (including ``unknown``) count as errors. The confusion matrix lists the gold
    labels (in ``label_order`` first, then sorted), then any other predicted label.

    >>> r = classification_report({("1", "1"): 3, ("1", "0"): 1, ("0", "1"): 1, ("0", "0"): 5}, "1")
    >>> r["accuracy"], r["precision"], r["recall"], r["f1"], r["macro_f1"], r["weighted_f1"]
    (0.8, 0.75, 0.75, 0.75, 0.791667, 0.8)
    """
    gold_labels = {g for (g, _), n in pair_counts.items() if n}
    pred_labels = {p for (_, p), n in pair_counts.items() if n}
    ordered = [lab for lab in label_order if lab in gold_labels]
    ordered += sorted(gold_labels - set(ordered))
    extra = [lab for lab in label_order if lab in pred_labels and lab not in gold_labels]
    extra += sorted(pred_labels - set(ordered) - set(extra))
    matrix_labels = ordered + extra
    n = sum(pair_counts.values())
    correct = sum(c for (g, p), c in pair_counts.items() if g == p)
    per_class: Dict[str, Dict[str, float]] = {}
    for lab in matrix_labels:
        tp = pair_counts.get((lab, lab), 0)
        pred = sum(c for (_, p), c in pair_counts.items() if p == lab)
        support = sum(c for (g, _), c in pair_counts.items() if g == lab)
        prec, rec = _safe_div(tp, pred), _safe_div(tp, support)
        per_class[lab] = {
            "precision": _round(prec), "recall": _round(rec),
            "f1": _round(_safe_div(2 * prec * rec, prec + rec)), "support": int(support),
        }
    macro = _safe_div(sum(per_class[lab]["f1"] for lab in ordered), len(ordered))
    weighted = _safe_div(sum(per_class[lab]["f1"] * per_class[lab]["support"] for lab in ordered), n)
    report: Dict[str, object] = {
        "n": int(n),
        "accuracy": _round(_safe_div(correct, n)),
        "macro_f1": _round(macro),
        "weighted_f1": _round(weighted),
        "per_class": per_class,
        "confusion_matrix": {
            "labels": matrix_labels,
            "matrix": [[int(pair_counts.get((g, p), 0)) for p in matrix_labels] for g in matrix_labels],
        },
    }
    if positive is not None:
        pos = per_class.get(positive, {"precision": 0.0, "recall": 0.0, "f1": 0.0})
        report.update(precision=pos["precision"], recall=pos["recall"], f1=pos["f1"])
    else:
        report.update(precision=None, recall=None, f1=None)
    return report


def pair_counts_from(pairs: Iterable[Tuple[str, str]]) -> Dict[Tuple[str, str], int]:
    """Count (gold, predicted) pairs.

    >>> pair_counts_from([("a", "a"), ("a", "b"), ("a", "a")])
    {('a', 'a'): 2, ('a', 'b'): 1}
    """
    out: Dict[Tuple[str, str], int] = {}
    for pair in pairs:
        out[pair] = out.get(pair, 0) + 1
    return out


def precision_recall_at(scored: Sequence[Tuple[float, bool]], threshold: float) -> Tuple[float, float]:
    """Precision and recall of "positive when score >= threshold".

    >>> precision_recall_at([(0.9, True), (0.8, False), (0.4, True)], 0.5)
    (0.5, 0.5)
    """
    tp = sum(1 for s, g in scored if s >= threshold and g)
    fp = sum(1 for s, g in scored if s >= threshold and not g)
    pos = sum(1 for _, g in scored if g)
    return _safe_div(tp, tp + fp), _safe_div(tp, pos)


def choose_threshold(
    scored: Sequence[Tuple[float, bool]], target_precision: float, floor: float = 0.5, min_accepted: int = 5,
) -> Dict[str, float]:
    """The lowest score threshold (>= ``floor``) whose accepted positives reach the target precision.

    ``scored`` holds one (score, is_positive) pair per validation row, where the score is the
    model's confidence in the positive (binary) or predicted (multi-class, then is_positive means
    "the prediction is right") label. Lowest threshold = most recall at that precision. When no
    threshold reaches the target with at least ``min_accepted`` accepted rows, the threshold with
    the best precision is returned and ``reached`` is 0.

    >>> choose_threshold([(0.95, True), (0.9, True), (0.7, False), (0.6, True), (0.2, False)], 0.75, min_accepted=1)
    {'threshold': 0.6, 'precision': 0.75, 'recall': 1.0, 'reached': 1.0}
    >>> choose_threshold([(0.95, True), (0.9, True), (0.7, False), (0.6, True), (0.2, False)], 0.9, min_accepted=1)
    {'threshold': 0.9, 'precision': 1.0, 'recall': 0.666667, 'reached': 1.0}
    """
    ranked = sorted(scored, key=lambda sg: -sg[0])
    pos_total = sum(1 for _, g in ranked if g)
    best = None
    tp = fp = 0
    best_fallback = None
    i = 0
    while i < len(ranked):
        score = ranked[i][0]
        while i < len(ranked) and ranked[i][0] == score:  # ties enter together
            tp += ranked[i][1]
            fp += not ranked[i][1]
            i += 1
        if score < floor:
            break
        prec = _safe_div(tp, tp + fp)
        rec = _safe_div(tp, pos_total)
        if tp + fp >= min_accepted and prec >= target_precision:
            best = (score, prec, rec)
        if best_fallback is None or prec > best_fallback[1]:
            best_fallback = (score, prec, rec)
    chosen, reached = (best, 1.0) if best else (best_fallback or (floor, 0.0, 0.0), 0.0)
    return {"threshold": _round(chosen[0]), "precision": _round(chosen[1]), "recall": _round(chosen[2]),
            "reached": reached}


def best_f1_threshold(scored: Sequence[Tuple[float, bool]], low: float = 0.3, high: float = 0.7) -> float:
    """The decision threshold in [low, high] (0.01 grid) with the best F1 on validation rows.

    >>> best_f1_threshold([(0.9, True), (0.45, True), (0.4, False), (0.2, False)])
    0.41
    """
    best_t, best_f1 = 0.5, -1.0
    steps = int(round((high - low) / 0.01))
    for k in range(steps + 1):
        t = round(low + k * 0.01, 2)
        p, r = precision_recall_at(scored, t)
        f1 = _safe_div(2 * p * r, p + r)
        if f1 > best_f1 + 1e-12:
            best_t, best_f1 = t, f1
    return best_t
