"""The ``curated/tweets`` contract (what raw JSON is read into: :mod:`crisislake.tweets.records`)."""
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
