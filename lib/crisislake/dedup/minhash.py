"""Shingles, MinHash signatures and LSH band keys, vectorised with numpy inside one pandas UDF.

A text becomes a *set* of 64-bit shingle hashes (word 2-grams of the normalised text by default;
word 3-grams or character n-grams optional). Each of ``num_perm = bands * rows`` hash functions is
a multiply-shift hash ``(a * x + b) >> 32`` over those 64-bit values; the signature is the minimum
per function, and each band of ``rows`` minima is folded into one 64-bit *band key*. One more key,
the *prefix keys* (hashes of ``prefix_words`` words starting at each of the first
``prefix_offsets`` words), put a truncated text next to the texts it may have been cut from,
whose Jaccard with it can be low. Two texts become a candidate
pair when they share a band key (for a prefix key: when one of them is truncated); each
candidate is then verified (``crisislake.dedup.cluster``): exact Jaccard of the shingle sets
(:func:`jaccard`) at the threshold or above, or, for a truncated text, :func:`containment` of its
shingles in the other text at ``containment`` or above; never when both texts carry a number the
other lacks (:func:`numbers_conflict`: "4 dead" / "9 dead"). A verified pair becomes an edge of
the cluster graph only when its two ends have about the same neighbourhood (``min_support``, see
``crisislake.dedup.cluster.with_support``), so LSH only costs recall, never precision of a linked
pair.

Band/row choice (:func:`choose_bands`): the probability that a pair with Jaccard ``s`` shares at
least one band is ``1 - (1 - s**r)**b`` (the S-curve). We take the largest ``r`` (steepest curve,
fewest dissimilar candidates) for which some ``b`` with ``b * r <= max_perm`` still catches a pair
*at* the threshold with probability >= 0.985 (:data:`LSH_RECALL`), and the smallest such ``b``.
For the default 0.6 that is ``r = 4, b = 31`` (124 permutations): P(0.6) = 0.986, P(0.7) = 1.000,
P(0.5) = 0.86, P(0.3) = 0.22; for 0.7, ``r = 5, b = 23``.

All the work for a batch of rows is a handful of numpy passes over the concatenated code points
(no Python loop per row for character shingles), which is what makes it fast on 2 cores.
"""
from __future__ import annotations

import functools
import hashlib
import math
import re
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
        T.StructField("truncated", T.BooleanType(), True),
        T.StructField("numbers", T.ArrayType(T.LongType()), True),
    ]
)


