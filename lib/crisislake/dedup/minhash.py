"""Shingles, MinHash signatures and LSH band keys, vectorised with numpy inside one pandas UDF.

A text becomes a *set* of 64-bit shingle hashes (word 3-grams of the normalised text by default;
character n-grams optional). Each of ``num_perm = bands * rows`` hash functions is a
multiply-shift hash ``(a * x + b) >> 32`` over those 64-bit values; the signature is the minimum per
function, and each band of ``rows`` minima is folded into one 64-bit *band key*. Two texts become
a candidate pair when they share a band key; each candidate is then verified with the exact
Jaccard of the shingle sets (:func:`jaccard`); a verified pair becomes an edge of the cluster
graph only at ``link_threshold`` or above *and* when its two ends have about the same
neighbourhood (``min_support``, see ``crisislake.dedup.cluster.with_support``), so LSH only costs
recall, never precision of a linked pair.

Band/row choice (:func:`choose_bands`): the probability that a pair with Jaccard ``s`` shares at
least one band is ``1 - (1 - s**r)**b`` (the S-curve). We take the largest ``r`` (steepest curve,
fewest dissimilar candidates) for which some ``b`` with ``b * r <= max_perm`` still catches a pair
*at* the threshold with probability >= 0.97, and the smallest such ``b``. For the default 0.7 that
is ``r = 5, b = 20`` (100 permutations): P(0.7) = 0.975, P(0.8) = 0.9996, P(0.5) = 0.47,
P(0.3) = 0.048, P(0.1) = 0.0002.

All the work for a batch of rows is a handful of numpy passes over the concatenated code points
(no Python loop per row for character shingles), which is what makes it fast on 2 cores.
"""
from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

SIGNATURE_SCHEMA = T.StructType(
    [
        T.StructField("shingles", T.ArrayType(T.LongType()), True),
        T.StructField("band_keys", T.ArrayType(T.LongType()), True),
    ]
)


@dataclass(frozen=True)
class LshParams:
    """Shingling and LSH settings; :meth:`for_threshold` picks bands/rows from the S-curve."""

    threshold: float = 0.7
    num_bands: int = 20
    rows_per_band: int = 5
    shingle: str = "word"  # "char" or "word"
    ngram: int = 3
    # An edge of the cluster graph needs a verified Jaccard >= link_threshold (>= threshold) and a
    # neighbourhood support >= min_support (0 turns the support test off). Connected components
    # chain variants (a headline, the headline + a clause, ...) into clusters whose end points are
    # far below the threshold; an edge whose two ends see different tweets around them is such a
    # bridge. See cluster.with_support and the README's precision section.
    link_threshold: float = 0.7
    min_support: float = 0.75
    seed: int = 20200525
    max_bucket: int = 200  # larger LSH buckets are linked as a star around their smallest id

    @property
    def num_perm(self) -> int:
        return self.num_bands * self.rows_per_band

    @classmethod
    def for_threshold(cls, threshold: float = 0.7, shingle: str = "word", ngram: int = 0, max_perm: int = 128,
                      link_threshold: Optional[float] = None, min_support: Optional[float] = None) -> LshParams:
        """Settings for a Jaccard threshold: bands/rows from the S-curve of ``threshold``; edges at
        ``link_threshold`` (default: the threshold itself) with neighbourhood support >=
        ``min_support`` (default :data:`DEFAULT_MIN_SUPPORT`).

        >>> p = LshParams.for_threshold(0.7)
        >>> (p.num_bands, p.rows_per_band, p.shingle, p.ngram, p.link_threshold, p.min_support)
        (20, 5, 'word', 3, 0.7, 0.75)
        """
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if shingle not in ("char", "word"):
            raise ValueError(f"shingle must be 'char' or 'word', got {shingle!r}")
        link = threshold if link_threshold is None else link_threshold
        if not threshold <= link <= 1.0:
            raise ValueError(f"link_threshold must be in [threshold, 1], got {link}")
        support = DEFAULT_MIN_SUPPORT if min_support is None else min_support
        if not 0.0 <= support <= 1.0:
            raise ValueError(f"min_support must be in [0, 1], got {support}")
        bands, rows = choose_bands(threshold, max_perm)
        return cls(threshold=threshold, num_bands=bands, rows_per_band=rows, shingle=shingle,
                   ngram=ngram or (5 if shingle == "char" else 3), link_threshold=link, min_support=support)


