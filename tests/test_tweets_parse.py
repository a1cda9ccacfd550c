"""Parsing each input shape into curated/tweets columns (inline inputs, no Delta)."""
from __future__ import annotations

import datetime as dt
import json
import sys

import pytest
from chispa import assert_df_equality
from crisislake.tweets.io import LINE_SCHEMA
from crisislake.tweets.transforms import pick_richest, select_tweets, to_records
from pyspark.sql import types as T

URI = "s3://raw/tweets/2013/04/15/18/part-0.json"


def v1(tweet_id, text, **extra):
    status = {
        "created_at": "Mon Apr 15 18:50:12 +0000 2013", "id": tweet_id, "id_str": str(tweet_id), "text": text,
        "lang": "en", "user": {"id": 11, "id_str": "11", "screen_name": "alice"},
        "entities": {"hashtags": [], "urls": [], "user_mentions": []},
    }
    status.update(extra)
    return json.dumps(status)


def records(spark, *payloads, uri=URI):
    rows = [(uri, i + 1, p, None, None) for i, p in enumerate(payloads)]
    return spark.createDataFrame(rows, LINE_SCHEMA).transform(to_records("run-1"))


def test_v1_extended_tweet_gives_full_unescaped_text_entities_place_and_point(spark):
    payload = v1(
        323470380069203968, "Explosions at the finish line &amp; more\u2026 https://t.co/a", truncated=True,
        extended_tweet={
            "full_text": "Explosions at the finish line &amp; people hurt #BostonMarathon https://t.co/a @bpd",
            "entities": {"hashtags": [{"text": "BostonMarathon"}],
                         "urls": [{"url": "https://t.co/a", "expanded_url": "https://example.org/boston"}],
                         "user_mentions": [{"screen_name": "bpd"}]},
        },
        place={"country_code": "US", "country": "United States", "full_name": "Boston, MA", "name": "Boston"},
        coordinates={"type": "Point", "coordinates": [-71.08, 42.35]},
        geo={"type": "Point", "coordinates": [42.35, -71.08]},
    )
    actual_df = records(spark, payload).select(
        "tweet_id", "created_at", "text", "author_id", "author_handle", "hashtags", "urls", "mentions",
        "place_country", "place_name", "lat", "lon", "source_line", "reason")
    expected_df = spark.createDataFrame(
        [(323470380069203968, dt.datetime(2013, 4, 15, 18, 50, 12),
          "Explosions at the finish line & people hurt #BostonMarathon https://t.co/a @bpd", 11, "alice",
          ["BostonMarathon"], ["https://example.org/boston"], ["bpd"], "US", "Boston, MA", 42.35, -71.08, 1, None)],
        "tweet_id long, created_at timestamp, text string, author_id long, author_handle string, "
        "hashtags array<string>, urls array<string>, mentions array<string>, place_country string, "
        "place_name string, lat double, lon double, source_line long, reason string",
    )
    assert_df_equality(actual_df, expected_df, ignore_nullable=True)


def test_v1_retweet_text_is_rt_prefix_plus_original_full_text(spark):
    original = json.loads(v1(100000000000000001, "short\u2026",
                             extended_tweet={"full_text": "the whole original text"},
                             user={"id_str": "22", "screen_name": "bob"}))
    payload = v1(100000000000000002, "RT @bob: short\u2026", retweeted_status=original)
    row = records(spark, payload).select("text", "retweet_of_id", "mentions").first()
    assert (row.text, row.retweet_of_id, row.mentions) == (
        "RT @bob: the whole original text", 100000000000000001, ["bob"])


def test_v2_response_uses_note_tweet_text_includes_user_place_and_references(spark):
    response = {
        "data": [
            {"id": "1266538354939756544", "text": "cut\u2026", "created_at": "2020-05-30T01:02:03.000Z",
             "author_id": "7", "lang": "en", "note_tweet": {"text": "the long post &gt; 280 characters"},
             "referenced_tweets": [{"type": "replied_to", "id": "1266538354939756000"},
                                   {"type": "quoted", "id": "1266538354939755000"}],
             "geo": {"place_id": "p1"}},
            {"id": "1266538354939756545", "text": "second", "created_at": "2020-05-30T01:02:04.000Z",
             "author_id": "8"},
        ],
        "includes": {"users": [{"id": "7", "username": "carol"}, {"id": "8", "username": "dan"}],
                     "places": [{"id": "p1", "full_name": "Houston, TX", "country_code": "US"}]},
    }
    actual_df = records(spark, json.dumps(response)).select(
        "tweet_id", "text", "author_handle", "reply_to_id", "quote_of_id", "place_name", "source_line")
    expected_df = spark.createDataFrame(
        [(1266538354939756544, "the long post > 280 characters", "carol", 1266538354939756000,
          1266538354939755000, "Houston, TX", 1),
         (1266538354939756545, "second", "dan", None, None, None, 1)],
        "tweet_id long, text string, author_handle string, reply_to_id long, quote_of_id long, "
        "place_name string, source_line long",
    )
    assert_df_equality(actual_df, expected_df, ignore_nullable=True, ignore_row_order=True)


