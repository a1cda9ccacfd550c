"""Parsed tweets -> ``curated/tweets`` rows, quarantine reasons, and one row per ``tweet_id``.

Which version of a tweet wins when it is seen more than once (v1.1 and v2 forms, a CSV export,
a re-run): the *richer* one, i.e. the longer text (a v1.1 ``extended_tweet.full_text`` or v2
``note_tweet.text`` beats a 140-character ``text``), then the one with more metadata filled
(date, author, handle, language, place, coordinates), then the first file/line in sort order.
The same rule decides the MERGE update, so a re-run over the same files changes nothing.
"""
from __future__ import annotations

from typing import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crisislake.tweets.parse import parse_created_at, parse_id, record_columns, tweet_field
from crisislake.tweets.schemas import GEO_V2, TWEET_COLUMNS

# Ids before this are pre-snowflake (2006-2010) and carry no timestamp.
SNOWFLAKE_MIN_ID = 100_000_000_000_000
TWITTER_EPOCH_MS = 1288834974657
RICHNESS_FIELDS = ("created_at", "author_id", "author_handle", "lang", "place_name", "lat")


def html_unescape(col: Column) -> Column:
    """Undo the entities Twitter puts in text: ``&lt; &gt; &quot; &#39; &amp;`` (``&amp;`` last,
    so ``&amp;lt;`` stays ``&lt;``)."""
    out = col
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&")):
        out = F.replace(out, F.lit(entity), F.lit(char))
    return out


def snowflake_time(tweet_id: Column) -> Column:
    """The creation time a snowflake tweet id encodes (ids from November 2010 on)."""
    return F.when(
        tweet_id >= SNOWFLAKE_MIN_ID,
        F.timestamp_millis(F.shiftright(tweet_id, 22) + F.lit(TWITTER_EPOCH_MS)),
    )


def _full_text(t: str) -> str:
    """SQL: the full text of a tweet struct in either API version."""
    return f"coalesce({t}.note_tweet.text, {t}.extended_tweet.full_text, {t}.full_text, {t}.text)"


def _full_entities(t: str) -> str:
    return f"coalesce({t}.note_tweet.entities, {t}.extended_tweet.entities, {t}.entities)"


def _ref(kind: str) -> str:
    """SQL: the id of the v2 referenced tweet of ``kind`` (retweeted, quoted, replied_to)."""
    return f"get(filter({tweet_field('referenced_tweets')}, x -> x.type = '{kind}'), 0).id"


def _own(expr_of_t) -> str:
    """SQL over the record's tweet: ``expr_of_t(t)`` written once for the v2 element and once
    for the parsed record (``t.`` paths), chosen by whether there is a v2 element."""
    return f"(CASE WHEN v2 IS NOT NULL THEN {expr_of_t('v2')} ELSE {expr_of_t('r')} END)"


