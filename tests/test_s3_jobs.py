"""The jobs on ``s3a://`` URIs: raw input on S3, Delta output on S3, through hadoop-aws.

The session's S3A points at the moto server on 127.0.0.1 (see ``tests/conftest.py``). Each module
run gets its own bucket; raw files are uploaded with boto3, the job's ``pipeline_step`` runs on a
config whose lake root is ``s3a://<bucket>/lake``, and the tables are read back from S3.
"""
from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import boto3
import pytest
from crisislake.config import load_config
from crisislake.pipeline import run_as_step
from pyspark.sql import functions as F

ROOT = Path(__file__).resolve().parents[1]
RAW_TWEETS = "lake/raw/tweets/2026/11/27/10"
FLOOD = "Flood waters rising fast in the town centre, families trapped on roofs near the river bridge #flood"
BRIDGE = "Bridge on highway 5 collapsed after the earthquake this morning, rescue teams are on site"


def _v11(tweet_id: int, text: str, created_at: str = "Fri Nov 27 10:15:00 +0000 2026") -> str:
    return json.dumps({
        "id": tweet_id, "id_str": str(tweet_id), "created_at": created_at, "text": text, "lang": "en",
        "user": {"id": 7, "id_str": "7", "screen_name": "reporter"},
        "entities": {"hashtags": [], "urls": [], "user_mentions": []},
    })


@pytest.fixture(scope="module")
def s3(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture(scope="module")
def s3_lake(s3):
    """A fresh bucket holding two raw tweet files: plain JSON lines and gzip."""
    bucket = f"crisislake-s3jobs-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    part0 = "\n".join([_v11(1001, FLOOD), _v11(1002, BRIDGE), '{"id": 1003, "text": ']) + "\n"
    part1 = "\n".join([_v11(1001, FLOOD), _v11(1004, FLOOD + " http://t.co/x1")]) + "\n"
    s3.put_object(Bucket=bucket, Key=f"{RAW_TWEETS}/part-0.json", Body=part0.encode())
    s3.put_object(Bucket=bucket, Key=f"{RAW_TWEETS}/part-1.json.gz", Body=gzip.compress(part1.encode()))
    config = load_config("local", lake_root=f"s3a://{bucket}/lake", overrides=["spark.shuffle_partitions=2"],
                         environ={})
    return bucket, config


@pytest.fixture(scope="module")
def ingested(spark, s3_lake):
    bucket, config = s3_lake
    summary = run_as_step(spark, config, "ingest-tweets", "run-s3-1")
    return bucket, config, summary


def test_ingest_tweets_writes_curated_delta_on_s3(spark, ingested):
    bucket, config, _ = ingested
    actual = spark.read.format("delta").load(f"s3a://{bucket}/lake/curated/tweets")
    rows = sorted((r.tweet_id, r.text, r.source_uri.rsplit("/", 1)[-1]) for r in
                  actual.select("tweet_id", "text", "source_uri").collect())
    assert rows == [
        (1001, FLOOD, rows[0][2]),
        (1002, BRIDGE, "part-0.json"),
        (1004, FLOOD + " http://t.co/x1", "part-1.json.gz"),
    ]
    assert rows[0][2] in ("part-0.json", "part-1.json.gz")
    uris = {r.source_uri for r in actual.select("source_uri").collect()}
    assert all(u.startswith(f"s3a://{bucket}/{RAW_TWEETS}/") for u in uris), uris


def test_ingest_tweets_reconciles_on_s3(ingested):
    _, _, summary = ingested
    assert {k: summary[k] for k in ("files_read", "records_read", "new_rows", "duplicates", "quarantined")} == {
        "files_read": 2, "records_read": 5, "new_rows": 3, "duplicates": 1, "quarantined": 1}


def test_ingest_tweets_quarantines_truncated_line_on_s3(spark, ingested):
    bucket, _, _ = ingested
    rows = spark.read.format("delta").load(f"s3a://{bucket}/lake/quarantine/tweets").collect()
    assert [(r.source_uri, r.source_line, r.raw_payload) for r in rows] == [
        (f"s3a://{bucket}/{RAW_TWEETS}/part-0.json", 3, '{"id": 1003, "text": '),
    ]
    assert rows[0].reason.startswith("malformed JSON")


def test_ingest_tweets_run_record_lands_on_s3(s3, ingested):
    bucket, _, _ = ingested
    record = json.loads(s3.get_object(Bucket=bucket, Key="lake/_runs/run-s3-1.json")["Body"].read())
    step = record["steps"]["ingest-tweets"]
    assert step["status"] == "succeeded"
    assert step["wrote"] == {f"s3a://{bucket}/lake/curated/tweets": 3}


def test_dedup_on_s3_clusters_the_url_variant_with_its_original(spark, ingested):
    bucket, config, _ = ingested
    run_as_step(spark, config, "dedup", "run-s3-3")
    clusters = {r.tweet_id: (r.cluster_id, r.is_canonical) for r in
                spark.read.format("delta").load(f"s3a://{bucket}/lake/enriched/tweet_clusters").collect()}
    assert sorted(clusters) == [1001, 1002, 1004]
    assert clusters[1001][0] == clusters[1004][0] != clusters[1002][0]
    assert (clusters[1001][1], clusters[1004][1], clusters[1002][1]) == (True, False, True)


ACLED_DIR = ROOT / "data/sample/raw/hdx/acled-conflict-data-for-africa-2016/d6f1cc71-7612-56ad-b3ae-038a33152e6e"


@pytest.mark.skipif(not ACLED_DIR.is_dir(), reason="sample ACLED slice not in this checkout")
def test_ingest_hdx_reads_acled_from_s3_into_delta_on_s3(spark, s3):
    bucket = f"crisislake-s3hdx-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    prefix = f"lake/raw/hdx/acled-conflict-data-for-africa-2016/{ACLED_DIR.name}"
    for path in sorted(p for p in ACLED_DIR.rglob("*") if p.is_file()):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(ACLED_DIR).as_posix()}", Body=path.read_bytes())
    config = load_config("local", lake_root=f"s3a://{bucket}/lake", overrides=["spark.shuffle_partitions=2"],
                         environ={})
    run_as_step(spark, config, "ingest-hdx", "run-s3-hdx")
    events = spark.read.format("delta").load(f"s3a://{bucket}/lake/curated/conflict_events")
    # First data row of the file (line 2): 1RTA, 29/12/2015, Algeria, Batna, 0 fatalities.
    first = events.filter(F.col("event_id_cnty") == "1RTA").collect()
    assert [(str(r.event_date), r.country, r.admin1, r.fatalities, r.source_line) for r in first] == [
        ("2015-12-29", "Algeria", "Batna", 0, 2),
    ]
    assert first[0].source_uri == (
        f"s3a://{bucket}/{prefix}/20160530T120000Z/ACLED_All_Africa_20160101_to_20160528.csv"
    )
