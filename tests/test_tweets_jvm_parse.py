"""The JVM lane of the tweet parse (``V1StatusParser.java``) against the Python parse.

The lane may decline any line, but a line it takes must give exactly the row the Python parse
gives. Checked on the sample dumps, realistic generated statuses, seeded mutations of both
(types, nulls, removed and added fields, odd values) and hand-written edge lines; then end to
end, an ingest with the lane and one without it write the same tables.
"""
from __future__ import annotations

import codecs
import json
import random
import re
import shutil
from pathlib import Path

import make_sample_tweets as gen
import pytest
from crisislake.config import load_config
from crisislake.tweets import decode, jvm, records
from crisislake.tweets import job as tweets_job

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "raw" / "tweets"
DATE = "Mon Apr 15 18:50:12 +0000 2013"


def sample_payloads():
    out = []
    for path in sorted(p for p in SAMPLE.rglob("*") if p.is_file()):
        out += [payload for _, payload, _, _ in decode.decode_file(str(path), path.read_bytes()) if payload]
    return out


def v1_objects(payloads):
    """The payloads that are one v1.1 status object each (not Firehose pairs, v2 or CSV rows)."""
    out = []
    for payload in payloads:
        try:
            obj = json.loads(payload)
        except ValueError:
            continue
        if isinstance(obj, dict) and "created_at" in obj and "data" not in obj and "_format" not in obj:
            out.append((payload, obj))
    return out


def generated_statuses(texts, n=240):
    """Statuses as the benchmark makes them: 1 in 10 a retweet, 1 in 4 extended, 1 in 5 placed."""
    out = []
    for k in range(n):
        tid = 323_000_000_000_000_000 + k * 4_194_304
        retweet = None
        if k % 10 == 3:
            retweet = gen.v1_status(tid - 7 * 4_194_304, texts[(k + 7) % len(texts)], k + 1, extended=True)
        out.append(gen.v1_status(tid, texts[k % len(texts)], k, retweet_of=retweet, extended=k % 4 == 1,
                                 with_place=k % 5 == 0, reply_to=tid - 1 if k % 7 == 2 else None))
    return out


ODD_VALUES = [None, 123, "x", "", "  ", [], {}, True, False, 1.5, -5, 10**20, "9223372036854775808", " 42 ",
              "0042", "&amp;lt; a &gt;", [None], [1, "a"], {"a": 1}, "2013-04-15T18:50:12Z", DATE,
              "Mon Apr 31 18:50:12 +0000 2013", "Mon Apr 15 18:50:12 +1900 2013", "\ud83d", "caf\u00e9 \U0001F30A"]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths(sub, prefix + (key,))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _paths(sub, prefix + (i,))


def mutated(objects, per_object, seed):
    """Each object copied ``per_object`` times with 1-3 of its values replaced or removed."""
    rng = random.Random(seed)
    out = []
    for obj in objects:
        paths = list(_paths(obj))[1:]
        for _ in range(per_object):
            copy = json.loads(json.dumps(obj))
            for _ in range(rng.randint(1, 3)):
                path = rng.choice(paths)
                node = copy
                try:
                    for key in path[:-1]:
                        node = node[key]
                    if rng.random() < 0.2 and isinstance(node, dict):
                        node.pop(path[-1], None)
                    else:
                        node[path[-1]] = json.loads(json.dumps(rng.choice(ODD_VALUES)))
                except (KeyError, IndexError, TypeError):
                    pass
            out.append(json.dumps(copy, ensure_ascii=rng.random() < 0.5))
    return out


def status(**fields):
    base = {"created_at": DATE, "id_str": "323470380069203968", "text": "flood &amp; rain",
            "user": {"id_str": "11", "screen_name": "alice"}}
    base.update(fields)
    return json.dumps(base)