def with_tweet_fields(parsed_df: DataFrame) -> DataFrame:
    """Add the record flags (:func:`~crisislake.tweets.parse.record_columns`) and the
    contract's content columns (``tweet_id`` ... ``lon``) from ``r``/``v2``.

    Retweets get the original's full text as ``RT @handle: <full text>`` (the retweet's own
    ``text`` is cut at 140 characters) and the original's entities.
    """
    # Stage 1 is the only projection that reads the nested record: it reduces ``r``/``v2`` to
    # flat columns and small structs, and the wide columns are dropped right after it, so no
    # later operator copies them. Stages 2 and 3 reuse stage-1 columns that are referenced
    # several times (Spark evaluates a column once per row instead of inlining copies).
    t = tweet_field
    v2_retweeted = f"get(filter(r.includes.tweets, x -> x.id = {_ref('retweeted')}), 0)"
    stage1 = parsed_df.withColumns({
        **record_columns(),
        "rt": F.expr(f"coalesce({t('retweeted_status')}, {v2_retweeted})"),
        "geo2": F.when(F.expr(t("geo")).contains("place_id"), F.from_json(F.expr(t("geo")), GEO_V2)),
        "raw_id": F.expr(f"coalesce({t('id_str')}, {t('id')})"),
        "raw_created_at": F.expr(t("created_at")),
        "own_text": F.expr(_own(_full_text)),
        "own_ent": F.expr(_own(_full_entities)),
        "lang": F.expr(t("lang")),
        "raw_author_id": F.expr(f"coalesce({t('user.id_str')}, {t('user.id')}, {t('author_id')})"),
        "author_handle": F.expr(
            f"coalesce({t('user.screen_name')}, "
            f"get(filter(r.includes.users, u -> u.id = {t('author_id')}), 0).username)"),
        "ref_retweeted": F.expr(_ref("retweeted")),
        "raw_quote_of": F.expr(
            f"coalesce({t('quoted_status_id_str')}, {t('quoted_status.id_str')}, {t('quoted_status.id')}, "
            f"{_ref('quoted')})"),
        "raw_reply_to": F.expr(
            f"coalesce({t('in_reply_to_status_id_str')}, {t('in_reply_to_status_id')}, {_ref('replied_to')})"),
        "own_place": F.expr(t("place")),
        "own_point": F.expr(t("coordinates.coordinates")),
        "v2_users": F.col("r.includes.users"),
        "v2_places": F.col("r.includes.places"),
    }).drop("r", "v2", "v2_index")
    rt_handle = "coalesce(rt.user.screen_name, get(filter(v2_users, u -> u.id = rt.author_id), 0).username)"
    ent = (
        f"CASE WHEN rt IS NOT NULL AND {_full_entities('rt')} IS NOT NULL "
        f"THEN {_full_entities('rt')} ELSE own_ent END"
    )
    stage2 = stage1.withColumns({
        "rt_handle": F.expr(rt_handle),
        "rt_text": F.expr(_full_text("rt")),
        "ent": F.expr(ent),
        "tweet_id": parse_id(F.col("raw_id")),
        "retweet_of_id": parse_id(F.expr("coalesce(rt.id_str, rt.id, ref_retweeted)")),
        "place": F.expr("coalesce(own_place, get(filter(v2_places, p -> p.id = geo2.place_id), 0))"),
        "point": F.expr("coalesce(own_point, geo2.coordinates.coordinates)"),
    }).drop("rt", "geo2", "own_ent", "own_place", "own_point", "v2_users", "v2_places")
    text = (
        "CASE WHEN rt_text IS NOT NULL AND rt_handle IS NOT NULL "
        "THEN concat('RT @', rt_handle, ': ', rt_text) ELSE own_text END"
    )
    mentions = (
        "concat(CASE WHEN rt_handle IS NOT NULL THEN array(rt_handle) ELSE array() END, "
        "coalesce(transform(ent.user_mentions, m -> m.screen_name), transform(ent.mentions, m -> m.username), "
        "array()))"
    )
    stage3 = stage2.withColumns({
        "created_at": F.coalesce(
            parse_created_at(F.col("raw_created_at")),
            F.when((F.col("kind") == "csv") & F.col("raw_created_at").isNull(), snowflake_time(F.col("tweet_id"))),
        ),
        "text": html_unescape(F.expr(text)),
        "author_id": parse_id(F.col("raw_author_id")),
        "quote_of_id": parse_id(F.col("raw_quote_of")),
        "reply_to_id": parse_id(F.col("raw_reply_to")),
        "hashtags": F.expr("coalesce(transform(ent.hashtags, h -> coalesce(h.text, h.tag)), array())"),
        "urls": F.expr("coalesce(transform(ent.urls, u -> coalesce(u.unwound_url, u.expanded_url, u.url)), array())"),
        "mentions": F.expr(mentions),
        "place_country": F.coalesce(F.col("place.country_code"), F.col("place.country")),
        "place_name": F.coalesce(F.col("place.full_name"), F.col("place.name")),
        "lat": F.when(F.size("point") == 2, F.col("point")[1]),
        "lon": F.when(F.size("point") == 2, F.col("point")[0]),
    })
    return stage3.drop("rt_handle", "rt_text", "own_text", "ent", "place", "point", "ref_retweeted",
                       "raw_author_id", "raw_quote_of", "raw_reply_to")


