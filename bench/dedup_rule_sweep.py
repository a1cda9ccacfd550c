#!/usr/bin/env python3
"""Which verification rule, without Spark: brute-force scores of every rule on the tune side of the
variant set (``bench/dedup_variants.py``), i.e. the pipeline with perfect candidates.

Every pair of distinct normalised texts with word/char shingle Jaccard >= 0.3 or a containment
>= 0.5 is found with sparse matrix products; a *rule* keeps some of them as verified pairs
(Jaccard >= J, or the truncated end contained at >= C, never when the two state different
numbers), an edge needs neighbourhood support >= S among the verified pairs (as
``crisislake.dedup.cluster.with_support``: texts weighted by their tweets), and the clusters are
the connected components. Scores are pairwise precision / recall over tweets against the sources.
The rule was chosen from this table on ``tune`` only; ``heldout`` is scored by
``bench/bench_dedup.py``, never swept.

    .venv/bin/python bench/dedup_rule_sweep.py              # word 2-grams, word 3-grams, char 5-grams
    SWEEP_SHINGLES=word2 .venv/bin/python bench/dedup_rule_sweep.py
    SWEEP_GUARD=0 ...                                        # without the numbers guard
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))

GUARD = os.environ.get("SWEEP_GUARD", "1") == "1"
JACCARDS, CONTAINMENTS, SUPPORTS = (0.7, 0.6, 0.5), (None, 0.9, 0.8), (0.0, 0.75, 0.8, 0.85)


class TextPairs:
    """Distinct normalised texts of the set with their weights, flags and near pairs."""

    def __init__(self, rows, shingle: str, ngram: int):
        from crisislake.dedup.minhash import number_hashes, numbers_conflict_py, shingle_sets
        from crisislake.dedup.normalize import normalize_py, strip_truncated

        norm = [normalize_py(r["text"]) for r in rows]
        uniq, tid = np.unique(np.array(norm, dtype=object), return_inverse=True)
        self.tid, self.n = tid.ravel(), len(uniq)
        self.weight = np.bincount(self.tid, minlength=self.n).astype(float)
        base = [strip_truncated(u) for u in uniq]
        self.cut = np.array([t for _, t in base])
        words = [w for w, _ in base]
        numbers = [number_hashes(w.split()) for w in words]
        values, offsets = shingle_sets(words, shingle, ngram)
        self.size = np.diff(offsets)
        self.a, self.b, self.jac, self.ca, self.cb = self._pairs(values, offsets)
        self.conflict = np.array([numbers_conflict_py(numbers[x], numbers[y]) for x, y in zip(self.a, self.b)], bool)
        self.source = [r["source"] for r in rows]
        self.empty = np.array([w == "" for w in words])[self.tid]

    def _pairs(self, values, offsets):
        _, cols = np.unique(values, return_inverse=True)
        rows = np.repeat(np.arange(self.n), self.size)
        x = sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(self.n, cols.max() + 1))
        xt = x.T.tocsc()
        out = [[], [], [], [], []]
        for st in range(0, self.n, 2000):
            inter = (x[st:st + 2000] @ xt).toarray()
            la, lb = self.size[st:st + 2000][:, None], self.size[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                jac = np.where(la + lb - inter > 0, inter / (la + lb - inter), 0.0)
                ca, cb = np.where(la > 0, inter / la, 0.0), np.where(lb > 0, inter / lb, 0.0)
            i, j = np.nonzero((jac >= 0.3) | (ca >= 0.5) | (cb >= 0.5))
            keep = (i + st < j) & (self.size[i + st] > 0) & (self.size[j] > 0)
            i, j = i[keep], j[keep]
            for k, v in enumerate((i + st, j, jac[i, j], ca[i, j], cb[i, j])):
                out[k].append(v)
        return [np.concatenate(v) for v in out]

    def containment(self, min_contained: int = 2) -> np.ndarray:
        """As containment_score_py: the truncated end's share, the larger when both are cut."""
        a_ok = self.cut[self.a] & (self.size[self.a] >= min_contained)
        b_ok = self.cut[self.b] & (self.size[self.b] >= min_contained)
        return np.maximum(np.where(a_ok, self.ca, 0.0), np.where(b_ok, self.cb, 0.0))

    def support(self, verified: np.ndarray) -> np.ndarray:
        adj = sparse.coo_matrix((np.ones(int(verified.sum())), (self.a[verified], self.b[verified])),
                                shape=(self.n, self.n)).tocsr()
        adj = adj + adj.T + sparse.identity(self.n, format="csr")
        adj.data[:] = 1
        weighted = adj @ sparse.diags(self.weight)
        common = np.asarray(adj[self.a].multiply(weighted[self.b]).sum(axis=1)).ravel()
        total = np.asarray(weighted.sum(axis=1)).ravel()
        return common / (total[self.a] + total[self.b] - common)

    def score(self, edges: np.ndarray):
        from dedup_baseline import pair_scores

        graph = sparse.coo_matrix((np.ones(int(edges.sum())), (self.a[edges], self.b[edges])), shape=(self.n, self.n))
        _, label = connected_components(graph, directed=False)
        per_tweet = label[self.tid].astype(np.int64)
        per_tweet[self.empty] = label.max() + 1 + np.arange(int(self.empty.sum()))
        sc = pair_scores(per_tweet.tolist(), self.source)
        return sc["recall"], sc["precision"]


def main() -> int:
    from dedup_variants import build

    rows = build("tune")
    print(f"tune side: {len(rows)} tweets, {len(set(r['source'] for r in rows))} sources; cells: recall / precision")
    for name in os.environ.get("SWEEP_SHINGLES", "word2,word3,char5").split(","):
        shingle, ngram = ("char" if name.startswith("char") else "word"), int(name[-1])
        pairs = TextPairs(rows, shingle, ngram)
        contained = pairs.containment()
        for jac in JACCARDS:
            for cont in CONTAINMENTS:
                verified = (pairs.jac >= jac) | ((contained >= cont) if cont else False)
                if GUARD:
                    verified &= ~pairs.conflict
                support = pairs.support(verified)
                cells = []
                for s in SUPPORTS:
                    recall, precision = pairs.score(verified & (support >= s) if s else verified)
                    cells.append(f"S {s}: {recall:.3f} / {precision:.4f}")
                print(f"{name} J >= {jac} C >= {cont or '-'} | " + " | ".join(cells), flush=True)
    counts = Counter(r["kind"] for r in rows if r["edits"] == "original")
    print("sources by kind:", dict(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