# Lines the lane must decline (the Python parse decides them, some as quarantine).
DECLINED = {
    "duplicate key": f'{{"created_at": "{DATE}", "id_str": "1", "id_str": "2", "text": "x"}}',
    "v2 geo": status(geo={"place_id": "abc"}),
    "BOM": "\ufeff" + status(),
    "leading space": " " + status(),
    "Firehose pair": status() + status(id_str="5"),
    "v2 response": json.dumps({"data": [{"id": "5", "text": "x", "created_at": "2013-04-15T18:50:12Z"}]}),
    "control message": json.dumps({"delete": {"status": {"id": 1}}}),
    "ISO date": status(created_at="2013-04-15T18:50:12Z"),
    "padded id": status(id_str=" 42 "),
    "negative id": status(id_str=None, id=-5),
    "float as text": status(lang=1.5),
    "object as text": status(text={"a": 1}),
    "deep nesting": status(junk=json.loads("[" * 80 + "]" * 80)),
    "missing text": status(text=None),
    "missing date": status(created_at=None),
    "bad date": status(created_at="Mon Apr 31 18:50:12 +0000 2013"),
    "null": "null",
    "blank": "",
    "wrong type": status(user="alice"),
    "trailing junk": status() + " x",
    "v2 author": status(author_id="11"),
}
# Lines the lane must take, with the row the Python parse gives.
TAKEN = [
    status(),
    status(text="RT 1", retweeted_status={"id_str": "9", "text": "orig &lt;3", "user": {"screen_name": "bob"},
                                          "extended_tweet": {"full_text": "the long orig", "entities": {
                                              "hashtags": [{"text": "a"}, None], "user_mentions": [{"screen_name": "c"}]}}}),
    status(retweeted_status={"unread": 1}),
    status(coordinates={"coordinates": [-71, 42.5]}, place={"country": "X", "name": "Y"}, geo={"coordinates": [1, 2]}),
    status(coordinates={"coordinates": [1.0, None, 3]}, place={}),
    status(id_str=None, id=323470380069203968, user={"id": 11}, in_reply_to_status_id=12, quoted_status={"id": 13}),
    status(text="\\u00e9 \ud83c\udf0a \t", entities={"urls": [{"url": "u", "expanded_url": "e"}, {"url": "v"}]}),
    status(lang=True, extended_tweet={"full_text": "&amp;lt; x", "entities": None},
           entities={"mentions": [{"username": "v2name"}]}),
    status(text="lone \ud83d half"),
]


def java_rows(spark, payloads):
    """The lane's answer per payload (UTF-8 bytes of the str): a tuple of the content columns, or None."""
    from pyspark.sql import functions as F

    assert jvm.register(spark)
    df = spark.createDataFrame([(i, p.encode("utf-8", "surrogatepass")) for i, p in enumerate(payloads)],
                               "i int, b binary")
    got = df.select("i", F.call_function(jvm.FUNCTION, "b").alias("r")).collect()
    names = [name for name, _ in jvm.CONTENT]
    by_index = {row.i: None if row.r is None else tuple(row.r[name] for name in names) for row in got}
    return [by_index[i] for i in range(len(payloads))]


def python_records(payload):
    return records.line_records(payload.encode("utf-8", "surrogatepass"), None, None, records.json_loads(),
                                records.typed_decoder())


def assert_same_where_taken(payloads, answers):
    """Every line the lane took: exactly one good Python record with the same columns."""
    for payload, answer in zip(payloads, answers):
        if answer is None:
            continue
        got = python_records(payload)
        assert len(got) == 1 and got[0][1] is None, (payload[:300], got)
        assert tuple(records._replace_surrogates(list(got[0][0]))) == answer, payload[:300]