# Chosen on five 20,000-tweet CrisisLexT6 samples (README, precision section): 0.75 had the widest
# margin over both targets (recall >= 0.95, precision >= 0.99) on all five.
DEFAULT_MIN_SUPPORT = 0.75


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """P(a pair with this Jaccard shares at least one band).

    >>> round(candidate_probability(0.7, 20, 5), 3)
    0.975
    """
    return 1.0 - (1.0 - similarity ** rows) ** bands


def choose_bands(threshold: float, max_perm: int = 128, min_recall: float = 0.97) -> Tuple[int, int]:
    """(bands, rows) for a Jaccard threshold: the steepest S-curve that still has
    ``P(threshold) >= min_recall`` within ``max_perm`` hash functions.

    >>> choose_bands(0.7)
    (20, 5)
    >>> choose_bands(0.9)
    (10, 11)
    """
    best = (max_perm, 1)
    for rows in range(1, max_perm + 1):
        p_row = threshold ** rows
        if p_row >= 1.0:
            best = (1, rows)
            continue
        if p_row <= 0.0:
            break
        bands = math.ceil(math.log(1.0 - min_recall) / math.log(1.0 - p_row))
        if bands * rows > max_perm:
            break
        best = (max(bands, 1), rows)
    return best


# ---------------------------------------------------------------- numpy kernels (driver-free)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_POLY = np.uint64(0x100000001B3)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a cheap bijective scrambler of uint64 values."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _segments(counts: np.ndarray) -> np.ndarray:
    """Row index of every element of a concatenation with these per-row counts."""
    return np.repeat(np.arange(len(counts)), counts)


