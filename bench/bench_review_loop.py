#!/usr/bin/env python3
"""What the review loop buys: reviewers correct the top-N review items of unseen events, retrain.

For each task (relevance, police_force) and each held-out fold of the 4 grouped folds ``train``
uses (events; Kaggle keywords; Blue Witness text buckets), on the rows ``train`` fits on
(``eval_models.training_rows``: deduplicated, conflicts resolved, English):

1. **before**: ``train``'s default linear model on the other folds
   (``linear_training.train_linear``: thresholds from its own holdout fold, then the refit on
   all training rows). The held-out fold is the "new events" the pipeline classifies.
2. **review queue**: the held-out predictions, most uncertain first (``|p - decision threshold|``
   smallest). Simulated reviewers correct the top N: each item's gold label becomes a review row
   (source ``review``, group ``review:<task>``: a confirm, reject or relabel whose resulting label
   is the gold one, as ``review_rows`` builds it).
3. **after**: the same model refitted on the training rows plus the N review rows.
4. **random control**: the same N picked at random from the held-out fold, same refit.

Scored on the held-out fold minus both arms' reviewed tweets (the same rows for before, after and
the control): precision at recall 0.8 (``RECALL``; the precision of the highest-scored rows that
reach 80 % of the positives), which needs no threshold, so a retrained model is not judged on a
threshold chosen before it existed. Medians over folds (and seeds of the random pick), with
ranges.

Usage: ``PYTHONPATH=lib .venv/bin/python bench/bench_review_loop.py`` (~10 min on 2 busy cores,
plus ~3 min of Spark for the training rows). ``LOOP_TASKS=relevance`` picks tasks,
``LOOP_FOLDS=0,1`` the held-out folds, ``LOOP_SEEDS=2`` the random picks per fold (default 5),
``LOOP_SIZES=50,200,1000`` the N; ``EVAL_CACHE=dir`` caches the training rows (no Spark on a
second run). Writes ``bench/results/review_loop.md``.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_models as em  # noqa: E402  (bench helpers: training rows, grouped folds, the default model)
from results_md import command_line, write_section  # noqa: E402

RECALL = 0.8
TASKS = [t for t in os.environ.get("LOOP_TASKS", "relevance,police_force").split(",") if t]
FOLDS = [int(f) for f in os.environ.get("LOOP_FOLDS", "0,1,2,3").split(",") if f]
SEEDS = int(os.environ.get("LOOP_SEEDS", "5"))
SIZES = [int(n) for n in os.environ.get("LOOP_SIZES", "50,200,1000").split(",") if n]
ENV = ("LOOP_TASKS", "LOOP_FOLDS", "LOOP_SEEDS", "LOOP_SIZES", "EVAL_CACHE")


def precision_at_recall(p_pos: np.ndarray, positive: np.ndarray, recall: float = RECALL) -> float:
    """Precision of the highest-scored rows that together hold ``recall`` of the positives.

    >>> precision_at_recall(np.array([0.9, 0.8, 0.7, 0.6, 0.1]), np.array([1, 0, 1, 1, 0], bool), 0.6)
    0.6666666666666666
    """
    order = np.argsort(-p_pos, kind="stable")
    hits = np.cumsum(positive[order])
    k = int(np.searchsorted(hits, np.ceil(recall * positive.sum() - 1e-9))) + 1
    return float(hits[k - 1] / k)


def uncertain_first(p_pos: np.ndarray, threshold: float) -> np.ndarray:
    """Positions ordered as the review queue orders them: nearest the decision threshold first.

    >>> uncertain_first(np.array([0.9, 0.52, 0.1, 0.45]), 0.5).tolist()
    [1, 3, 0, 2]
    """
    return np.argsort(np.abs(p_pos - threshold), kind="stable")


class Loop:
    """One task's rows, their features (computed once) and the fits of one held-out fold."""

    def __init__(self, task: str):
        from crisislake.nlp.tasks import get_task

        self.spec = get_task(task)
        self.rows = em.training_rows(task)
        self.models = em.Models(self.spec, self.rows)  # the default model's features and head
        self.fold = em.event_folds(self.spec, self.rows)
        self.pos = self.spec.labels.index(self.spec.positive)

    def before(self, f: int):
        """``train`` on the other folds: the refit model and its decision threshold."""
        from crisislake.nlp.linear_training import predict_counts, train_linear

        train_at = np.nonzero(self.fold != f)[0]
        model, metrics = train_linear(self.spec, self.rows.iloc[train_at], self.models.params, self.models.head)
        held_at = np.nonzero(self.fold == f)[0]
        return train_at, held_at, predict_counts(model, self.models.counts[held_at])[:, self.pos], \
            float(metrics["decision_threshold"])

    def after(self, train_at: np.ndarray, reviewed: np.ndarray, score_at: np.ndarray) -> Dict[int, float]:
        """Refit on the training rows plus ``reviewed`` as review rows (their gold labels);
        positive-class probability per row of ``score_at``."""
        from crisislake.nlp.linear_training import fit_model, predict_counts
        from crisislake.nlp.review_rows import REVIEW_SOURCE, review_group

        m = self.models
        at = np.concatenate([train_at, reviewed])
        groups = np.concatenate([m.groups[train_at], np.full(len(reviewed), review_group(self.spec.name), object)])
        sources = np.concatenate([m.sources[train_at], np.full(len(reviewed), REVIEW_SOURCE, object)])
        model = fit_model(self.spec.name, self.spec.labels, m.counts[at], m.y[at], m.params, m.head, groups, sources)
        return dict(zip(score_at.tolist(), predict_counts(model, m.counts[score_at])[:, self.pos]))


