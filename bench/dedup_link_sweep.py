#!/usr/bin/env python3
"""Precision/recall ceiling of connected components over verified pairs, without Spark.

For a 20,000-tweet CrisisLexT6 sample, all pairs with Jaccard >= 0.3 are found by brute force
(sparse matrix products); the truth is every pair with J >= 0.7 (same normalisation and shingles
as the pipeline); the "pipeline" is the connected components of the pairs with J >= a link
threshold, i.e. the pipeline with perfect LSH recall. Prints recall/precision per link threshold:
how far chaining drags precision down, and what a stricter link costs in recall.

    .venv/bin/python bench/dedup_link_sweep.py            # seed 7 = bench_dedup.py's sample
    SWEEP_SEEDS=8,9 .venv/bin/python bench/dedup_link_sweep.py
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))

THRESHOLD = 0.7
CONFIGS = [("word", 3), ("word", 2), ("word", 1), ("char", 5)]
LINKS = [0.70, 0.74, 0.76, 0.78, 0.80]


def similar_pairs(norm, shingle, ngram, floor=0.3):
    import numpy as np
    from crisislake.dedup.minhash import shingle_sets
    from scipy import sparse

    values, offsets = shingle_sets(norm, shingle, ngram)
    _, cols = np.unique(values, return_inverse=True)
    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(len(norm)), lengths)
    X = sparse.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(norm), cols.max() + 1))
    XT = X.T.tocsc()
    out_i, out_j, out_s = [], [], []
    for start in range(0, len(norm), 2000):
        inter = (X[start:start + 2000] @ XT).toarray()
        union = lengths[start:start + 2000][:, None] + lengths[None, :] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            jac = np.where(union > 0, inter / union, 0.0)
        i, j = np.nonzero(jac >= floor)
        sim = jac[i, j]
        i = i + start
        keep = (i < j) & (lengths[i] > 0) & (lengths[j] > 0)
        out_i.append(i[keep])
        out_j.append(j[keep])
        out_s.append(sim[keep])
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def main() -> int:
    import numpy as np
    from bench_dedup import load_texts
    from crisislake.dedup.normalize import normalize_py
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    all_texts = load_texts()
    for seed in (int(s) for s in os.environ.get("SWEEP_SEEDS", "7").split(",")):
        norm = [normalize_py(t) for _, t in random.Random(seed).sample(all_texts, 20000)]
        n = len(norm)
        for shingle, ngram in CONFIGS:
            i, j, s = similar_pairs(norm, shingle, ngram)
            true = s >= THRESHOLD - 1e-9
            cells = []
            for link in LINKS:
                edge = s >= link - 1e-9
                graph = sparse.coo_matrix((np.ones(edge.sum()), (i[edge], j[edge])), shape=(n, n))
                _, label = connected_components(graph, directed=False)
                sizes = np.bincount(label)
                clustered = int((sizes * (sizes - 1) // 2).sum())
                hit = int((label[i[true]] == label[j[true]]).sum())
                cells.append(f"{link:.2f}: R {hit / true.sum():.3f} P {hit / clustered:.4f}")
            print(f"seed {seed} {shingle}{ngram} ({int(true.sum())} true pairs) | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
