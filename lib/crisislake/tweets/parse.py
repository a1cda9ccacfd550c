"""From raw file text to one parsed record per tweet, all in the JVM (no Python UDF).

``lines -> JSON objects (Firehose lines split) -> parsed record -> tweets``.
Each step is a ``DataFrame -> DataFrame`` transform; :mod:`crisislake.tweets.transforms` turns
parsed tweets into ``curated/tweets`` rows and quarantine reasons.
"""
from __future__ import annotations

from typing import Dict

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crisislake.tweets.schemas import CONTROL_FIELDS, CORRUPT, RECORD, TWEET

# Firehose writes objects back to back: ``...}{"created_at":...``. Split only where a ``}``
# is followed by ``{"key":``; inside a JSON string that sequence would need an unescaped
# quote, so the split never cuts through a string value.
FIREHOSE_BOUNDARY = r'(?<=\})(?=\{"[^"]*"\s*:)'
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
JSON_OPTIONS = {"columnNameOfCorruptRecord": CORRUPT}


def split_objects(lines_df: DataFrame) -> DataFrame:
    """One row per JSON object: Firehose lines with several concatenated objects are split.

    Adds ``object_index`` (1-based within the line) and ``objects_on_line``; blank lines go.
    The regex split runs only on lines that contain ``}{`` (a cheap byte search), so
    line-delimited dumps pay nothing for it.
    """
    pieces = F.when(
        F.col("error").isNull() & F.col("payload").contains("}{"),
        F.split(F.col("payload"), FIREHOSE_BOUNDARY),
    ).otherwise(F.array(F.col("payload")))
    return (
        lines_df.filter(F.col("error").isNotNull() | (F.trim(F.col("payload")) != ""))
        .withColumn("pieces", pieces)
        .select(
            "source_uri", "source_line", "raw", "error",
            F.size("pieces").alias("objects_on_line"),
            # ``pieces`` is never empty; the outer form only keeps the optimizer from adding a
            # ``size(pieces) > 0`` filter that would evaluate the search and split twice more.
            F.posexplode_outer("pieces").alias("object_index", "payload"),
        )
        .withColumn("object_index", F.col("object_index") + 1)
    )


def parse_records(objects_df: DataFrame) -> DataFrame:
    """Parse each object with the pruned :data:`RECORD` schema and expand v2 responses.

    A v2 response (``data`` array or object, with ``includes``) becomes one row per tweet in
    ``data``; anything else is one row. Output columns: the position columns, ``payload``,
    ``raw``, ``error``, ``r`` (the parsed record, struct :data:`RECORD`), ``v2`` (the v2 tweet,
    struct :data:`TWEET`, null unless the record is a v2 response with tweets) and ``v2_index``
    (its 0-based position in ``data``). :func:`record_columns` derives the flags from these and
    :func:`tweet_field` reads a tweet's field from ``v2`` or straight from ``r``.

    Why no combined tweet struct: every operator after ``from_json`` that outputs the nested
    record copies it into a new UnsafeRow (the wide schema keeps these operators out of
    whole-stage codegen), and building ``array(struct(every field of r))`` for the explode
    cost more than the JSON parsing itself. Here ``r`` is materialised by the parse and by the
    explode, and the next projection (:func:`with_tweet_fields`) reduces it to flat columns.
    """
    r = F.col("r")
    data = F.trim(r["data"])
    v2_tweets = F.when(
        r["data"].isNotNull(),
        F.when(data.startswith("["), F.from_json(data, "array<" + TWEET.simpleString() + ">")).otherwise(
            F.array(F.from_json(data, TWEET))),
    )
    return objects_df.select(
        "source_uri", "source_line", "object_index", "objects_on_line", "payload", "raw", "error",
        F.from_json(F.col("payload"), RECORD, JSON_OPTIONS).alias("r"),
    ).select("*", F.posexplode_outer(v2_tweets).alias("v2_index", "v2"))