def _char_shingles(texts: Sequence[str], n: int) -> Tuple[np.ndarray, np.ndarray]:
    """(hashes, row) of every character n-gram; a non-empty text shorter than n is one shingle."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    pad = "\x00" * (n - 1)
    joined = pad.join(texts) + pad
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    total = len(cps) - (n - 1)
    if total <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    acc = np.zeros(total, dtype=np.uint64)
    for j in range(n):
        acc = acc * _POLY + cps[j:j + total]
    starts = np.concatenate(([0], np.cumsum(lengths + (n - 1))[:-1]))
    counts = np.where(lengths > 0, np.maximum(lengths - n + 1, 1), 0)
    rows = _segments(counts)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    positions = starts[rows] + (np.arange(counts.sum()) - first[rows])
    return _mix64(acc[positions] + np.uint64(n)), rows


def _word_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def _word_shingles(texts: Sequence[str], n: int) -> Tuple[np.ndarray, np.ndarray]:
    """(hashes, row) of word n-grams (space-separated tokens); fewer than n words: one shingle."""
    values: List[int] = []
    rows: List[int] = []
    for i, text in enumerate(texts):
        words = text.split()
        if not words:
            continue
        grams = [" ".join(words[k:k + n]) for k in range(max(len(words) - n + 1, 1))]
        values.extend(_word_hash(g) for g in grams)
        rows.extend([i] * len(grams))
    return np.array(values, dtype=np.uint64), np.array(rows, dtype=np.int64)


def shingle_sets(texts: Sequence[str], shingle: str = "char", ngram: int = 5) -> Tuple[np.ndarray, np.ndarray]:
    """Distinct sorted shingle hashes of each text, concatenated, and per-text offsets (len + 1).

    >>> values, offsets = shingle_sets(["abcdef", "", "abc"], "char", 5)
    >>> offsets.tolist()
    [0, 2, 2, 3]
    """
    texts = ["" if t is None else str(t) for t in texts]
    if shingle == "char":
        hashes, rows = _char_shingles(texts, ngram)
    else:
        hashes, rows = _word_shingles(texts, ngram)
    order = np.lexsort((hashes, rows))
    hashes, rows = hashes[order], rows[order]
    keep = np.ones(len(hashes), dtype=bool)
    if len(hashes) > 1:
        keep[1:] = (hashes[1:] != hashes[:-1]) | (rows[1:] != rows[:-1])
    hashes, rows = hashes[keep], rows[keep]
    counts = np.bincount(rows, minlength=len(texts)) if len(rows) else np.zeros(len(texts), np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return hashes, offsets


def _permutations(num_perm: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed % (2 ** 32))
    a = rng.randint(0, 2 ** 63 - 1, size=num_perm, dtype=np.int64).astype(np.uint64) | np.uint64(1)
    b = rng.randint(0, 2 ** 63 - 1, size=num_perm, dtype=np.int64).astype(np.uint64)
    return a, b


def minhash_band_keys(hashes: np.ndarray, offsets: np.ndarray, params: LshParams) -> np.ndarray:
    """Band keys, shape (n_texts, num_bands) int64; rows of empty texts are meaningless (masked later)."""
    n = len(offsets) - 1
    out = np.zeros((n, params.num_bands), dtype=np.uint64)
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    if len(nonempty) == 0:
        return out.view(np.int64)
    starts = offsets[:-1][nonempty]
    a, b = _permutations(params.num_perm, params.seed)
    shift = np.uint64(32)
    r = params.rows_per_band
    with np.errstate(over="ignore"):
        for band in range(params.num_bands):
            key = np.full(len(nonempty), np.uint64(band + 1) * _POLY, dtype=np.uint64)
            for k in range(band * r, (band + 1) * r):
                # multiply-shift hash of every shingle; minimum per text = one signature value
                minima = np.minimum.reduceat((a[k] * hashes + b[k]) >> shift, starts)
                key = _mix64(key * _POLY + minima)
            out[nonempty, band] = key
    return out.view(np.int64)


def signatures_pandas(texts, params: LshParams):
    """pandas kernel of the UDF: Series of normalised text -> DataFrame(shingles, band_keys)."""
    import pandas as pd

    values = texts.tolist()
    hashes, offsets = shingle_sets(values, params.shingle, params.ngram)
    keys = minhash_band_keys(hashes, offsets, params)
    signed = hashes.view(np.int64)
    shingles = [signed[offsets[i]:offsets[i + 1]] for i in range(len(values))]
    band_keys = [keys[i] if offsets[i + 1] > offsets[i] else keys[i][:0] for i in range(len(values))]
    return pd.DataFrame({"shingles": shingles, "band_keys": band_keys})


@functools.lru_cache(maxsize=16)
def _signature_udf(params: LshParams):
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(SIGNATURE_SCHEMA)
    def signature(texts):
        return signatures_pandas(texts, params)

    return signature


def with_signature(params: LshParams, text_col: str = "norm_text"):
    """Transform: add ``shingles`` (distinct shingle hashes) and ``band_keys`` (empty for empty text)."""

    def inner(df: DataFrame) -> DataFrame:
        sig = _signature_udf(params)(F.col(text_col))
        return df.withColumn("_sig", sig).select(
            "*", F.col("_sig.shingles").alias("shingles"), F.col("_sig.band_keys").alias("band_keys")
        ).drop("_sig")

    return inner


def jaccard(a: Column, b: Column) -> Column:
    """Exact Jaccard of two arrays of distinct shingle hashes (two empty sets: 1.0)."""
    union = F.size(F.array_union(a, b))
    return F.when(union == 0, F.lit(1.0)).otherwise(F.size(F.array_intersect(a, b)) / union)


def jaccard_py(a: Sequence[int], b: Sequence[int]) -> float:
    """Python twin of :func:`jaccard`.

    >>> jaccard_py([1, 2, 3], [2, 3, 4])
    0.5
    """
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    return 1.0 if union == 0 else len(sa & sb) / union
