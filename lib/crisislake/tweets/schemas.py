"""Schemas: the ``curated/tweets`` contract and the pruned read schema for raw tweet JSON.

The read schema names only the fields ingestion uses, so Spark's JSON parser (Jackson, in the
JVM) skips everything else in a multi-KB status object. Ids are read as strings: Spark keeps a
numeric token's text for a string field, so 64-bit ids never pass through a double, and a
malformed id becomes a quarantine reason instead of a parse failure.
"""
from __future__ import annotations

from pyspark.sql import types as T

S = T.StringType()


def _f(name: str, dtype: T.DataType) -> T.StructField:
    return T.StructField(name, dtype, True)


def _arr(*fields: T.StructField) -> T.ArrayType:
    return T.ArrayType(T.StructType(list(fields)))


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

# v1.1 and v2 entity shapes in one struct: v1.1 hashtags[].text / user_mentions[].screen_name,
# v2 hashtags[].tag / mentions[].username; urls carry expanded_url in both, unwound_url in v2.
ENTITIES = T.StructType(
    [
        _f("hashtags", _arr(_f("text", S), _f("tag", S))),
        _f("urls", _arr(_f("url", S), _f("expanded_url", S), _f("unwound_url", S))),
        _f("user_mentions", _arr(_f("screen_name", S))),
        _f("mentions", _arr(_f("username", S))),
    ]
)
V1_USER = T.StructType([_f("id_str", S), _f("id", S), _f("screen_name", S)])
EXTENDED = T.StructType([_f("full_text", S), _f("entities", ENTITIES)])
POINT = T.StructType([_f("coordinates", T.ArrayType(T.DoubleType()))])
PLACE = T.StructType([_f("id", S), _f("country_code", S), _f("country", S), _f("full_name", S), _f("name", S)])
NOTE = T.StructType([_f("text", S), _f("entities", ENTITIES)])
REFERENCED = _arr(_f("type", S), _f("id", S))
GEO_V2 = T.StructType([_f("place_id", S), _f("coordinates", POINT)])

# A retweeted / quoted / included tweet: just enough to rebuild an "RT @user: full text".
EMBEDDED = T.StructType(
    [
        _f("id_str", S), _f("id", S), _f("text", S), _f("full_text", S), _f("extended_tweet", EXTENDED),
        _f("note_tweet", NOTE), _f("entities", ENTITIES), _f("user", V1_USER), _f("author_id", S),
    ]
)

# One tweet in either API version (v1.1 status, or a v2 ``data`` element / bare v2 tweet).
TWEET_FIELDS = [
    _f("id_str", S), _f("id", S), _f("created_at", S), _f("text", S), _f("full_text", S), _f("lang", S),
    _f("user", V1_USER), _f("extended_tweet", EXTENDED), _f("entities", ENTITIES),
    _f("in_reply_to_status_id_str", S), _f("in_reply_to_status_id", S),
    _f("quoted_status_id_str", S), _f("retweeted_status", EMBEDDED), _f("quoted_status", EMBEDDED),
    _f("place", PLACE), _f("coordinates", POINT),
    _f("author_id", S), _f("referenced_tweets", REFERENCED), _f("note_tweet", NOTE),
    # v1.1 ``geo`` is a [lat, lon] point, v2 ``geo`` an object with place_id: kept as JSON text
    # so neither shape fails the record; v2's is parsed with GEO_V2 for v2 tweets only.
    _f("geo", S),
]
TWEET = T.StructType(TWEET_FIELDS)

V2_USER = T.StructType([_f("id", S), _f("username", S)])
INCLUDES = T.StructType(
    [_f("users", T.ArrayType(V2_USER)), _f("places", T.ArrayType(PLACE)), _f("tweets", T.ArrayType(EMBEDDED))]
)

CORRUPT = "_corrupt_record"
# A top-level JSON object: a tweet, a v2 response (``data`` kept as JSON text because it is an
# array in search/lookup responses and an object in stream/single lookups), a stream control
# message, or a CSV row the Python reader re-encoded (``_format`` = "csv").
RECORD = T.StructType(
    TWEET_FIELDS
    + [
        _f("data", S), _f("includes", INCLUDES), _f("errors", S),
        _f("delete", S), _f("limit", S), _f("scrub_geo", S), _f("status_withheld", S),
        _f("user_withheld", S), _f("disconnect", S), _f("warning", S),
        _f("_format", S), _f(CORRUPT, S),
    ]
)
CONTROL_FIELDS = ("delete", "limit", "scrub_geo", "status_withheld", "user_withheld", "disconnect", "warning")