def test_the_java_return_type_is_the_python_content_columns():
    source = jvm.SOURCE.read_text(encoding="utf-8")
    declared = "".join(re.findall(r'"([^"]*)"', source.split("RETURN_DDL =", 1)[1].split(";", 1)[0]))
    assert declared == jvm.RETURN_DDL
    assert [name for name, _ in jvm.CONTENT] == [
        "tweet_id", "created_us", "text", "lang", "author_id", "author_handle", "retweet_of_id", "quote_of_id",
        "reply_to_id", "hashtags", "urls", "mentions", "place_country", "place_name", "lat", "lon"]


def test_lines_the_lane_takes_parse_exactly_as_in_python(spark):
    sample = sample_payloads()
    v1_sample = v1_objects(sample)
    statuses = generated_statuses([obj["text"] for _, obj in v1_sample if obj.get("text")])
    plain = [json.dumps(s, separators=(",", ":")) for s in statuses]
    sample_objects = [obj for _, obj in v1_sample]
    fuzz = mutated(statuses[:60] + sample_objects[::10], per_object=25, seed=11)
    payloads = sample + plain + fuzz + list(DECLINED.values()) + TAKEN
    answers = java_rows(spark, payloads)
    assert_same_where_taken(payloads, answers)

    by_line = dict(zip(payloads, answers))
    assert all(by_line[p] is not None for p in plain), "every generated status is a plain usable v1.1 status"
    assert all(by_line[p] is not None for p in TAKEN)
    assert {name: by_line[p] for name, p in DECLINED.items() if by_line[p] is not None} == {}
    # The mutations exercise both answers: many still taken, many declined.
    taken_fuzz = sum(by_line[p] is not None for p in fuzz)
    assert 0.2 * len(fuzz) < taken_fuzz < 0.9 * len(fuzz)
    # The sample's plain v1.1 statuses with a text are taken; its v2, CSV and bad lines are not.
    with_text = [p for p, obj in v1_sample if obj.get("text") or obj.get("full_text")]
    assert len(v1_sample) >= 250 and sum(by_line[p] is not None for p in with_text) >= len(with_text) - 3


def test_a_retweet_is_rebuilt_with_the_original_full_text_and_handle(spark):
    line = TAKEN[1]
    (row,) = java_rows(spark, [line])
    names = [name for name, _ in jvm.CONTENT]
    got = dict(zip(names, row))
    assert (got["text"], got["retweet_of_id"], got["mentions"], got["hashtags"]) == (
        "RT @bob: the long orig", 9, ["bob", "c"], ["a", None])


def test_utf16_bytes_of_a_status_are_declined(spark):
    from pyspark.sql import functions as F

    assert jvm.register(spark)
    utf16 = codecs.encode(status(), "utf-16-le")
    row = spark.createDataFrame([(utf16,)], "b binary").select(F.call_function(jvm.FUNCTION, "b").alias("r")).first()
    assert row.r is None


@pytest.fixture(scope="module")
def lanes(spark, tmp_path_factory):
    """The sample dumps plus a file of mutated statuses, ingested with and without the lane."""
    from crisislake.session import temporary_conf

    raw = tmp_path_factory.mktemp("jvm_lane_raw")
    shutil.copytree(SAMPLE, raw / "tweets")
    statuses = generated_statuses([obj["text"] for _, obj in v1_objects(sample_payloads()) if obj.get("text")], n=120)
    lines = [json.dumps(s) for s in statuses] + mutated(statuses[:40], per_object=10, seed=5)
    lines += list(DECLINED.values()) + TAKEN
    (raw / "tweets" / "mutated.json").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    out = {}
    for lane in ("true", "false"):
        root = tmp_path_factory.mktemp(f"jvm_lane_{lane}") / "lake"
        shutil.copytree(raw, root / "raw")
        config = load_config("local", lake_root=str(root), overrides=["spark.shuffle_partitions=2"], environ={})
        with temporary_conf(spark, {jvm.ENABLED_CONF: lane}):
            counts = tweets_job.ingest(spark, config, f"lane-{lane}")
        out[lane] = (config, counts)
    return out


