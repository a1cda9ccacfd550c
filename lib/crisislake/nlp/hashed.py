"""Hashed word + character n-gram features in numpy, shared by training and scoring.

The same functions turn texts into a sparse term-frequency matrix when ``train`` fits a model
(scikit-learn, on the driver) and when ``classify``/``evaluate`` score tweets (Python workers
inside Spark, see :mod:`crisislake.nlp.linear`), so a model sees at scoring time exactly the
features it was fitted on. Only numpy and the standard library are needed to score.

Features of one text (after :func:`normalise`):

* words (``\\w\\w+``) and word bigrams, hashed with CRC-32 into block 0 (``2^bits`` slots);
* character n-grams of each word padded with a space (scikit-learn's ``char_wb``: ``" flood "``
  gives ``" f"``, ``"fl"``, ..., ``"d "``), sizes ``char_sizes``, hashed into block 1 by a
  polynomial rolling hash computed for all texts of a batch at once (no Python loop per n-gram).

Values are sublinear term frequencies ``1 + log(count)``; the model applies its IDF weights and
an L2 norm per block (:func:`l2_per_block`). Cost, measured 2026-12-04 on 20,000 CrisisLexT6
tweets (one core): normalise ~185,000 tweets/CPU-s, words ~90,000, char 2-5-grams ~110,000,
whole matrix ~31,000.
"""
from __future__ import annotations

import html
import re
import zlib
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

URL = re.compile(r"(?:https?://|www\.)\S+")
MENTION = re.compile(r"@\w+")
HASHTAG = re.compile(r"#(\w+)")
CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
RETWEET = re.compile(r"^\s*RT\s+@\w+:?")
WORD = re.compile(r"\w\w+")
SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class HashParams:
    """How texts become hashed features; stored with every model (``model.json``)."""

    bits: int = 20
    char_sizes: Tuple[int, ...] = (2, 3, 4, 5)
    word_bigrams: bool = True
    keep_retweet: bool = True
    # Optional block 2: one feature per (name, regex) worth ``lexicon_weight`` when the normalised
    # text matches, outside the IDF and the L2 norm (see features.TYPE_LEXICON for why).
    lexicon: Tuple[Tuple[str, str], ...] = ()
    lexicon_weight: float = 0.0

    @property
    def n_features(self) -> int:
        return (2 << self.bits) + len(self.lexicon)

    def text_key(self) -> Tuple[object, ...]:
        """Equal for two settings whose word and char features are the same (lexicon aside)."""
        return (self.bits, tuple(self.char_sizes), self.word_bigrams, self.keep_retweet)

    def to_dict(self) -> Dict[str, object]:
        out = asdict(self)
        out["char_sizes"] = list(self.char_sizes)
        out["lexicon"] = [list(kv) for kv in self.lexicon]
        return out

    @classmethod
    def from_dict(cls, d: Dict[str, object]) -> HashParams:
        return cls(bits=int(d["bits"]), char_sizes=tuple(int(n) for n in d["char_sizes"]),
                   word_bigrams=bool(d["word_bigrams"]), keep_retweet=bool(d["keep_retweet"]),
                   lexicon=tuple((str(k), str(v)) for k, v in d.get("lexicon", [])),
                   lexicon_weight=float(d.get("lexicon_weight", 0.0)))


def normalise(text: Optional[str], keep_retweet: bool = True) -> str:
    """Decode HTML entities, links -> ``httpurl``, mentions -> ``atuser`` (a leading ``RT @x:`` ->
    ``rt atuser``, or nothing without ``keep_retweet``), split camel-case hashtags, lower case.

    >>> normalise("RT @bob: #NepalEarthquake &amp; aftershocks http://t.co/x")
    'rt atuser nepal earthquake & aftershocks httpurl'
    """
    if not text:
        return ""
    t = html.unescape(text)
    t = RETWEET.sub(" rt atuser " if keep_retweet else " ", t)
    t = URL.sub(" httpurl ", t)
    t = MENTION.sub(" atuser ", t)
    t = HASHTAG.sub(lambda m: " " + CAMEL.sub(" ", m.group(1)) + " ", t)
    return SPACES.sub(" ", t.lower()).strip()


_PRIME = np.uint32(16777619)
_MIX = np.uint32(0x85EBCA6B)


