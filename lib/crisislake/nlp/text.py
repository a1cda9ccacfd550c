"""Text cleaning and the cheap "can we classify this?" check, as Column functions.

Cleaning runs in the JVM (Spark SQL regexes), so it costs no Python round trip per row.
"""
from __future__ import annotations

from typing import Optional

from pyspark.sql import Column
from pyspark.sql import functions as F

# Cleaning steps, applied in order as nested ``regexp_replace`` calls (pattern, replacement);
# the SQL goes inside the saved pipeline (SQLTransformer), so a saved model cleans its input the
# same way wherever it is loaded, and a model saved with other steps keeps its own.
RETWEET_PREFIX_STEP = ("^\\\\s*RT\\\\s+@\\\\w+:?", " ")
CLEAN_STEPS = [
    ("&amp;", "&"),
    ("&(gt|lt|quot|#39|apos);", " "),
    RETWEET_PREFIX_STEP,
    ("(https?://|www\\\\.)\\\\S+", " httpurl "),
    ("@\\\\w+", " atuser "),
    ("(?<=[a-z])(?=[A-Z])", " "),
    ("#", " "),
]


def clean_text_sql(col: str, keep_retweet: bool = False) -> str:
    """The SQL expression that cleans column ``col`` (see :func:`clean_text`).

    With ``keep_retweet`` the leading ``RT @user:`` stays (as ``rt atuser :``): a retweet marker
    the classifiers use (on held-out CrisisLex events retweets are more often on-topic).
    """
    expr = f"coalesce(`{col}`, '')"
    for pattern, replacement in CLEAN_STEPS:
        if keep_retweet and (pattern, replacement) == RETWEET_PREFIX_STEP:
            continue
        expr = f"regexp_replace({expr}, '{pattern}', '{replacement}')"
    return f"trim(regexp_replace(lower({expr}), '\\\\s+', ' '))"


def clean_text(col_name: str) -> Column:
    """Decode ``&amp;``, drop ``RT @user:``, replace links and mentions with placeholder words,
    split camel-case hashtags (``#NepalEarthquake`` -> ``nepal earthquake``), lower-case.
    """
    return F.expr(clean_text_sql(col_name))


def letters_only(col_name: str) -> Column:
    """The letters of the cleaned text, without the placeholder words."""
    t = F.regexp_replace(clean_text(col_name), r"\b(httpurl|atuser)\b", " ")
    return F.regexp_replace(t, r"[^\p{L}]", "")


def is_unknown_text(text_col: str, lang_col: Optional[str] = None) -> Column:
    """True when the text cannot be classified: null, empty, no letters (emoji, links only),
    mostly non-Latin script, or a tweet ``lang`` that is set and is not English.

    The script check is deliberately cheap (no language model is available offline): it flags
    text whose letters are mostly outside the Latin alphabet; Latin-script non-English text
    without a ``lang`` field is classified as if it were English.
    """
    letters = letters_only(text_col)
    latin = F.length(F.regexp_replace(letters, r"[^\p{IsLatin}]", ""))
    total = F.length(letters)
    unknown = (total < 2) | (latin < total * 0.5)
    if lang_col is not None:
        lang = F.col(lang_col)
        lang_l = F.lower(F.trim(lang))
        unknown = unknown | (lang.isNotNull() & ~lang_l.isin("en", "und", "", "qme", "qht", "zxx", "art"))
    return unknown
