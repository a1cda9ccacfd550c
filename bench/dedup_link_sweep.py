#!/usr/bin/env python3
"""Precision/recall ceiling of connected components over verified pairs, without Spark.

For a 20,000-tweet CrisisLexT6 sample, all pairs with Jaccard >= 0.3 are found by brute force
(sparse matrix products); the truth is every pair with J >= 0.7 (same normalisation and shingles
as the pipeline); the "pipeline" is the connected components of the pairs an *edge rule* keeps,
i.e. the pipeline with perfect LSH recall. Two parts:

* link thresholds per shingle type (``SWEEP_CONFIGS``, default all four): an edge needs J >= link;
* edge rules on word 3-grams (``SWEEP_RULES=1``, the default), over text nodes as the pipeline
  builds them (exact duplicates contracted into one node weighted by its number of tweets):
  a plain link threshold, "mutual best" (a pair below ``high`` only when it is the best neighbour
  of both ends) and the *neighbourhood support* rule the pipeline uses (a pair >= 0.7 only when
  the tweets within 0.7 of either end are mostly within 0.7 of both; see
  ``crisislake.dedup.cluster.with_support``).

``SWEEP_BRIDGES=1`` also prints, per seed, the clusters that hold the most false pairs under the
old default (link 0.76) and under the support rule, with their texts.

    .venv/bin/python bench/dedup_link_sweep.py            # seed 7 = bench_dedup.py's sample
    SWEEP_SEEDS=8,9 SWEEP_CONFIGS=word3 .venv/bin/python bench/dedup_link_sweep.py
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
SUPPORTS = [0.6, 0.65, 0.7, 0.75, 0.8, 0.85]
MUTUAL_BEST_HIGH = [0.76, 0.78, 0.80]


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


class TextGraph:
    """Tweet pairs contracted to text nodes: ``a < b`` distinct texts, ``sim``, ``weight`` per text
    (its number of tweets), and the tweet-level truth to score a clustering of the texts."""

    def __init__(self, norm, i, j, s):
        import numpy as np

        uniq, self.tid = np.unique(np.array(norm, dtype=object), return_inverse=True)
        self.tid = self.tid.ravel()
        self.texts = uniq
        self.n = len(uniq)
        self.weight = np.bincount(self.tid, minlength=self.n).astype(float)
        self.empty = np.array([t == "" for t in norm])
        self.true_i, self.true_j = i[s >= THRESHOLD - 1e-9], j[s >= THRESHOLD - 1e-9]
        a, b = self.tid[i], self.tid[j]
        keep = a != b
        a, b, s = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep]), s[keep]
        _, first = np.unique(a.astype(np.int64) * self.n + b, return_index=True)
        self.a, self.b, self.sim = a[first], b[first], s[first]

    def components(self, keep):
        """Cluster label per tweet (empty texts are singletons)."""
        import numpy as np
        from scipy import sparse
        from scipy.sparse.csgraph import connected_components

        graph = sparse.coo_matrix((np.ones(int(keep.sum())), (self.a[keep], self.b[keep])), shape=(self.n, self.n))
        _, label = connected_components(graph, directed=False)
        per_tweet = label[self.tid].astype(np.int64)
        per_tweet[self.empty] = label.max() + 1 + np.arange(int(self.empty.sum()))
        return per_tweet

    def score(self, keep):
        """(recall, precision) of the tweet pairs put in one cluster."""
        import numpy as np

        label = self.components(keep)
        sizes = np.bincount(label)
        clustered = int((sizes * (sizes - 1) // 2).sum())
        hit = int((label[self.true_i] == label[self.true_j]).sum())
        return hit / len(self.true_i), hit / clustered

    def threshold(self, link):
        return self.sim >= link - 1e-9

    def mutual_best(self, high, low=THRESHOLD):
        """Pairs >= high, and pairs in [low, high) that are the best neighbour of both ends."""
        import numpy as np

        base = self.threshold(low)
        best = np.zeros(self.n)
        np.maximum.at(best, self.a[base], self.sim[base])
        np.maximum.at(best, self.b[base], self.sim[base])
        both = np.isclose(self.sim, best[self.a]) & np.isclose(self.sim, best[self.b])
        return self.threshold(high) | (base & both)

    def support(self, low=THRESHOLD):
        """Weighted Jaccard of the closed neighbourhoods (pairs >= low) of each pair's two ends:
        tweets within ``low`` of both ends / tweets within ``low`` of either end (both ends count)."""
        import numpy as np
        from scipy import sparse

        base = self.threshold(low)
        adj = sparse.coo_matrix((np.ones(int(base.sum())), (self.a[base], self.b[base])), shape=(self.n, self.n)).tocsr()
        adj = adj + adj.T + sparse.identity(self.n, format="csr")
        weighted = adj @ sparse.diags(self.weight)
        common = np.asarray(adj[self.a].multiply(weighted[self.b]).sum(axis=1)).ravel()
        total = np.asarray(weighted.sum(axis=1)).ravel()
        return common / (total[self.a] + total[self.b] - common)

    def supported(self, min_support, link=THRESHOLD):
        return self.threshold(link) & (self.support() >= min_support - 1e-9)

    def worst_clusters(self, keep, k=3, show=6):
        """The k clusters with the most false pairs, with their heaviest texts."""
        import numpy as np

        label = self.components(keep)
        sizes = np.bincount(label)
        same = label[self.true_i] == label[self.true_j]
        true_in = np.bincount(label[self.true_i][same], minlength=len(sizes))
        false = sizes * (sizes - 1) // 2 - true_in
        lines = []
        for c in np.argsort(-false)[:k]:
            if false[c] == 0:
                break
            text_ids = np.unique(self.tid[label == c])
            lines.append(f"    cluster of {sizes[c]} tweets / {len(text_ids)} texts: {false[c]} false pairs")
            for t in sorted(text_ids, key=lambda t: -self.weight[t])[:show]:
                lines.append(f"      x{int(self.weight[t]):<3d} {self.texts[t][:100]}")
        return lines


def cell(graph, keep):
    recall, precision = graph.score(keep)
    return f"R {recall:.3f} P {precision:.3f}"


def main() -> int:
    from bench_dedup import load_texts
    from crisislake.dedup.normalize import normalize_py

    all_texts = load_texts()
    configs = [c for c in CONFIGS if f"{c[0]}{c[1]}" in os.environ.get("SWEEP_CONFIGS", "word3,word2,word1,char5")]
    for seed in (int(s) for s in os.environ.get("SWEEP_SEEDS", "7").split(",")):
        norm = [normalize_py(t) for _, t in random.Random(seed).sample(all_texts, 20000)]
        for shingle, ngram in configs:
            graph = TextGraph(norm, *similar_pairs(norm, shingle, ngram))
            cells = [f"{link:.2f}: {cell(graph, graph.threshold(link))}" for link in LINKS]
            print(f"seed {seed} {shingle}{ngram} ({len(graph.true_i)} true pairs) | " + " | ".join(cells), flush=True)
        if os.environ.get("SWEEP_RULES", "1") != "1":
            continue
        graph = TextGraph(norm, *similar_pairs(norm, "word", 3, floor=0.5))
        cells = [f"high {h:.2f}: {cell(graph, graph.mutual_best(h))}" for h in MUTUAL_BEST_HIGH]
        print(f"seed {seed} word3 mutual best below high | " + " | ".join(cells), flush=True)
        cells = [f"{x:.2f}: {cell(graph, graph.supported(x))}" for x in SUPPORTS]
        print(f"seed {seed} word3 link 0.70 + support >= | " + " | ".join(cells), flush=True)
        if os.environ.get("SWEEP_BRIDGES") == "1":
            for name, keep in (("link 0.76", graph.threshold(0.76)), ("support 0.75", graph.supported(0.75))):
                print(f"  seed {seed}, {name}: clusters with the most false pairs")
                print("\n".join(graph.worst_clusters(keep)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