def with_reason(df: DataFrame) -> DataFrame:
    """Add ``reason``: why a record is quarantined, or null for a good tweet. First match wins."""
    # Several records can share a line (Firehose objects, tweets of one v2 response); the
    # position in the reason keeps quarantine rows unique on (source_uri, source_line, reason).
    where = F.concat(
        F.when(F.col("objects_on_line") > 1, F.concat(
            F.lit(" (object "), F.col("object_index").cast("string"), F.lit(" of "),
            F.col("objects_on_line").cast("string"), F.lit(" on the line)"))).otherwise(F.lit("")),
        F.when(F.col("tweets_in_record") > 1, F.concat(
            F.lit(" (tweet "), F.col("tweet_index").cast("string"), F.lit(" of "),
            F.col("tweets_in_record").cast("string"), F.lit(" in the v2 response)"))).otherwise(F.lit("")),
    )
    reason = (
        F.when(F.col("error").isNotNull(), F.col("error"))
        .when(F.col("corrupt"), F.lit("malformed JSON (or a field of an unexpected type)"))
        .when(F.col("control").isNotNull(),
              F.concat(F.lit("not a tweet: stream control message '"), F.col("control"), F.lit("'")))
        .when(F.col("v2_missing"), F.lit("v2 response without tweets (data empty or errors)"))
        .when(F.col("raw_id").isNull() | (F.trim(F.col("raw_id")) == ""), F.lit("missing tweet id"))
        .when(F.col("tweet_id").isNull(), F.lit("invalid tweet id"))
        .when(F.col("text").isNull() | (F.trim(F.col("text")) == ""), F.lit("missing text"))
        .when(F.col("created_at").isNull() & F.col("raw_created_at").isNull() & (F.col("kind") != "csv"),
              F.lit("missing created_at"))
        .when(F.col("created_at").isNull() & F.col("raw_created_at").isNotNull(),
              F.lit("unparseable created_at"))
    )
    return df.withColumn("reason", F.when(reason.isNotNull(), F.concat(reason, where)))


def with_lineage(run_id: str) -> Callable[[DataFrame], DataFrame]:
    """Add ``ingested_at`` and ``run_id``; ``source_uri``/``source_line`` come from the reader."""

    def inner(df: DataFrame) -> DataFrame:
        return df.withColumns({"ingested_at": F.current_timestamp(), "run_id": F.lit(run_id)})

    return inner


def richness_sql(alias: str) -> str:
    """SQL ranking a tweet row: text length first, then how many metadata fields are filled.

    Returned as ``(len * 16 + filled)`` so one number orders rows; used for the in-batch pick
    and the MERGE update condition alike.
    """
    filled = " + ".join(f"CASE WHEN {alias}.`{c}` IS NULL THEN 0 ELSE 1 END" for c in RICHNESS_FIELDS)
    return f"(coalesce(length({alias}.text), 0) * 16 + {filled})"


def select_tweets(df: DataFrame) -> DataFrame:
    """Good records only, in the contract's column order."""
    return df.filter(F.col("reason").isNull()).select(*TWEET_COLUMNS)


def select_quarantine(df: DataFrame) -> DataFrame:
    """Bad records as ``source_uri, source_line, raw_payload, reason`` for ``delta_io.to_quarantine``."""
    return df.filter(F.col("reason").isNotNull()).select("source_uri", "source_line", "raw_payload", "reason")


def pick_richest(tweets_df: DataFrame) -> DataFrame:
    """One row per ``tweet_id``: the richest version (see the module docstring).

    A window over ``tweet_id`` costs one shuffle of the narrow tweet rows (not the raw JSON).
    """
    order = Window.partitionBy("tweet_id").orderBy(
        F.expr(richness_sql("s")).desc(), F.col("source_uri"), F.col("source_line")
    )
    return (
        tweets_df.alias("s")
        .withColumn("_rank", F.row_number().over(order))
        .filter(F.col("_rank") == 1)
        .drop("_rank")
    )


def to_records(run_id: str) -> Callable[[DataFrame], DataFrame]:
    """Lines (``source_uri, source_line, payload, raw, error``) -> one row per record with the
    contract columns, ``reason`` (null when good) and ``raw_payload`` (kept for bad rows only,
    so a cached batch holds tweets, not multi-KB JSON)."""
    from crisislake.tweets.parse import parse_records, split_objects

    def inner(lines_df: DataFrame) -> DataFrame:
        records = (
            lines_df.transform(split_objects)
            .transform(parse_records)
            .transform(with_tweet_fields)
            .transform(with_reason)
            .transform(with_lineage(run_id))
        )
        raw_payload = F.when(F.col("reason").isNotNull(), F.coalesce(F.col("raw"), F.col("payload")))
        return records.select(*TWEET_COLUMNS, "reason", raw_payload.alias("raw_payload"))

    return inner
