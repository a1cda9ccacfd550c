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


# Tagalog function words (Spark ML has no Tagalog stop-word list): written here from the grammar's
# markers and pronouns; 7-20% of the 2012-13 Philippine flood tweets are in Tagalog or Taglish.
TAGALOG_FUNCTION_WORDS = (
    "ang ng mga sa na ay si ni kay nang po ako ko mo ka kami tayo sila siya namin natin nila "
    "ito iyan yan yung dito diyan doon may wala walang hindi pag kung kasi talaga naman lang pa ba "
    "din rin nga").split()
# Snowball stop-word lists that ship with Spark ML, for the other languages CrisisLex's tweets are in.
OTHER_STOP_WORD_LANGUAGES = ("italian", "spanish", "portuguese", "french", "german", "dutch")


def looks_non_english(text_col: str) -> Column:
    """True when the cleaned text holds at least two distinct function words of another
    language (Italian, Spanish, Portuguese, French, German, Dutch, Tagalog) and more of them than
    English ones. One-letter words do not count, and a word in both lists counts as English.

    For training data, which has no tweet ``lang``: the classifiers are for English tweets (a
    tweet whose ``lang`` is another language is labelled ``unknown``, see
    :func:`is_unknown_text`), and a held-out Italian flood tweet scored by the words the Italian
    earthquake tweets taught the model measures the language, not the disaster. Needs a
    SparkContext (the lists come from the JVM).

    Measured on the relevance training data (2026-11-28): flags 11% of the CrisisLex rows (43-85%
    of the Costa Rica, Guatemala, Italy, Sardinia, Venezuela, Brazil, Spain and Lac-Megantic
    events, 0-1% of the US, UK, Australian and Canadian ones) and 0.2% of Kaggle's rows.
    """
    from pyspark.ml.feature import StopWordsRemover

    english = set(StopWordsRemover.loadDefaultStopWords("english"))
    other = set(TAGALOG_FUNCTION_WORDS)
    for language in OTHER_STOP_WORD_LANGUAGES:
        other.update(StopWordsRemover.loadDefaultStopWords(language))
    other -= english
    words = F.array_distinct(F.filter(F.split(clean_text(text_col), r"[^\p{L}]+"), lambda w: F.length(w) > 1))
    n_english = F.size(F.array_intersect(words, F.array(*[F.lit(w) for w in sorted(english)])))
    n_other = F.size(F.array_intersect(words, F.array(*[F.lit(w) for w in sorted(other)])))
    return (n_other >= 2) & (n_other > n_english)