def char_hashes(texts: Sequence[str], sizes: Iterable[int], bits: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(row, slot)`` of every character n-gram of every word (padded with spaces) in ``texts``."""
    joined = "\x00" + "\x00".join(" " + t + " " for t in texts) + "\x00"
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    seps = np.cumsum(codes == 0)
    spaces = np.cumsum(codes == 32)
    rows, slots = [], []
    shift = np.uint32(32 - bits)
    for n in sizes:
        m = len(codes) - n + 1
        if m <= 0:
            continue
        h = codes[:m].copy()
        for k in range(1, n):
            h = h * _PRIME + codes[k:k + m]
        ok = (seps[n - 1:n - 1 + m] - seps[:m] == 0) & (codes[:m] != 0)
        if n > 2:  # no space strictly inside the window: n-grams of one padded word
            ok &= spaces[n - 2:n - 2 + m] - spaces[:m] == 0
        else:  # not the two spaces that pad an empty text
            ok &= (codes[:m] != 32) | (codes[1:1 + m] != 32)
        at = np.nonzero(ok)[0]
        mixed = (h[at] ^ np.uint32((n * 0x9E3779B9) & 0xFFFFFFFF)) * _MIX
        slots.append((mixed >> shift).astype(np.int64))
        rows.append(seps[at] - 1)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows).astype(np.int64), np.concatenate(slots)


def word_hashes(texts: Sequence[str], bits: int, bigrams: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """``(row, slot)`` of every word and word bigram in ``texts`` (CRC-32 of the UTF-8 bytes)."""
    mask = (1 << bits) - 1
    rows: List[int] = []
    slots: List[int] = []
    for i, text in enumerate(texts):
        words = WORD.findall(text)
        grams = words + [a + " " + b for a, b in zip(words, words[1:])] if bigrams else words
        rows.extend([i] * len(grams))
        slots.extend([zlib.crc32(g.encode("utf-8")) & mask for g in grams])
    return np.asarray(rows, dtype=np.int64), np.asarray(slots, dtype=np.int64)


def base_counts(norm: Sequence[str], params: HashParams) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays ``(indptr, indices, values)`` of the sublinear term frequencies of normalised
    texts: words in ``[0, 2^bits)``, char n-grams in ``[2^bits, 2^(bits+1))``."""
    wr, ws = word_hashes(norm, params.bits, params.word_bigrams)
    cr, cs = char_hashes(norm, params.char_sizes, params.bits)
    rows = np.concatenate([wr, cr])
    cols = np.concatenate([ws, cs + (1 << params.bits)])
    width = 2 << params.bits
    uniq, counts = np.unique(rows * width + cols, return_counts=True)
    r, c = np.divmod(uniq, width)
    indptr = np.zeros(len(norm) + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=len(norm)), out=indptr[1:])
    return indptr, c.astype(np.int64), (1.0 + np.log(counts)).astype(np.float32)


def add_lexicon(csr: Tuple[np.ndarray, np.ndarray, np.ndarray], norm: Sequence[str],
                params: HashParams) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``csr`` plus the lexicon features (block 2) of ``params`` (unchanged without a lexicon)."""
    if not params.lexicon:
        return csr
    indptr, indices, values = csr
    patterns = [re.compile(p) for _, p in params.lexicon]
    first = 2 << params.bits
    hits = [[first + j for j, p in enumerate(patterns) if p.search(t)] for t in norm]
    extra = np.asarray([len(h) for h in hits], dtype=np.int64)
    rows = np.concatenate([np.repeat(np.arange(len(norm)), np.diff(indptr)),
                           np.repeat(np.arange(len(norm)), extra)])
    cols = np.concatenate([indices, np.asarray([c for h in hits for c in h], dtype=np.int64)])
    vals = np.concatenate([values, np.full(int(extra.sum()), params.lexicon_weight, dtype=np.float32)])
    order = np.argsort(rows, kind="stable")
    new_indptr = np.zeros(len(norm) + 1, dtype=np.int64)
    np.cumsum(np.diff(indptr) + extra, out=new_indptr[1:])
    return new_indptr, cols[order], vals[order]


def term_counts(texts: Sequence[Optional[str]], params: HashParams) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of the features of raw ``texts`` (normalised here): :func:`base_counts` and,
    with a lexicon, :func:`add_lexicon`."""
    norm = [normalise(t, params.keep_retweet) for t in texts]
    return add_lexicon(base_counts(norm, params), norm, params)


def l2_per_block(indptr: np.ndarray, indices: np.ndarray, weighted: np.ndarray, bits: int) -> np.ndarray:
    """``weighted`` (a value per stored entry, e.g. TF x IDF) L2-normalised per row and block
    (words, chars), as scikit-learn's FeatureUnion of two normalised TF-IDF blocks; lexicon
    features (block 2) keep their value."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    block = np.minimum(indices >> bits, 2).astype(np.int64)
    seg = rows * 3 + block
    sq = np.bincount(seg, weights=weighted.astype(np.float64) ** 2, minlength=3 * (len(indptr) - 1))
    norms = np.where(block == 2, 1.0, np.sqrt(sq)[seg])
    return np.where(norms > 0, weighted / np.where(norms > 0, norms, 1.0), 0.0).astype(np.float32)


def idf_weights(indptr: np.ndarray, indices: np.ndarray, params: HashParams, min_df: int = 2) -> np.ndarray:
    """Smoothed IDF (scikit-learn's ``log((1 + n) / (1 + df)) + 1``); 0 for terms in fewer
    than ``min_df`` documents, which so drop out of the model. Lexicon features get 1 (0 if they
    never occur)."""
    n = len(indptr) - 1
    df = np.bincount(indices, minlength=params.n_features)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    idf[df < min_df] = 0.0
    first = 2 << params.bits
    idf[first:] = (df[first:] > 0).astype(np.float64)
    return idf.astype(np.float32)