def test_firehose_line_of_concatenated_objects_gives_one_record_each(spark):
    line = v1(100000000000000011, "one }{ brace") + v1(100000000000000012, "two") + v1(100000000000000013, "three")
    actual = records(spark, line).select("tweet_id", "text", "source_line", "reason").collect()
    assert sorted((r.tweet_id, r.text, r.source_line, r.reason) for r in actual) == [
        (100000000000000011, "one }{ brace", 1, None),
        (100000000000000012, "two", 1, None),
        (100000000000000013, "three", 1, None),
    ]


@pytest.mark.parametrize(
    "payload, reason",
    [
        ('{"id": 1, "text": "broken', "malformed JSON (or a field of an unexpected type)"),
        (v1(None, "no id", id_str=None), "missing tweet id"),
        (v1(123, "bad id", id_str="12x"), "invalid tweet id"),
        (v1(124, None), "missing text"),
        (v1(125, "bad date", created_at="yesterday at noon"), "unparseable created_at"),
        ('{"delete": {"status": {"id": 1, "user_id": 2}}}', "not a tweet: stream control message 'delete'"),
        ('{"errors": [{"title": "Not Found Error"}], "data": []}', "v2 response without tweets (data empty or errors)"),
    ],
    ids=["broken-json", "missing-id", "invalid-id", "missing-text", "bad-date", "delete-notice", "v2-errors"],
)
def test_bad_record_gets_its_reason_and_keeps_raw_payload(spark, payload, reason):
    row = records(spark, payload).select("reason", "raw_payload", "source_uri", "source_line").first()
    assert (row.reason, row.raw_payload, row.source_uri, row.source_line) == (reason, payload, URI, 1)


def test_csv_row_without_date_gets_created_at_from_snowflake_id(spark):
    payload = json.dumps({"_format": "csv", "id_str": "211040709124440064", "text": "fire &amp; smoke"})
    row = records(spark, payload).select("created_at", "text", "reason").first()
    assert (row.created_at, row.text, row.reason) == (dt.datetime(2012, 6, 8, 10, 23, 20, 659000), "fire & smoke", None)


def test_pick_richest_keeps_the_longer_text_of_a_tweet_seen_twice(spark):
    source_df = records(
        spark, v1(100000000000000021, "short text"), v1(100000000000000021, "short text, but the full version"))
    actual = pick_richest(select_tweets(source_df)).select("tweet_id", "text", "source_line").collect()
    assert [(r.tweet_id, r.text, r.source_line) for r in actual] == [
        (100000000000000021, "short text, but the full version", 2)]


def test_records_have_the_curated_tweets_contract_schema(spark):
    from crisislake.tweets.schemas import TWEETS_SCHEMA

    actual = select_tweets(records(spark, v1(100000000000000031, "x"))).schema
    assert [(f.name, f.dataType) for f in actual.fields] == [(f.name, f.dataType) for f in TWEETS_SCHEMA.fields]
    assert isinstance(actual["created_at"].dataType, T.TimestampType)


