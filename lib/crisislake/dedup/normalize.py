"""Tweet text normalisation before shingling, as a Spark ``Column -> Column`` and a Python twin.

Steps, in order: null -> "", HTML entities unescaped (the common named ones and quotes; other
numeric entities are dropped), lower case, leading ``RT @user:`` / ``MT @user:`` prefixes removed,
URLs (``http(s)://``, ``www.``, bare ``t.co/``) removed, ``via @user`` and ``@mentions`` removed,
emoji and pictographs removed, a trailing ellipsis ("…" or "...") removed together with the
partial word it cut, hashtag signs and punctuation turned into spaces (so ``#Calgary``,
``Calgary!!!`` and ``calgary`` are one word; a separator between two digits stays, so "5.5",
"10:30" and "1-866-696" stay numbers), whitespace collapsed and trimmed.

A text that ended with an ellipsis is *truncated*: its normalised form ends with the marker
:data:`TRUNCATED` (" …"), which keeps it apart from the same words untruncated (another text node)
and tells the shingling step to score it by containment (``crisislake.dedup.minhash``).

The Spark version runs in the JVM (``regexp_replace``, no Python round trip); :func:`normalize_py`
applies the same regular expressions in the same order so brute-force checks in the benchmarks
and tests see exactly the text the pipeline shingles.
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

from pyspark.sql import Column
from pyspark.sql import functions as F

# (pattern, replacement) in application order; Java and Python regex agree on all of these.
_ENTITIES: List[Tuple[str, str]] = [
    ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#0?39;", "'"), ("&#[xX]27;", "'"),
    ("&apos;", "'"), ("&#0?34;", '"'), ("&nbsp;", " "), ("&#[0-9]+;|&#[xX][0-9a-fA-F]+;", " "),
    ("&amp;", "&"),  # last, so "&amp;gt;" becomes "&gt;" as html.unescape would
]
# Explicit ASCII classes instead of \w, \s, \S: Java's are ASCII-only, Python's are Unicode.
_W = "[A-Za-z0-9_]"
_S = "[ \\t\\n\\x0B\\f\\r\\u00a0]"
_NS = "[^ \\t\\n\\x0B\\f\\r\\u00a0]"
# Emoji, pictographs, dingbats, variation selectors, joiners, keycaps and tag characters; Java
# needs \x{...} for code points above U+FFFF, Python the characters themselves.
_SYMBOL_RANGES = [(0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0xFE00, 0xFE0F), (0x200D, 0x200D),
                  (0x20E3, 0x20E3), (0xE0020, 0xE007F)]
_SYMBOLS_JAVA = "[" + "".join(f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in _SYMBOL_RANGES) + "]+"
_SYMBOLS_PY = "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _SYMBOL_RANGES) + "]+"
_ELLIPSIS_END = f"(…|\\.\\.\\.)[.…]*{_S}*$"
_PUNCT = "[!-/:-@\\[-`{-~“”‘’«»–—…¡¿]"
# Marker appended to the normalised text of a truncated tweet (never produced otherwise: "…" is
# punctuation and every other one is turned into a space).
TRUNCATED = " …"


def _steps(symbols: str) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    """(before the truncation test, after it): (pattern, replacement) in application order."""
    before = [
        (f"^({_S}*(rt|mt){_S}*@{_W}+{_S}*:?)+", " "),      # RT @user: / MT @user: (repeated) prefix
        (f"(https?://|www\\.|t\\.co/){_NS}*", " "),        # links, including truncated ones
        (f"(^|{_S})via{_S}*@{_W}+", " "),                  # "via @user"
        (f"@{_W}+", " "),                                  # mentions
        (symbols, " "),                                    # emoji
    ]
    after = [
        (f"{_NS}*(…|\\.\\.\\.)[.…]*{_S}*$", " "),          # trailing ellipsis + the cut word
        (f"(?<![0-9]){_PUNCT}+|{_PUNCT}+(?![0-9])", " "),  # hashtag signs, punctuation (not in 5.5, 10:30)
        (f"{_S}+", " "),
    ]
    return before, after


_BEFORE, _AFTER = _steps(_SYMBOLS_JAVA)


def normalize_text(col: Column) -> Column:
    """Normalised tweet text (never null) for shingling and exact-duplicate grouping; a truncated
    text ends with :data:`TRUNCATED`."""
    out = F.coalesce(col.cast("string"), F.lit(""))
    for pattern, repl in _ENTITIES:
        out = F.regexp_replace(out, pattern, repl)
    out = F.lower(out)
    for pattern, repl in _BEFORE:
        out = F.regexp_replace(out, pattern, repl)
    truncated = out.rlike(_ELLIPSIS_END)
    for pattern, repl in _AFTER:
        out = F.regexp_replace(out, pattern, repl)
    out = F.trim(out)
    return F.when(truncated & (out != ""), F.concat(out, F.lit(TRUNCATED))).otherwise(out)


_PY_ENTITIES = [(re.compile(p), r) for p, r in _ENTITIES]
_PY_BEFORE = [(re.compile(p), r) for p, r in _steps(_SYMBOLS_PY)[0]]
_PY_AFTER = [(re.compile(p), r) for p, r in _AFTER]
_PY_ELLIPSIS_END = re.compile(_ELLIPSIS_END)


def normalize_py(text: Optional[str]) -> str:
    """Python twin of :func:`normalize_text`.

    >>> normalize_py("RT @news: Flood in Houston &amp; Galveston https://t.co/x1 #harvey")
    'flood in houston galveston harvey'
    >>> normalize_py("Police fire tear gas at protesters in downt… https://t.co/abc")
    'police fire tear gas at protesters in …'
    >>> normalize_py(None)
    ''
    """
    out = "" if text is None else str(text)
    for pattern, repl in _PY_ENTITIES:
        out = pattern.sub(repl, out)
    out = out.lower()
    for pattern, repl in _PY_BEFORE:
        out = pattern.sub(repl, out)
    truncated = _PY_ELLIPSIS_END.search(out) is not None
    for pattern, repl in _PY_AFTER:
        out = pattern.sub(repl, out)
    # Spark's trim() strips only spaces; after the \s+ collapse that is all there is.
    out = out.strip(" ")
    return out + TRUNCATED if truncated and out else out


def strip_truncated(norm: str) -> Tuple[str, bool]:
    """(the words of a normalised text, whether it was truncated).

    >>> strip_truncated("police fire tear gas …")
    ('police fire tear gas', True)
    """
    if norm.endswith(TRUNCATED):
        return norm[: -len(TRUNCATED)], True
    return norm, False
