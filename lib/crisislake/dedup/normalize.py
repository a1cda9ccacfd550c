"""Tweet text normalisation before shingling, as a Spark ``Column -> Column`` and a Python twin.

Steps, in order: null -> "", HTML entities unescaped (the common named ones and quotes; other
numeric entities are dropped), lower case, leading ``RT @user:`` prefixes removed, URLs
(``http(s)://``, ``www.``, bare ``t.co/``) removed, ``@mentions`` removed, a trailing ellipsis
("…" or "...") removed together with the partial word it cut, whitespace collapsed and trimmed.

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
_AFTER_LOWER: List[Tuple[str, str]] = [
    (f"^({_S}*rt{_S}*@{_W}+{_S}*:?)+", " "),            # RT @user: (repeated) prefix
    (f"(https?://|www\\.|t\\.co/){_NS}*", " "),          # links, including truncated ones
    (f"@{_W}+", " "),                                   # mentions
    (f"{_NS}*(…|\\.\\.\\.)+{_S}*$", " "),                # trailing ellipsis + the cut word
    (f"{_S}+", " "),
]


def normalize_text(col: Column) -> Column:
    """Normalised tweet text (never null) for shingling and exact-duplicate grouping."""
    out = F.coalesce(col.cast("string"), F.lit(""))
    for pattern, repl in _ENTITIES:
        out = F.regexp_replace(out, pattern, repl)
    out = F.lower(out)
    for pattern, repl in _AFTER_LOWER:
        out = F.regexp_replace(out, pattern, repl)
    return F.trim(out)


_PY_ENTITIES = [(re.compile(p), r) for p, r in _ENTITIES]
_PY_AFTER = [(re.compile(p), r) for p, r in _AFTER_LOWER]


def normalize_py(text: Optional[str]) -> str:
    """Python twin of :func:`normalize_text`.

    >>> normalize_py("RT @news: Flood in Houston &amp; Galveston https://t.co/x1 #harvey")
    'flood in houston & galveston #harvey'
    >>> normalize_py("Police fire tear gas at protesters in downt… https://t.co/abc")
    'police fire tear gas at protesters in'
    >>> normalize_py(None)
    ''
    """
    out = "" if text is None else str(text)
    for pattern, repl in _PY_ENTITIES:
        out = pattern.sub(repl, out)
    out = out.lower()
    for pattern, repl in _PY_AFTER:
        out = pattern.sub(repl, out)
    # Spark's trim() strips only spaces; after the \s+ collapse that is all there is.
    return out.strip(" ")
