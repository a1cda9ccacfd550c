"""ingest-tweets end to end on Delta: the sample dumps, re-runs, v1.1+v2 duplicates, S3, streaming."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from crisislake.config import load_config
from crisislake.tweets import job

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "raw" / "tweets"


def v1_line(tweet_id: int, text: str) -> str:
    return json.dumps({"created_at": "Mon Apr 15 18:50:12 +0000 2013", "id_str": str(tweet_id), "text": text,
                       "user": {"id_str": "11", "screen_name": "alice"}})


def count_rows(spark, path: str) -> int:
    return spark.read.format("delta").load(path).count()


@pytest.fixture(scope="module")
def sample_lake(spark, tmp_path_factory):
    """The committed sample dumps ingested once into a fresh lake (run ``first``)."""
    root = tmp_path_factory.mktemp("tweets_sample") / "lake"
    shutil.copytree(SAMPLE, root / "raw" / "tweets")
    config = load_config("local", lake_root=str(root), overrides=["spark.shuffle_partitions=2"], environ={})
    counts = job.ingest(spark, config, "first")
    return config, counts


def test_sample_ingest_reconciles_read_with_new_duplicates_and_quarantined(sample_lake):
    _, counts = sample_lake
    # 150 v1.1 + 100 gzip + 100 Firehose + 80 v2 + 150 CSV + 4 malformed lines, and the truncated
    # gzip file: 30 lines of member 1, 6 complete lines of member 2 and its cut last line = 37.
    # The 20 tweets of the first v2 page are also in v1-statuses.json. The US 2020 slice: 105
    # police statuses, 2 of them without text.
    assert {k: counts[k] for k in ("files_read", "records_read", "new_rows", "duplicates", "quarantined")} == {
        "files_read": 8, "records_read": 726, "new_rows": 699, "duplicates": 20, "quarantined": 7}
    assert counts["records_read"] == counts["new_rows"] + counts["duplicates"] + counts["quarantined"]


def test_sample_quarantine_holds_each_bad_record_with_its_reason(spark, sample_lake):
    config, _ = sample_lake
    rows = spark.read.format("delta").load(config.table("quarantine", "tweets")).collect()
    assert sorted((r.source_uri.rsplit("/", 1)[-1], r.source_line, r.reason) for r in rows) == [
        ("firehose-truncated.json.gz", 37, "truncated gzip member 2 (unexpected end of file); line incomplete"),
        ("malformed.json", 1, "malformed JSON (or a field of an unexpected type)"),
        ("malformed.json", 2, "missing tweet id"),
        ("malformed.json", 3, "missing text"),
        ("malformed.json", 4, "unparseable created_at"),
        ("pb2020-police-statuses.json", 34, "missing text"),
        ("pb2020-police-statuses.json", 35, "missing text"),
    ]
    assert all(r.raw_payload and r.run_id == "first" for r in rows)


def test_first_load_creates_curated_tweets_in_one_commit_with_the_contract_schema(spark, sample_lake):
    from crisislake.tweets.io import TWEETS_TABLE_PROPERTIES
    from crisislake.tweets.schemas import TWEETS_SCHEMA

    config, counts = sample_lake
    path = config.table("curated", "tweets")
    assert spark.read.format("delta").load(path).schema == TWEETS_SCHEMA
    first = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").filter("version = 0").first()
    assert (first.operation, int(first.operationMetrics["numOutputRows"])) == ("WRITE", counts["new_rows"])
    properties = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first().properties
    assert {k: properties.get(k) for k in TWEETS_TABLE_PROPERTIES} == TWEETS_TABLE_PROPERTIES


def test_second_run_over_the_same_files_adds_nothing(spark, sample_lake):
    config, _ = sample_lake
    counts = job.ingest(spark, config, "second")
    assert (counts["records_read"], counts["new_rows"], counts["duplicates"], counts["quarantined"],
            counts["quarantine_rows_added"], counts["replaced_by_richer"]) == (726, 0, 719, 7, 0, 0)
    assert count_rows(spark, config.table("curated", "tweets")) == 699
    assert count_rows(spark, config.table("quarantine", "tweets")) == 7


def test_run_record_says_what_was_read_written_and_quarantined(sample_lake):
    config, _ = sample_lake
    record = json.loads(Path(config.zone("_runs"), "first.json").read_text())["steps"]["ingest-tweets"]
    assert record["status"] == "succeeded"
    assert record["read"]["records"] == 726 and record["read"]["files"] == 8
    assert list(record["wrote"].values()) == [699]
    assert list(record["quarantined"].values()) == [7]


def test_same_tweet_in_v1_and_v2_form_is_one_row_with_the_longer_text(spark, config):
    raw = Path(config.zone("raw"), "tweets")
    raw.mkdir(parents=True)
    (raw / "v1.json").write_text(v1_line(1266538354939756544, "cut short\u2026") + "\n")
    v2 = {"data": [{"id": "1266538354939756544", "text": "cut short\u2026", "created_at": "2013-04-15T18:50:12Z",
                    "author_id": "11", "note_tweet": {"text": "cut short no more: the full long post"}}],
          "includes": {"users": [{"id": "11", "username": "alice"}]}}
    (raw / "v2.json").write_text(json.dumps(v2) + "\n")
    counts = job.ingest(spark, config, "r1")
    rows = spark.read.format("delta").load(config.table("curated", "tweets")).collect()
    assert [(r.tweet_id, r.text, r.source_uri.rsplit("/", 1)[-1]) for r in rows] == [
        (1266538354939756544, "cut short no more: the full long post", "v2.json")]
    assert (counts["new_rows"], counts["duplicates"]) == (1, 1)


def test_a_later_batch_without_repeats_replaces_a_tweet_only_by_a_richer_version(spark, config):
    # Batches that repeat no tweet skip the in-batch pick: the MERGE alone must still decide.
    raw = Path(config.zone("raw"), "tweets")
    (raw / "1").mkdir(parents=True)
    (raw / "1" / "short.json").write_text(
        v1_line(100000000000000301, "short\u2026") + "\n" + v1_line(100000000000000302, "the full text here") + "\n")
    first = job.ingest(spark, config, "r1", raw=str(raw / "1"))
    (raw / "2").mkdir()
    (raw / "2" / "long.json").write_text(
        v1_line(100000000000000301, "short but now the full text") + "\n" + v1_line(100000000000000302, "short") + "\n")
    second = job.ingest(spark, config, "r2", raw=str(raw / "2"))
    rows = spark.read.format("delta").load(config.table("curated", "tweets")).collect()
    assert sorted((r.tweet_id, r.text, r.run_id) for r in rows) == [
        (100000000000000301, "short but now the full text", "r2"),
        (100000000000000302, "the full text here", "r1"),
    ]
    assert (first["new_rows"], first["duplicates_in_input"]) == (2, 0)
    assert (second["new_rows"], second["duplicates_in_input"], second["already_present"],
            second["replaced_by_richer"]) == (0, 0, 2, 1)


def test_ingest_reads_raw_tweets_from_an_s3_prefix(spark, config, s3_endpoint):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="tweets-raw-test")
    body = "\n".join([v1_line(100000000000000101, "from s3 one"), v1_line(100000000000000102, "from s3 two")])
    s3.put_object(Bucket="tweets-raw-test", Key="raw/tweets/2013/04/15/18/a.json", Body=body.encode())
    counts = job.ingest(spark, config, "s3run", raw="s3a://tweets-raw-test/raw/tweets")
    rows = spark.read.format("delta").load(config.table("curated", "tweets")).collect()
    assert sorted((r.tweet_id, r.source_uri) for r in rows) == [
        (100000000000000101, "s3a://tweets-raw-test/raw/tweets/2013/04/15/18/a.json"),
        (100000000000000102, "s3a://tweets-raw-test/raw/tweets/2013/04/15/18/a.json"),
    ]
    assert counts["records_read"] == 2


def test_stream_restart_after_a_crash_neither_loses_nor_duplicates_tweets(spark, config):
    raw = Path(config.zone("raw"), "tweets", "2013", "04", "15")
    (raw / "18").mkdir(parents=True)
    (raw / "18" / "a.json").write_text("\n".join(v1_line(100000000000000200 + i, f"a{i}") for i in range(3)) + "\n")
    job.start_stream(spark, config, "stream-1").awaitTermination()

    # Second batch arrives (one tweet repeats the first batch); then the process "crashes"
    # after the Delta commit but before the checkpoint commit: drop the last commit marker.
    (raw / "19").mkdir()
    (raw / "19" / "b.json").write_text(
        "\n".join(v1_line(100000000000000200 + i, f"b{i}") for i in range(2, 5)) + "\n")
    job.start_stream(spark, config, "stream-2").awaitTermination()
    commits = Path(job.default_checkpoint(config), "commits")
    os.remove(commits / "1")
    os.remove(commits / ".1.crc")  # the local checksum file Hadoop keeps next to it

    job.start_stream(spark, config, "stream-3").awaitTermination()  # restart replays batch 1
    rows = spark.read.format("delta").load(config.table("curated", "tweets")).collect()
    assert sorted(r.tweet_id for r in rows) == [100000000000000200 + i for i in range(5)]
    runs = json.loads(Path(config.zone("_runs"), "stream-3.json").read_text())["steps"]
    assert runs["ingest-tweets:batch-1"]["counts"]["new_rows"] == 0


def test_jvm_reader_numbers_lines_exactly_when_a_file_is_read_in_several_splits(spark, tmp_path):
    from crisislake.tweets import io

    path = tmp_path / "big.json"
    lines = [v1_line(100000000000000000 + i, f"tweet number {i}") for i in range(3000)]
    lines[1234] = ""  # a blank line keeps its number
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(64 * 1024))  # ~4 splits of this file
    listed = io.list_raw_files(str(tmp_path))  # sizes from the listing, as ingest passes them
    assert list(listed.values()) == [path.stat().st_size]
    try:
        with io.one_file_per_partition(spark):
            df = io.read_json_lines(spark, [str(path)])
            assert df.rdd.getNumPartitions() >= 3
            got = {(r.source_line, r.payload) for r in df.collect()}
            got_listed = {(r.source_line, r.payload) for r in io.read_json_lines(spark, list(listed), listed).collect()}
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert got == got_listed == {(i + 1, line) for i, line in enumerate(lines)}


def test_only_damaged_gzip_files_are_routed_to_the_python_reader(spark, tmp_path):
    import gzip

    from crisislake.tweets import io

    good, cut, fake = tmp_path / "good.json.gz", tmp_path / "cut.json.gz", tmp_path / "fake.json.gz"
    good.write_bytes(gzip.compress(b'{"id": 1}\n'))
    cut.write_bytes(gzip.compress(b'{"id": 1}\n' * 50)[:-10])
    fake.write_bytes(b'{"id": 1}\n')  # named .gz, not gzip: Hadoop's codec would fail on it
    damaged = io.damaged_gzip_files(spark, [str(good), str(cut), str(fake), str(tmp_path / "plain.json")])
    assert sorted(damaged) == [str(cut), str(fake)]
    assert damaged[str(cut)] == "truncated gzip member 1 (unexpected end of file)"


def test_a_plain_file_with_invalid_utf8_is_read_whole_and_reconciles(spark, config):
    raw = Path(config.zone("raw"), "tweets")
    raw.mkdir(parents=True)
    good = v1_line(100000000000000071, "caf\u00e9 ok").encode()
    lines = [good, good.replace(b"71", b"72").replace(b"ok", b"\xff\xfe ok"), b'{"id_str": "100000000000000073", "text": "\xff']
    (raw / "damaged.json").write_bytes(b"\n".join(lines) + b"\n")
    counts = job.ingest(spark, config, "r1")
    assert (counts["records_read"], counts["new_rows"], counts["quarantined"]) == (3, 2, 1)
    rows = spark.read.format("delta").load(config.table("curated", "tweets")).orderBy("tweet_id").collect()
    assert [(r.tweet_id, r.text) for r in rows] == [(100000000000000071, "caf\u00e9 ok"), (100000000000000072, "caf\u00e9 \ufffd\ufffd ok")]
    bad = spark.read.format("delta").load(config.table("quarantine", "tweets")).collect()
    assert [(b.source_line, b.reason) for b in bad] == [(3, "malformed JSON (or a field of an unexpected type)")]


def test_tweets_dated_before_1900_are_stored_as_dated_and_do_not_fail_the_run(spark, config):
    raw = Path(config.zone("raw"), "tweets")
    raw.mkdir(parents=True)
    lines = [json.dumps({"created_at": date, "id_str": str(100000000000000081 + i), "text": "old"})
             for i, date in enumerate(["0042", "1899-12-31T23:59:59Z"])]
    (raw / "ancient.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = job.ingest(spark, config, "r1")
    assert (counts["records_read"], counts["new_rows"], counts["quarantined"]) == (2, 2, 0)
    rows = spark.read.format("delta").load(config.table("curated", "tweets")).orderBy("tweet_id").collect()
    assert [r.created_at.isoformat() for r in rows] == ["0042-01-01T00:00:00", "1899-12-31T23:59:59"]


def test_two_first_loads_at_once_leave_every_tweet_once(spark, config):
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    from crisislake.tweets import io
    from crisislake.tweets.schemas import TWEETS_SCHEMA

    def batch(ids, run_id):
        blank = [None] * (len(TWEETS_SCHEMA.fields) - 4)  # between text and run_id
        rows = [(100000000000000000 + i, dt.datetime(2013, 4, 15), f"tweet {i}", *blank, run_id) for i in ids]
        return spark.createDataFrame(rows, TWEETS_SCHEMA)

    path = config.table("curated", "tweets")
    loads = [batch(range(0, 60), "a"), batch(range(40, 100), "b")]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda df: io.write_tweets(spark, df, path), loads))
    table = spark.read.format("delta").load(path)
    assert table.count() == table.select("tweet_id").distinct().count() == 100
    # whichever load created the table inserted its 60; the other MERGEd its 40 new ones
    assert sorted(r["inserted"] for r in results) == [40, 60]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").collect()
    assert [h.operation for h in history] == ["WRITE", "MERGE"]