@dataclass(frozen=True)
class LshParams:
    """Shingling, LSH and verification settings; :meth:`for_threshold` picks bands/rows from the
    S-curve."""

    threshold: float = 0.6
    num_bands: int = 31
    rows_per_band: int = 4
    shingle: str = "word"  # "char" or "word"
    ngram: int = 2
    # An edge of the cluster graph needs a verified pair with Jaccard >= link_threshold (>=
    # threshold; or a truncated end contained at ``containment``) and a neighbourhood support >=
    # min_support (0 turns the support test off). Connected components chain variants (a
    # headline, the headline + a clause, ...) into clusters whose end points are far below the
    # threshold; an edge whose two ends see different tweets around them is such a bridge. See
    # cluster.with_support and docs/dedup.md.
    link_threshold: float = 0.6
    min_support: float = 0.8
    # A truncated text (ellipsis at its end) of at least ``min_contained`` shingles is verified
    # against another text by the share of its shingles found there (0 turns it off).
    containment: float = 0.9
    min_contained: int = 2
    prefix_words: int = 4  # the prefix keys: 4 words from each of the first 3 (0: no prefix keys)
    prefix_offsets: int = 3
    seed: int = 20200525
    max_bucket: int = 200  # larger LSH buckets are linked as a star around their smallest id

    @property
    def num_perm(self) -> int:
        return self.num_bands * self.rows_per_band

    @classmethod
    def for_threshold(cls, threshold: float = 0.6, shingle: str = "word", ngram: int = 0, max_perm: int = 128,
                      link_threshold: Optional[float] = None, min_support: Optional[float] = None,
                      containment: Optional[float] = None) -> LshParams:
        """Settings for a Jaccard threshold: bands/rows from the S-curve of ``threshold``; edges at
        ``link_threshold`` (default: the threshold itself) with neighbourhood support >=
        ``min_support`` (default :data:`DEFAULT_MIN_SUPPORT`); truncated texts verified by
        containment >= ``containment`` (default :data:`DEFAULT_CONTAINMENT`, 0 = off).

        >>> p = LshParams.for_threshold(0.6)
        >>> (p.num_bands, p.rows_per_band, p.shingle, p.ngram, p.link_threshold, p.min_support, p.containment)
        (31, 4, 'word', 2, 0.6, 0.8, 0.9)
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
        contained = DEFAULT_CONTAINMENT if containment is None else containment
        if not 0.0 <= contained <= 1.0:
            raise ValueError(f"containment must be in [0, 1], got {contained}")
        bands, rows = choose_bands(threshold, max_perm, LSH_RECALL)
        return cls(threshold=threshold, num_bands=bands, rows_per_band=rows, shingle=shingle,
                   ngram=ngram or (5 if shingle == "char" else 2), link_threshold=link, min_support=support,
                   containment=contained)


# Chosen on the tune side of the variant set (bench/dedup_variants.py, CrisisLexT6 events; see
# docs/dedup.md): word 2-grams, Jaccard 0.6, containment 0.9 for truncated texts, support 0.8.
DEFAULT_MIN_SUPPORT = 0.8
DEFAULT_CONTAINMENT = 0.9
# P(candidate) a pair exactly at the threshold must have: 0.97 lost 0.006 of the tune side's recall
# against perfect candidates (every pair scored), 0.985 costs 31 bands instead of 26.
LSH_RECALL = 0.985


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


_PREFIX_SALT = np.uint64(0x9E3779B97F4A7C15)


def prefix_keys(words: Sequence[str], n: int, offsets: int) -> List[int]:
    """Signed 64-bit keys of the ``n`` words starting at each of the first ``offsets`` words
    (distinct; none for a text too short or ``n == 0``). More than one start, because a copy may
    begin with hashtags the other lacks ("#breaking #yyc Bridge on Highway 7 ...").

    >>> len(prefix_keys("a b c d e f".split(), 4, 3)), len(prefix_keys("a b c".split(), 4, 3))
    (3, 0)
    """
    if n <= 0:
        return []
    grams = sorted({" ".join(words[k:k + n]) for k in range(offsets) if len(words) >= k + n})
    if not grams:
        return []
    values = np.array([_word_hash(g) for g in grams], dtype=np.uint64) ^ _PREFIX_SALT
    return _mix64(values).view(np.int64).tolist()


_NUMBER = re.compile(r"[0-9]+([.,:/-][0-9]+)*")


def number_hashes(words: Sequence[str]) -> List[int]:
    """Signed hashes of the distinct numbers among the words ("14", "5.5", "10:30"), sorted.

    >>> len(number_hashes(["4", "dead", "5.5", "4", "2nd"]))
    2
    """
    return sorted({_word_hash(w) - (1 << 63) for w in words if _NUMBER.fullmatch(w)})


def signatures_pandas(texts, params: LshParams):
    """pandas kernel of the UDF: Series of normalised text -> DataFrame(shingles, band_keys,
    truncated, numbers). The truncation marker is not shingled; the prefix keys, when the text has
    enough words, follow the ``num_bands`` MinHash band keys."""
    import pandas as pd

    from crisislake.dedup.normalize import strip_truncated

    stripped = [strip_truncated(t) for t in texts.tolist()]
    values = [w for w, _ in stripped]
    hashes, offsets = shingle_sets(values, params.shingle, params.ngram)
    keys = minhash_band_keys(hashes, offsets, params)
    signed = hashes.view(np.int64)
    shingles, band_keys, numbers = [], [], []
    for i, text in enumerate(values):
        shingles.append(signed[offsets[i]:offsets[i + 1]])
        words = text.split()
        row = keys[i] if offsets[i + 1] > offsets[i] else keys[i][:0]
        prefixes = prefix_keys(words, params.prefix_words, params.prefix_offsets) if len(row) else []
        band_keys.append(np.append(row, np.array(prefixes, dtype=np.int64)) if prefixes else row)
        numbers.append(number_hashes(words))
    return pd.DataFrame({"shingles": shingles, "band_keys": band_keys,
                         "truncated": [t for _, t in stripped], "numbers": numbers})


@functools.lru_cache(maxsize=16)
def _signature_udf(params: LshParams):
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(SIGNATURE_SCHEMA)
    def signature(texts):
        return signatures_pandas(texts, params)

    return signature


def with_signature(params: LshParams, text_col: str = "norm_text"):
    """Transform: add ``shingles`` (distinct shingle hashes), ``band_keys`` (empty for empty
    text), ``truncated`` and ``numbers``."""

    def inner(df: DataFrame) -> DataFrame:
        sig = _signature_udf(params)(F.col(text_col))
        return df.withColumn("_sig", sig).select(
            "*", *(F.col(f"_sig.{c}").alias(c) for c in SIGNATURE_SCHEMA.fieldNames())
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


def containment_py(part: Sequence[int], whole: Sequence[int]) -> float:
    """Share of the shingles of ``part`` (a truncated text) found in ``whole``; 0 for an empty part.

    >>> containment_py([1, 2, 3, 4], [1, 2, 3, 9, 10, 11, 12])
    0.75
    """
    sp = set(part)
    return len(sp & set(whole)) / len(sp) if sp else 0.0


def containment_score_py(a: Sequence[int], a_truncated: bool, b: Sequence[int], b_truncated: bool,
                         min_contained: int = 2) -> float:
    """Containment of the truncated end in the other (the larger of the two when both are
    truncated); 0 when neither is truncated or the truncated end has fewer than ``min_contained``
    shingles (a few words are contained in too many texts).

    >>> containment_score_py([1, 2, 3, 4, 5], True, list(range(1, 20)), False)
    1.0
    >>> containment_score_py([1, 2, 3, 4, 5], False, list(range(1, 20)), False)
    0.0
    >>> containment_score_py([1], True, list(range(1, 20)), False)
    0.0
    """
    scores = [containment_py(x, y) for x, t, y in ((a, a_truncated, b), (b, b_truncated, a))
              if t and len(set(x)) >= min_contained]
    return max(scores, default=0.0)


def numbers_conflict_py(a: Sequence[int], b: Sequence[int]) -> bool:
    """Both texts state a number the other does not ("4 dead" / "9 dead"); one text's numbers
    being a part of the other's (a truncation, an added detail) is no conflict.

    >>> numbers_conflict_py([4], [9]), numbers_conflict_py([4], [4, 12]), numbers_conflict_py([], [9])
    (True, False, False)
    """
    sa, sb = set(a), set(b)
    return bool(sa - sb) and bool(sb - sa)


def containment(a: Column, a_truncated: Column, b: Column, b_truncated: Column, min_contained: int) -> Column:
    """Spark twin of :func:`containment_score_py` (one ``array_intersect`` for both directions)."""
    common = F.size(F.array_intersect(a, b))

    def side(x: Column, truncated: Column) -> Column:
        return F.when(truncated & (F.size(x) >= F.lit(min_contained)), common / F.size(x)).otherwise(F.lit(0.0))

    return F.greatest(side(a, a_truncated), side(b, b_truncated))


def numbers_conflict(a: Column, b: Column) -> Column:
    """Spark twin of :func:`numbers_conflict_py` (arrays of distinct number hashes)."""
    return (F.size(F.array_except(a, b)) > 0) & (F.size(F.array_except(b, a)) > 0)
