"""The ``curated/tweets`` contract (what raw JSON is read into: :mod:`crisislake.tweets.records`),
and which version of a tweet wins when it is seen more than once.

The *richer* one wins: the longer text (a v1.1 ``extended_tweet.full_text`` or v2
``note_tweet.text`` beats a 140-character ``text``), then the one with more metadata filled
(date, author, handle, language, place, coordinates), then the first file/line in sort order.
The same rule picks one row per ``tweet_id`` within a batch and decides the MERGE update, so a
re-run over the same files changes nothing.
"""
from __future__ import annotations

from pyspark.sql import types as T

S = T.StringType()


def _f(name: str, dtype: T.DataType) -> T.StructField:
    return T.StructField(name, dtype, True)


TWEETS_SCHEMA = T.StructType(
    [
        _f("tweet_id", T.LongType()),
        _f("created_at", T.TimestampType()),
        _f("text", S),
        _f("lang", S),
        _f("author_id", T.LongType()),
        _f("author_handle", S),
        _f("retweet_of_id", T.LongType()),
        _f("quote_of_id", T.LongType()),
        _f("reply_to_id", T.LongType()),
        _f("hashtags", T.ArrayType(S)),
        _f("urls", T.ArrayType(S)),
        _f("mentions", T.ArrayType(S)),
        _f("place_country", S),
        _f("place_name", S),
        _f("lat", T.DoubleType()),
        _f("lon", T.DoubleType()),
        _f("source_uri", S),
        _f("source_line", T.LongType()),
        _f("ingested_at", T.TimestampType()),
        _f("run_id", S),
    ]
)
TWEET_COLUMNS = [f.name for f in TWEETS_SCHEMA.fields]

RICHNESS_FIELDS = ("created_at", "author_id", "author_handle", "lang", "place_name", "lat")


def richness_sql(alias: str) -> str:
    """SQL ranking a tweet row: text length first, then how many metadata fields are filled.

    Returned as ``(len * 16 + filled)`` so one number orders rows; used for the in-batch pick
    and the MERGE update condition alike.

    >>> richness_sql("s").startswith("(coalesce(length(s.text), 0) * 16 + CASE WHEN s.`created_at`")
    True
    """
    filled = " + ".join(f"CASE WHEN {alias}.`{c}` IS NULL THEN 0 ELSE 1 END" for c in RICHNESS_FIELDS)
    return f"(coalesce(length({alias}.text), 0) * 16 + {filled})"