def run_task(task: str) -> List[Dict[str, object]]:
    loop = Loop(task)
    is_pos = loop.models.y == loop.spec.positive
    results = []
    for f in FOLDS:
        started = time.time()
        train_at, held_at, p_held, threshold = loop.before(f)
        queue = held_at[uncertain_first(p_held, threshold)]
        p_of = dict(zip(held_at.tolist(), p_held))
        for n in SIZES:
            if 2 * n >= len(held_at):
                continue
            top = queue[:n]
            p_top = loop.after(train_at, top, held_at)  # one refit serves every seed's scored rows
            for seed in range(SEEDS):
                rand = np.random.default_rng(1000 * f + seed).choice(held_at, n, replace=False)
                score_at = np.setdiff1d(held_at, np.union1d(top, rand))
                arms = {"uncertain": (top, p_top), "random": (rand, loop.after(train_at, rand, score_at))}
                row = {"task": task, "fold": f, "n": n, "seed": seed, "scored": len(score_at),
                       "before": precision_at_recall(np.array([p_of[i] for i in score_at]), is_pos[score_at])}
                for arm, (reviewed, p_after) in arms.items():
                    wrong = (np.array([p_of[i] for i in reviewed]) >= threshold) != is_pos[reviewed]
                    row[f"{arm}_errors"] = int(wrong.sum())
                    row[arm] = precision_at_recall(np.array([p_after[i] for i in score_at]), is_pos[score_at])
                results.append(row)
                print(row, flush=True)
        print(f"{task} fold {f}: {time.time() - started:.0f} s", flush=True)
    return results


def _median_range(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{np.median(v):+.3f} ({v.min():+.3f} .. {v.max():+.3f})" if len(v) > 1 else f"{v[0]:+.3f}"


def _median(rows, key: str) -> float:
    return float(np.median([r[key] for r in rows]))


def table(results: List[Dict[str, object]]) -> List[str]:
    lines = [f"| N reviewed | held-out rows scored (median) | P@R{RECALL} before | after, top-N uncertain: gain "
             f"(range) | after, N at random: gain (range) | uncertain minus random, paired (range) | model errors "
             "among the N: uncertain / random |",
             "|---|---|---|---|---|---|---|"]
    for n in sorted({r["n"] for r in results}):
        rs = [r for r in results if r["n"] == n]
        lines.append(
            f"| {n} | {_median(rs, 'scored'):.0f} | {_median(rs, 'before'):.3f} | {_median_range([r['uncertain'] - r['before'] for r in rs])}"
            f" | {_median_range([r['random'] - r['before'] for r in rs])}"
            f" | {_median_range([r['uncertain'] - r['random'] for r in rs])} | {_median(rs, 'uncertain_errors'):.0f} / "
            f"{_median(rs, 'random_errors'):.0f} |")
    return lines


def main() -> int:
    from crisislake.config import load_config

    em.CONFIG = load_config("local", overrides=["spark.driver_memory=3g", "spark.shuffle_partitions=4"])
    started = time.time()
    load_start = os.getloadavg()[0]
    try:
        by_task = {task: run_task(task) for task in TASKS}
    finally:
        if em.SPARK is not None:
            em.SPARK.stop()
    for task, results in by_task.items():
        if not results:
            continue
        lines = [
            f"Held-out folds {', '.join(str(f) for f in FOLDS)} of the 4 grouped folds `train` uses, "
            f"{SEEDS} random pick(s) per fold; figures are medians over the "
            f"{len({(r['fold'], r['seed']) for r in results})} fold x seed runs; a gain is the change of P@R{RECALL} (precision at recall {RECALL}; 0.010 = 1 point) on the "
            "held-out fold minus both arms' reviewed tweets. The after-models are the before-model's training "
            "rows plus the N review rows (training-only), refitted.", "",
            *table(results), "",
            *([f"N = {', '.join(map(str, skipped))} not run: a held-out fold has fewer than 2N rows.", ""]
              if (skipped := sorted(set(SIZES) - {r["n"] for r in results})) else []),
            "Per run (fold, seed, N: before / uncertain / random):", "",
            *(f"- fold {r['fold']}, seed {r['seed']}, N {r['n']}: {r['before']:.3f} / {r['uncertain']:.3f} / "
              f"{r['random']:.3f}" for r in results), "",
            f"Load average at the start {load_start:.1f}; {time.time() - started:.0f} s wall for all tasks. The "
            "figures are quality, not timing: the same on a loaded machine (fixed folds and seeds).",
        ]
        write_section("review_loop", "The review loop: what reviewer corrections buy", task,
                      f"{task}: top-N review items corrected, model retrained", lines,
                      command_line("bench_review_loop.py", ENV))
    return 0


if __name__ == "__main__":
    sys.exit(main())