def record_columns() -> Dict[str, Column]:
    """The per-record flags over :func:`parse_records` output, for one projection that also
    reads the tweet fields: ``corrupt`` (the JSON did not parse against the schema),
    ``control`` (name of a stream control message), ``kind`` (v1, v2, csv), ``v2_missing`` (a
    v2 response row without a tweet: ``data`` empty, null or unreadable) and
    ``tweet_index``/``tweets_in_record`` (1-based position in a v2 ``data`` array)."""
    r = F.col("r")
    is_v2 = r["data"].isNotNull()
    # The array's length without keeping the parsed array: only used to say "tweet k of n".
    v2_count = F.when(F.col("v2_index").isNull(), F.lit(1)).otherwise(
        F.coalesce(F.json_array_length(F.trim(r["data"])), F.lit(1)))
    control = F.coalesce(
        *[F.when(r[name].isNotNull(), F.lit(name)) for name in CONTROL_FIELDS], F.lit(None).cast("string")
    )
    return {
        "corrupt": r[CORRUPT].isNotNull(),
        "control": control,
        "kind": F.when(is_v2, F.lit("v2")).otherwise(F.coalesce(r["_format"], F.lit("v1"))),
        "v2_missing": is_v2 & F.col("v2").isNull(),
        "tweets_in_record": F.greatest(F.when(is_v2, v2_count), F.lit(1)),
        "tweet_index": F.coalesce(F.col("v2_index"), F.lit(0)) + 1,
    }


def tweet_field(path: str) -> str:
    """SQL: a field of the record's tweet, e.g. ``user.screen_name``: from the v2 ``data``
    element when there is one, else from the parsed record itself (a v1.1 status or a CSV row
    is the tweet).

    >>> tweet_field("lang")
    '(CASE WHEN v2 IS NOT NULL THEN v2.lang ELSE r.lang END)'
    """
    return f"(CASE WHEN v2 IS NOT NULL THEN v2.{path} ELSE r.{path} END)"


def parse_created_at(col: Column) -> Column:
    """Twitter's ``Wed Oct 10 20:19:24 +0000 2018`` or ISO-8601 (v2, CSV) -> UTC timestamp.

    Built from fixed-width substrings (one regex test per row) and ``try_to_timestamp`` on an
    ISO string instead of a datetime pattern, so a malformed date is null (quarantined) and
    never a ``SparkUpgradeException`` under the session's parser policy.
    """
    # Twitter always zero-pads the day; a one-digit day is padded first (rare, other tools).
    pattern = r"^[A-Za-z]{3} [A-Za-z]{3} \d{2} \d{2}:\d{2}:\d{2} [+-]\d{4} \d{4}$"
    short_day = r"^([A-Za-z]{3} [A-Za-z]{3}) (\d) (\d{2}:\d{2}:\d{2} [+-]\d{4} \d{4})$"
    months = F.create_map(*[x for i, m in enumerate(MONTHS) for x in (F.lit(m), F.lit(f"{i + 1:02d}"))])
    padded = F.when(col.rlike(short_day), F.regexp_replace(col, short_day, "$1 0$2 $3")).otherwise(col)
    twitter_iso = F.concat(
        F.substring(padded, 27, 4), F.lit("-"), months[F.substring(padded, 5, 3)], F.lit("-"),
        F.substring(padded, 9, 2), F.lit("T"), F.substring(padded, 12, 8), F.substring(padded, 21, 5),
    )
    text = F.when(padded.rlike(pattern), twitter_iso).otherwise(F.trim(col))
    return F.try_to_timestamp(text)


def parse_id(col: Column) -> Column:
    """A decimal id string -> long; anything else (empty, letters, > 2^63-1) -> null, without
    relying on non-ANSI casts ("1234" -> 1234, "12a" -> null, "9223372036854775808" -> null)."""
    # "123.0": ids from spreadsheet-exported CSVs; "" when the text is not an id at all.
    digits = F.regexp_extract(col, r"^\s*([0-9]{1,19})(?:\.0+)?\s*$", 1)
    fits = (F.length(digits) < 19) | (digits <= F.lit("9223372036854775807"))
    return F.when((digits != "") & fits, digits.cast("long"))