def test_parse_id_and_parse_created_at_edge_cases():
    from crisislake.tweets.records import parse_created_at, parse_id

    ids = ["1234", " 42 ", "123.0", "12a", "", None, "9223372036854775807", "9223372036854775808", "-5", "\u0663"]
    assert [parse_id(i) for i in ids] == [1234, 42, 123, None, None, None, 9223372036854775807, None, None, None]
    dates = ["Mon Apr 15 18:50:12 +0000 2013", "Mon Apr 15 20:50:12 +0200 2013", "Mon Apr 5 18:50:12 +0000 2013",
             "2013-04-15T18:50:12.000Z", "2013-04-15 20:50:12+02:00", "2013-04-15", "Mon Foo 15 18:50:12 +0000 2013",
             "yesterday", "Mon Feb 30 18:50:12 +0000 2013", "Mon Apr 15 18:50:12 +1900 2013"]
    got = [parse_created_at(d) for d in dates]
    as_text = [None if us is None else dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") for us in got]
    assert as_text == ["2013-04-15 18:50:12", "2013-04-15 18:50:12", "2013-04-05 18:50:12", "2013-04-15 18:50:12",
                       "2013-04-15 18:50:12", "2013-04-15 00:00:00", None, None, None, None]


@pytest.mark.parametrize(
    "payload",
    [
        '{"id_str": "1", "text": "x", "created_at": "Mon Apr 15 18:50:12 +0000 2013", "user": "alice"}',
        '{"id_str": "1", "text": "x", "entities": {"hashtags": {"text": "a"}}}',
        '{"id_str": "1", "text": "x", "coordinates": {"coordinates": ["71.0", 42.3]}}',
        '[{"id_str": "1", "text": "x"}]',
        '{"id_str": "1", "text": "x"} trailing',
    ],
    ids=["user-is-text", "hashtags-not-array", "coordinate-is-text", "top-level-array", "trailing-garbage"],
)
def test_field_of_an_unexpected_type_makes_the_record_malformed(spark, payload):
    row = records(spark, payload).select("reason", "raw_payload").first()
    assert (row.reason, row.raw_payload) == ("malformed JSON (or a field of an unexpected type)", payload)


def test_numeric_ids_keep_all_their_digits_and_text_fields_take_any_json_value(spark):
    payload = ('{"id": 1266538354939756545, "text": "ok", "created_at": "2020-05-30T01:02:03Z", '
               '"lang": 5, "user": {"id": 9007199254740993, "screen_name": "eve"}}')
    row = records(spark, payload).select("tweet_id", "author_id", "lang", "reason").first()
    assert (row.tweet_id, row.author_id, row.lang, row.reason) == (1266538354939756545, 9007199254740993, "5", None)


def test_v2_retweet_is_rebuilt_from_included_tweet_and_user(spark):
    response = {
        "data": [{"id": "1266538354939756600", "text": "RT @erin: cut\u2026", "created_at": "2020-05-30T01:02:03.000Z",
                  "author_id": "7", "referenced_tweets": [{"type": "retweeted", "id": "1266538354939756500"}]}],
        "includes": {"users": [{"id": "7", "username": "carol"}, {"id": "8", "username": "erin"}],
                     "tweets": [{"id": "1266538354939756500", "text": "the original", "author_id": "8",
                                 "entities": {"hashtags": [{"tag": "Flood"}], "mentions": [{"username": "fema"}]}}]},
    }
    row = records(spark, json.dumps(response)).select("text", "retweet_of_id", "hashtags", "mentions", "reason").first()
    assert (row.text, row.retweet_of_id, row.hashtags, row.mentions, row.reason) == (
        "RT @erin: the original", 1266538354939756500, ["Flood"], ["erin", "fema"], None)


def test_v2_response_with_a_bad_tweet_among_several_names_its_position(spark):
    response = {"data": [{"id": "1266538354939756544", "text": "fine", "created_at": "2020-05-30T01:02:03Z"},
                         {"id": "1266538354939756545", "text": "", "created_at": "2020-05-30T01:02:04Z"}]}
    actual = records(spark, json.dumps(response)).select("tweet_id", "reason").collect()
    assert sorted((r.tweet_id, r.reason) for r in actual) == [
        (1266538354939756544, None), (1266538354939756545, "missing text (tweet 2 of 2 in the v2 response)")]


def test_lone_surrogate_escape_and_deep_nesting_neither_crash_the_parse(spark):
    cut = '{"id_str": "100000000000000041", "text": "cut emoji \\ud83d", "created_at": "2013-04-15T18:50:12Z"}'
    deep = '{"id_str": "100000000000000042", "text": ' + "[" * 5000 + "]" * 5000 + "}"
    actual = records(spark, cut, deep).select("source_line", "text", "reason").collect()
    assert sorted((r.source_line, r.text, r.reason) for r in actual) == [
        (1, "cut emoji ?", None), (2, None, "malformed JSON (or a field of an unexpected type)")]


def test_a_value_no_rule_foresaw_quarantines_only_its_record(spark):
    huge = '{"id_str": "100000000000000051", "text": "far", "created_at": "2013-04-15", "coordinates": {"coordinates": [1, ' + "9" * 400 + "]}}"
    fine = v1(100000000000000052, "near")
    actual = records(spark, huge, fine).select("source_line", "reason").collect()
    assert sorted((r.source_line, r.reason) for r in actual) == [
        (1, "unreadable tweet (OverflowError: int too large to convert to float)"), (2, None)]


def test_a_single_object_whose_text_holds_a_firehose_like_boundary_stays_one_record(spark):
    line = v1(100000000000000021, 'looks like }{"id": 5} but is text')
    actual = records(spark, line).select("tweet_id", "text", "reason").collect()
    assert [(r.tweet_id, r.text, r.reason) for r in actual] == [
        (100000000000000021, 'looks like }{"id": 5} but is text', None)]


def test_parse_created_at_gives_the_same_answers_when_its_memory_fills_up():
    from crisislake.tweets import records as parse

    dates = [f"Mon Apr 15 {h}:{m:02d}:{s:02d} +0000 2013" for h in (18, 19) for m in range(60) for s in range(60)] * 2
    dates += ["Mon Feb 30 18:50:12 +0000 2013", "yesterday"] * 2
    assert len(set(dates)) > parse._DATES_MAX
    got = [parse.parse_created_at(d) for d in dates]
    assert got == [parse._parse_created_at(d) for d in dates]
    assert got[61] == 1365984000000000 + (18 * 3600 + 61) * 1_000_000  # 2013-04-15 18:01:01 UTC
    assert got[-4:] == [None, None, None, None]
    assert len(parse._DATES) <= parse._DATES_MAX


@pytest.mark.skipif(not ((3, 10) <= sys.version_info[:2] <= (3, 11)),
                    reason="only Python 3.10 and 3.11 rescan zip archives on importlib.invalidate_caches()")
def test_zip_archives_on_the_path_are_rescanned_only_when_they_change(tmp_path, monkeypatch):
    import importlib
    import zipfile
    import zipimport

    from crisislake.tweets.records import skip_unchanged_zip_rescans

    archive = tmp_path / "mods.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("crisislake_zip_probe_a.py", "VALUE = 'a'\n")
    monkeypatch.syspath_prepend(str(archive))
    monkeypatch.setattr(zipimport.zipimporter, "invalidate_caches", zipimport.zipimporter.invalidate_caches)
    scans = []
    read_directory = zipimport._read_directory
    monkeypatch.setattr(zipimport, "_read_directory", lambda path: scans.append(path) or read_directory(path))
    assert importlib.import_module("crisislake_zip_probe_a").VALUE == "a"

    def rescans_by(action):
        before = scans.count(str(archive))
        action()
        return scans.count(str(archive)) - before

    assert rescans_by(importlib.invalidate_caches) == 1  # Python's own behaviour: every call rescans
    skip_unchanged_zip_rescans()
    skip_unchanged_zip_rescans()  # installing twice wraps once
    assert rescans_by(importlib.invalidate_caches) == 1  # the first call after installing scans
    assert rescans_by(lambda: [importlib.invalidate_caches() for _ in range(3)]) == 0

    with zipfile.ZipFile(archive, "a") as z:
        z.writestr("crisislake_zip_probe_b.py", "VALUE = 'b'\n")
    assert rescans_by(importlib.invalidate_caches) == 1
    assert importlib.import_module("crisislake_zip_probe_b").VALUE == "b"
    for name in ("crisislake_zip_probe_a", "crisislake_zip_probe_b"):
        sys.modules.pop(name, None)


def test_arrow_columns_reach_python_unchanged_nulls_included():
    import pyarrow as pa
    from crisislake.tweets.records import _python_values

    columns = [pa.array(["a", None, "é"]), pa.array([1, None, 2**62], pa.int64()), pa.array([7, 8, 9], pa.int64()),
               pa.array([None, None, None], pa.string())]
    values = [_python_values(c) for c in columns]
    assert values == [["a", None, "é"], [1, None, 2**62], [7, 8, 9], [None, None, None]]
    assert all(type(v) is int for v in values[2])


def parse_lines(payloads):
    """``parse_batches`` over one Arrow batch of these lines, as the JVM reader sends them (text
    given as ``bytes`` goes in unchecked, as a file's bytes do); the output rows as dicts."""
    import pyarrow as pa
    from crisislake.tweets import records as parse

    raw_bytes = [p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p for p in payloads]
    lines = pa.array(raw_bytes, pa.binary()).cast(pa.string(), safe=False)
    n = len(payloads)
    batch = pa.RecordBatch.from_arrays(
        [pa.array([URI] * n), pa.array(range(1, n + 1), pa.int64()), lines, pa.nulls(n, pa.string()), pa.nulls(n, pa.string())],
        names=["source_uri", "source_line", "payload", "raw", "error"])
    return [row for out in parse.parse_batches([batch]) for row in out.to_pylist()]


def test_typed_decoder_and_general_parse_give_the_same_records(monkeypatch):
    from crisislake.tweets import records as parse

    response = {"data": [{"id": "1266538354939756544", "text": "v2 &amp; long", "created_at": "2020-05-30T01:02:03Z",
                          "author_id": "7", "note_tweet": {"text": "the long post"}, "geo": {"place_id": "p1"},
                          "referenced_tweets": [{"type": "retweeted", "id": "1266538354939756500"}]}, None],
                "includes": {"users": [{"id": "7", "username": "carol"}], "places": [{"id": "p1", "country_code": "KE"}],
                             "tweets": [{"id": "1266538354939756500", "text": "orig", "author_id": "7"}]}}
    original = json.loads(v1(100000000000000001, "short", extended_tweet={"full_text": "the whole text"}))
    lines = [
        v1(323470380069203968, "fire &amp; smoke", place={"country_code": "US", "full_name": "Boston, MA"},
           coordinates={"coordinates": [-71.08, 42.35]}, in_reply_to_status_id=5, quoted_status={"id": 6}),
        v1(100000000000000002, "RT @alice: short", retweeted_status=original),
        json.dumps(response), json.dumps({"data": {"id": "1266538354939756545", "text": "one", "created_at": "2020-05-30"}}),
        v1(100000000000000011, "one }{ brace") + v1(100000000000000012, "two"), v1(100000000000000013, "x") + '{"bad',
        '{"id": 1, "text": "broken', v1(None, "no id", id_str=None), v1(123, "bad id", id_str="12x"), v1(124, None),
        v1(125, "bad date", created_at="yesterday"), '{"delete": {"status": {"id": 1}}}', '{"errors": [1], "data": []}',
        json.dumps({"_format": "csv", "id_str": "211040709124440064", "text": "csv row"}),
        '{"id_str": "1", "text": "x", "user": "alice"}', '{"id_str": "1", "text": "x", "entities": {"hashtags": {"text": "a"}}}',
        '{"id_str": "1", "text": "x", "coordinates": {"coordinates": ["71.0", 42.3]}}',
        '{"id_str": "1", "text": "x", "coordinates": {"coordinates": [true, 42.3]}}', '[{"id_str": "1"}]',
        '{"id_str": "1", "text": "x"} trailing', '{"id": 1266538354939756545, "text": "ok", "lang": 5, "user": {"id": 9}}',
        '{"id_str": "100000000000000041", "text": "cut \\ud83d", "created_at": "2013-04-15T18:50:12Z"}',
        '{"id_str": "100000000000000042", "text": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"id_str": "100000000000000051", "text": "far", "created_at": "2013-04-15", "coordinates": {"coordinates": [1, ' + "9" * 400 + "]}}",
        '{"id": 7, "id": 8, "text": "last key wins", "created_at": "2013-04-15"}', '{"text": NaN, "id": 5}', "", "   ", "null", '"text"',
    ]
    decoded = []
    real = parse.typed_decoder

    def counting():
        typed = real()

        def decode(payload):
            record = typed(payload)
            decoded.append(record is not parse._UNPARSEABLE)
            return record

        return decode

    monkeypatch.setattr(parse, "typed_decoder", counting)
    typed_rows = parse_lines(lines)
    monkeypatch.setattr(parse, "typed_decoder", lambda: None)
    general_rows = parse_lines(lines)
    assert typed_rows == general_rows
    # +1: the v2 response's second tweet; +1: the Firehose line's second object ('{"bad' is no
    # object boundary); -2: the blank lines
    assert len(typed_rows) == len(lines)
    # the typed decoder took the 15 lines that are one object of the expected types (the 400-digit
    # coordinate is a number, and the parse then quarantines it), the general path the other 15
    assert [i + 1 for i, ok in enumerate(decoded) if ok] == [1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 21, 24, 25, 29]


def test_invalid_utf8_on_a_line_becomes_replacement_characters_instead_of_failing_the_task():
    good = v1(100000000000000061, "caf\u00e9 ok").encode()
    damaged = good.replace(b"61", b"62").replace(b"ok", b"\xff\xfe ok")
    broken = b'{"id_str": "100000000000000063", "text": "\xff'
    rows = parse_lines([good, damaged, broken])
    assert [(r["tweet_id"], r["text"], r["reason"]) for r in rows] == [
        (100000000000000061, "caf\u00e9 ok", None), (100000000000000062, "caf\u00e9 \ufffd\ufffd ok", None),
        (None, None, "malformed JSON (or a field of an unexpected type)")]
    assert rows[2]["raw_payload"] == '{"id_str": "100000000000000063", "text": "\ufffd'
