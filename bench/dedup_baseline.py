"""The baseline a new user writes in 30 lines: datasketch MinHashLSH over character 5-grams of
plainly normalised text (lower case, no retweet prefix, links or mentions), every LSH candidate
linked, clusters by union-find. ``bench_dedup.py`` scores it on the variant set and times it
at 1,000,000 tweets, in the same runs as crisislake."""
from __future__ import annotations

import re
from typing import Dict, List, Sequence

PLAIN = [re.compile(p) for p in (r"^(rt @\w+:?\s*)+", r"https?://\S+|www\.\S+", r"@\w+", r"\s+")]


def plain_normalise(text: str) -> str:
    out = (text or "").lower()
    for pattern in PLAIN[:-1]:
        out = pattern.sub(" ", out)
    return PLAIN[-1].sub(" ", out).strip()


def datasketch_clusters(texts: Sequence[str], threshold: float = 0.7, num_perm: int = 128) -> List[int]:
    """Cluster label (a row index) per text."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, text in enumerate(texts):
        norm = plain_normalise(text)
        if not norm:
            continue
        m = MinHash(num_perm=num_perm)
        m.update_batch([norm[k:k + 5].encode("utf-8") for k in range(max(len(norm) - 4, 1))])
        for j in lsh.query(m):
            parent[find(i)] = find(j)
        lsh.insert(i, m, check_duplication=False)
    return [find(i) for i in range(len(texts))]


def pair_scores(labels: Sequence, truth: Sequence) -> Dict[str, float]:
    """Pairwise precision and recall of a clustering against true groups (pairs counted from
    the group sizes of labels, of truth and of (label, truth))."""
    from collections import Counter

    def pairs(keys) -> int:
        return sum(n * (n - 1) // 2 for n in Counter(keys).values())

    predicted, true, hit = pairs(labels), pairs(truth), pairs(zip(labels, truth))
    return {"precision": hit / predicted if predicted else 1.0, "recall": hit / true if true else 1.0,
            "predicted_pairs": predicted, "true_pairs": true, "hit_pairs": hit}