def _table(spark, path, drop):
    """Rows of a table, sorted, with source paths relative to the lake (the two lakes differ)."""
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(path).drop(*drop)
    df = df.withColumn("source_uri", F.regexp_replace("source_uri", "^.*/lake/raw/", ""))
    return sorted(tuple(row) for row in df.collect())


def test_an_ingest_with_the_lane_writes_what_one_without_it_writes(spark, lanes):
    (with_lane, counts_on), (without, counts_off) = lanes["true"], lanes["false"]
    assert counts_on["records_parsed_in_jvm"] > 300 and counts_off["records_parsed_in_jvm"] == 0
    same = {k: v for k, v in counts_on.items() if k != "records_parsed_in_jvm"}
    assert same == {k: v for k, v in counts_off.items() if k != "records_parsed_in_jvm"}
    assert counts_on["records_read"] == counts_on["new_rows"] + counts_on["duplicates"] + counts_on["quarantined"]
    assert counts_on["quarantined"] > len(DECLINED) // 2
    for table, drop in (("curated", ["ingested_at", "run_id"]), ("quarantine", ["quarantined_at", "run_id"])):
        rows_on = _table(spark, with_lane.table(table, "tweets"), drop)
        assert rows_on == _table(spark, without.table(table, "tweets"), drop)
        assert rows_on


def test_one_batch_gets_one_ingested_at_whichever_parse_took_its_lines(spark, lanes):
    config, counts = lanes["true"]
    stamps = spark.read.format("delta").load(config.table("curated", "tweets")).select("ingested_at").distinct().count()
    assert counts["files_read_by_python"] > 0 and stamps == 1


def test_register_says_false_when_the_lane_is_off_or_its_class_is_missing(spark, monkeypatch, caplog):
    from crisislake.session import temporary_conf

    with temporary_conf(spark, {jvm.ENABLED_CONF: "false"}):
        assert jvm.register(spark) is False
    monkeypatch.setattr(jvm, "CLASS_NAME", "crisislake.tweets.NoSuchParser")
    monkeypatch.setattr(jvm, "_warned", False)
    assert jvm.register(spark) is False and jvm.register(spark) is False
    said = [r.getMessage() for r in caplog.records if "cannot run here" in r.getMessage()]
    assert len(said) == 1 and "NoSuchParser" in said[0]


def test_register_says_false_when_the_class_fails_its_probe_on_the_driver(spark, monkeypatch, caplog):
    monkeypatch.setattr(jvm, "_PROBE", b"null")  # a line the class declines
    monkeypatch.setattr(jvm, "_warned", False)
    assert jvm.register(spark) is False
    assert "declined its probe status" in caplog.text
    monkeypatch.undo()
    assert jvm.register(spark) is True


def test_the_jar_compiles_from_source_the_same_each_time(tmp_path):
    first = jvm.compile_jar(tmp_path / "a" / jvm.JAR_NAME)
    second = jvm.compile_jar(tmp_path / "b" / jvm.JAR_NAME)
    assert first.read_bytes() == second.read_bytes()
    import zipfile

    names = zipfile.ZipFile(first).namelist()
    assert "crisislake/tweets/V1StatusParser.class" in names


def test_without_javac_the_build_fails_with_what_to_install_and_the_cache_says_none(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("CRISISLAKE_JVM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(jvm.JvmLaneError, match="no javac.*openjdk-17-jdk-headless"):
        jvm.compile_jar(tmp_path / jvm.JAR_NAME)
    assert jvm.cached_jar() is None
    assert "Python parse" in caplog.text


def test_a_java_compile_error_is_reported_with_javacs_words(tmp_path):
    broken = tmp_path / "V1StatusParser.java"
    broken.write_text("package crisislake.tweets; public final class V1StatusParser { int x = ; }\n")
    with pytest.raises(jvm.JvmLaneError, match="javac failed.*error"):
        jvm.compile_jar(tmp_path / jvm.JAR_NAME, source=broken)
