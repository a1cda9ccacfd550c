"""Export: lake tables -> model-shaped Parquet + manifest, and the pure transforms behind it."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from crisislake.warehouse import export_job as ej
from crisislake.warehouse import model as m
from crisislake.warehouse import transforms as tr
from crisislake.warehouse.load_job import load_export
from crisislake.warehouse.manifest import validate_export
from pyspark.sql import functions as F

RUN = "20260105T000000Z-cccccccc"
FIXTURE_TABLES = ["dim_disaster_type", "fact_tweet", "fact_incident"]  # dim_date: built in its own test
UTC = timezone.utc


def tweet(tweet_id, created_at, text="flood in town", author_id=42, place_country=None, lat=None, lon=None):
    return (tweet_id, created_at, text, "en", author_id, "handle", None, None, None, [], [], [],
            place_country, None, lat, lon, "file:/raw/tweets/a.json", 1, datetime(2026, 1, 5), "ingest-run")


def empty(spark, schema):
    return spark.createDataFrame([], schema)


def sources(spark, tweets=(), labels=(), review=(), clusters=(), incidents=(), tweet_incidents=(), events=(),
            pcodes=()):
    return {
        "tweets": spark.createDataFrame(list(tweets), ej.TWEETS_SCHEMA),
        "tweet_labels": spark.createDataFrame(list(labels), ej.LABELS_SCHEMA),
        "review_queue": spark.createDataFrame(list(review), ej.REVIEW_SCHEMA),
        "tweet_clusters": spark.createDataFrame(list(clusters), ej.CLUSTERS_SCHEMA),
        "incidents": spark.createDataFrame(list(incidents), ej.INCIDENTS_SCHEMA),
        "tweet_incidents": spark.createDataFrame(list(tweet_incidents), ej.TWEET_INCIDENTS_SCHEMA),
        "incident_tweets": spark.createDataFrame([], ej.INCIDENT_TWEETS_SCHEMA),
        "incident_corroboration": spark.createDataFrame([], ej.INCIDENT_CORROBORATION_SCHEMA),
        "conflict_events": spark.createDataFrame(list(events), ej.CONFLICT_EVENTS_SCHEMA),
        "admin_pcodes": spark.createDataFrame(list(pcodes), ej.ADMIN_PCODES_SCHEMA),
    }


def test_hmac_matches_rfc4231_test_case_2(spark):
    source_df = spark.createDataFrame([("what do ya want for nothing?",)], "m string")

    actual = source_df.select(tr.hmac_sha256_hex(F.col("m"), b"Jefe").alias("h")).first()["h"]

    assert actual == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_hmac_with_a_key_longer_than_the_block_matches_rfc4231_test_case_6(spark):
    source_df = spark.createDataFrame([("Test Using Larger Than Block-Size Key - Hash Key First",)], "m string")

    actual = source_df.select(tr.hmac_sha256_hex(F.col("m"), b"\xaa" * 131).alias("h")).first()["h"]

    assert actual == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_truncate_utf8_cuts_to_the_byte_limit_and_keeps_short_strings(spark):
    source_df = spark.createDataFrame([("abc",), ("ééééé",)], "s string")  # "é" is 2 bytes

    actual = [r["t"] for r in source_df.select(tr.truncate_utf8(F.col("s"), 5).alias("t")).collect()]

    assert actual == ["abc", "éé"]


def test_fact_tweet_takes_latest_label_per_task_and_leaves_missing_enrichment_null(spark):
    t = datetime(2026, 1, 5, 12, 0)
    src = sources(
        spark,
        tweets=[tweet(1, t), tweet(2, t)],
        labels=[
            (1, "relevance", "0", 0.61, "v1", "r", datetime(2026, 1, 5, 1)),
            (1, "relevance", "1", 0.912345678, "v2", "r", datetime(2026, 1, 6, 1)),
            (1, "disaster_type", "flood", 0.5, "v2", "r", datetime(2026, 1, 6, 1)),
            (1, "information_type", "caution_and_advice", 0.8125, "v2", "r", datetime(2026, 1, 6, 1)),
        ],
        review=[(1, "disaster_type", "flood", 0.5, 0.7, "below threshold", "v2", "r")],
    )

    actual_df = ej.build_tables(spark, src, None, RUN)["fact_tweet"].select(
        "tweet_id", "relevance", "relevance_confidence", "disaster_type", "police_force", "needs_review",
        "cluster_id", "incident_id", "author_pseudonym", "date_key", "information_type",
        "information_type_confidence")

    expected_df = spark.createDataFrame(
        [(1, "1", Decimal("0.91235"), "flood", None, True, None, None, None, 20260105, "caution_and_advice",
          Decimal("0.81250")),
         (2, None, None, None, None, False, None, None, None, 20260105, None, None)],
        "tweet_id bigint, relevance string, relevance_confidence decimal(6,5), disaster_type string, "
        "police_force string, needs_review boolean, cluster_id bigint, incident_id string, "
        "author_pseudonym string, date_key int, information_type string, information_type_confidence decimal(6,5)",
    )
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_fact_tweet_pseudonymises_the_author_id_with_the_key(spark):
    src = sources(spark, tweets=[tweet(1, datetime(2026, 1, 5), author_id=12345)])

    actual = ej.build_tables(spark, src, b"Jefe", RUN)["fact_tweet"].first()["author_pseudonym"]

    # python -c "import hmac,hashlib;print(hmac.new(b'Jefe',b'12345',hashlib.sha256).hexdigest())"
    assert actual == "c6ad4e75e08b7c5d59e543553412e66d08984ee6c1a67ccc6b57b1087d27b04a"


HANDLE_TEXTS = ["RT @Alice_1: police at twitter.com/Bob now", "mail a@b.org and @user_0badcafe", "no handle", None,
                "RT @crisis_user_87968: a placeholder longer than a Twitter handle"]


def test_handles_in_exported_texts_get_the_pseudonyms_the_api_and_the_report_show(spark):
    """fact_tweet.text and fact_incident.representative_text leave the lake pseudonymised, with the
    same function (and so the same pseudonym per handle) as every other exit."""
    from crisislake.pseudonym import pseudonymise_text

    t0 = datetime(2026, 1, 5)
    incidents = [(f"inc-{i}", t0, t0, 1, text, None, [], RUN, *([None] * 10), False, None, [], [])
                 for i, text in enumerate(HANDLE_TEXTS)]
    src = sources(spark, tweets=[tweet(i + 1, t0, text=text) for i, text in enumerate(HANDLE_TEXTS)],
                  incidents=incidents)

    tables = ej.build_tables(spark, src, b"Jefe", RUN)

    texts = [r["text"] for r in tables["fact_tweet"].orderBy("tweet_id").collect()]
    reps = [r["representative_text"] for r in tables["fact_incident"].orderBy("incident_id").collect()]
    expected = [pseudonymise_text(t, b"Jefe") for t in HANDLE_TEXTS]
    assert texts == reps == expected
    assert expected[0] == f"RT @{pseudonymise_text('@alice_1', b'Jefe')[1:]}: police at twitter.com/" \
                          f"{pseudonymise_text('@bob', b'Jefe')[1:]} now"
    assert expected[1] == "mail a@b.org and @user_0badcafe"
    assert expected[4] == f"RT {pseudonymise_text('@crisis_user_87968', b'Jefe')}: a placeholder longer than a " \
                          "Twitter handle" and "crisis_user" not in expected[4]


def test_dim_date_covers_every_day_between_the_facts_dates(spark):
    keys = spark.createDataFrame([(20260227,), (20260302,), (20260228,)], "date_key int")

    actual_df = tr.build_dim_date(keys).select("date_key", "full_date", "day_of_week", "is_weekend")

    expected_df = spark.createDataFrame(
        [(20260227, date(2026, 2, 27), 5, False), (20260228, date(2026, 2, 28), 6, True),
         (20260301, date(2026, 3, 1), 7, True), (20260302, date(2026, 3, 2), 1, False)],
        "date_key int, full_date date, day_of_week smallint, is_weekend boolean")
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def event_row(event_id, country, admin1):
    event = {c: None for c in ej.CONFLICT_EVENTS_SCHEMA.fieldNames()}
    event.update(event_id_cnty=event_id, country=country, admin1=admin1, event_date=date(2026, 1, 1),
                 source_uri="s", is_deleted=False)
    return tuple(event[c] for c in ej.CONFLICT_EVENTS_SCHEMA.fieldNames())


def test_dim_location_finds_iso3_by_admin1_votes_and_pcode_by_iso3_and_name(spark):
    src = sources(
        spark,
        tweets=[tweet(1, datetime(2026, 1, 5), place_country="Nigeria")],
        events=[event_row("NGA1", "Nigeria", "Lagos"), event_row("NGA2", "Nigeria", "Kano"),
                event_row("NGA3", "Nigeria", "Central"),
                event_row("GHA1", "Ghana", "Central"), event_row("GHA2", "Ghana", "Ashanti")],
        pcodes=[("NG025", "NGA", 1, "Lagos", "NG"), ("NG020", "NGA", 1, "Kano", "NG"),
                ("GH02", "GHA", 1, "Central", "GH"), ("GH06", "GHA", 1, "Ashanti", "GH"),
                ("KE01", "KEN", 1, "Central", "KE")],  # "Central" alone is ambiguous
    )

    actual_df = ej.build_tables(spark, src, None, RUN)["dim_location"].select(
        "location_key", "country", "iso3", "admin1", "admin1_pcode")

    expected_df = spark.createDataFrame(
        [("nigeria|lagos", "Nigeria", "NGA", "Lagos", "NG025"),
         ("nigeria|kano", "Nigeria", "NGA", "Kano", "NG020"),
         ("nigeria|central", "Nigeria", "NGA", "Central", None),
         ("ghana|central", "Ghana", "GHA", "Central", "GH02"),
         ("ghana|ashanti", "Ghana", "GHA", "Ashanti", "GH06"),
         ("nigeria|", "Nigeria", "NGA", None, None)],
        "location_key string, country string, iso3 string, admin1 string, admin1_pcode string")
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_rows_breaking_not_null_are_split_off_with_a_reason(spark):
    source_df = spark.createDataFrame([("a", "x"), (None, "y")], "event_type string, sub_event_type string")
    table = m.Table("t", (m.Column("event_type", m.VARCHAR(8), False), m.Column("sub_event_type", m.VARCHAR(8))),
                    key=("event_type",), diststyle="ALL", sortkey=("event_type",))

    good, bad = tr.split_not_null(source_df, table)

    assert [r["sub_event_type"] for r in good.collect()] == ["x"]
    assert [(r["sub_event_type"], r["reason"]) for r in bad.collect()] == [
        ("y", "t: NULL in NOT NULL column(s) event_type")]


def test_review_queue_keeps_its_own_reason_column_through_the_not_null_split(spark):
    source_df = spark.createDataFrame([(7, "relevance", "1", 0.61, 0.8, "below 0.800", "v1", "r0")], ej.REVIEW_SCHEMA)

    good, bad = tr.split_not_null(tr.build_review_queue(source_df, "run-1"), m.REVIEW_QUEUE)

    assert good.columns == m.REVIEW_QUEUE.column_names
    assert [(r["tweet_id"], r["reason"], r["run_id"]) for r in good.collect()] == [(7, "below 0.800", "run-1")]
    assert bad.count() == 0


def test_file_count_is_a_multiple_of_slice_count():
    assert [ej.file_count(rows, 100, 4, 1) for rows in (0, 10, 50_000, 100_000)] == [4, 4, 8, 12]


@pytest.fixture(scope="module")
def exported_lake(spark, tmp_path_factory):
    """A lake with three curated tweets (one without a timestamp) and one incident, exported once
    as RUN for the whole module (an export is the slow part of these tests)."""
    from crisislake.config import load_config

    lake = tmp_path_factory.mktemp("export") / "lake"
    config = load_config("local", lake_root=str(lake), overrides=["spark.shuffle_partitions=2"], environ={})
    tweets = spark.createDataFrame([
        tweet(10, datetime(2026, 1, 5, 8, 30, 0, 123456), lat=6.5244, lon=3.3792, place_country="Nigeria"),
        tweet(11, datetime(2026, 1, 6, 9, 0), text="ok"),
        tweet(12, None, text="no timestamp"),  # breaks fact_tweet.created_at NOT NULL
    ], ej.TWEETS_SCHEMA)
    tweets.write.format("delta").save(config.table("curated", "tweets"))
    spark.createDataFrame([("inc-1", datetime(2026, 1, 5), datetime(2026, 1, 6), 2, "flood", "Lagos", ["flood", "aid"], "r")
                           + (None,) * 14],
                          ej.INCIDENTS_SCHEMA).write.format("delta").save(config.table("enriched", "incidents"))
    summary = ej.export_tables(spark, config, RUN, tables=FIXTURE_TABLES, slice_count=2,
                               environ={ej.PSEUDONYM_KEY_ENV: "k"})
    return config, summary


def test_export_writes_slice_count_multiple_files_and_a_manifest_with_their_sizes(exported_lake):
    config, summary = exported_lake
    out = Path(config.zone("exports")) / "fact_tweet" / RUN

    manifest = json.loads((out / "manifest.json").read_text())

    files = sorted(out.glob("part-*.parquet"))
    assert len(files) == 2
    assert sorted(e["url"] for e in manifest["entries"]) == [f"file://{f.resolve()}" for f in files]
    assert {e["url"]: e["meta"]["content_length"] for e in manifest["entries"]} == {
        f"file://{f.resolve()}": f.stat().st_size for f in files}
    assert all(e["mandatory"] is True for e in manifest["entries"])
    assert summary["tables"]["fact_tweet"]["rows"] == 2


def test_export_parquet_matches_the_ddl_column_order_and_types(exported_lake):
    config, _ = exported_lake
    path = sorted((Path(config.zone("exports")) / "fact_tweet" / RUN).glob("part-*.parquet"))[0]

    schema = pq.read_schema(path)

    assert schema.names == m.FACT_TWEET.column_names
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("lat").type == pa.decimal128(9, 6)
    assert pq.ParquetFile(path).schema.column(1).physical_type == "INT64"  # not INT96


def test_export_quarantines_rows_that_break_not_null(spark, exported_lake):
    config, summary = exported_lake

    rows = spark.read.format("delta").load(config.table("quarantine", "warehouse_fact_tweet")).collect()

    assert summary["tables"]["fact_tweet"]["quarantined"] == 1
    assert [(r["source_line"], r["reason"]) for r in rows] == [(1, "fact_tweet: NULL in NOT NULL column(s) created_at,date_key")]
    assert json.loads(rows[0]["raw_payload"])["tweet_id"] == 12


def test_every_exported_table_passes_load_validation(exported_lake):
    config, _ = exported_lake
    exports = Path(config.zone("exports")).resolve()

    rows = {t: validate_export(m.table(t), f"file://{exports}/{t}/{RUN}/manifest.json").rows for t in FIXTURE_TABLES}

    assert rows == {"dim_disaster_type": 11, "fact_tweet": 2, "fact_incident": 1}


def test_exported_run_loads_into_postgres_with_exact_values(exported_lake, pg_url):
    import psycopg

    config, _ = exported_lake
    schema = f"t_{uuid.uuid4().hex[:10]}"
    config.warehouse.postgres_url, config.warehouse.schema = pg_url, schema
    try:
        load_export(config, RUN, tables=FIXTURE_TABLES, echo=lambda _: None)
        with psycopg.connect(pg_url) as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            row = conn.execute(f"SELECT tweet_id, created_at, lat, lon, location_key, needs_review, "
                               f"length(author_pseudonym) FROM {schema}.fact_tweet WHERE tweet_id = 10").fetchone()
            labels = conn.execute(f"SELECT labels FROM {schema}.fact_incident").fetchone()
            audited = conn.execute(f"SELECT COUNT(*) FROM {schema}.load_audit WHERE run_id = %s", (RUN,)).fetchone()
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    assert row == (10, datetime(2026, 1, 5, 8, 30, 0, 123456, tzinfo=UTC), Decimal("6.524400"),
                   Decimal("3.379200"), "nigeria|", False, 64)
    assert labels == ("aid,flood",)
    assert audited == (3,)


def test_missing_lake_table_reads_as_empty_with_contract_schema(spark, config):
    df = ej.read_lake_table(spark, config.table("enriched", "tweet_clusters"), ej.CLUSTERS_SCHEMA)

    assert (df.count(), df.schema) == (0, ej.CLUSTERS_SCHEMA)


def test_lake_table_missing_a_contract_column_gets_it_as_null(spark, config):
    path = config.table("enriched", "tweet_incidents")
    spark.createDataFrame([(1, "inc")], "tweet_id bigint, incident_id string").write.format("delta").save(path)

    df = ej.read_lake_table(spark, path, ej.TWEET_INCIDENTS_SCHEMA)

    assert [tuple(r) for r in df.select("tweet_id", "incident_id", "run_id").collect()] == [(1, "inc", None)]



def test_export_to_s3_lists_s3_urls_that_validate_and_render_a_redshift_copy(spark, s3_endpoint):
    import boto3
    from crisislake.config import load_config
    from crisislake.warehouse.loadsql import render_load

    bucket = f"wh-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    config = load_config("local", lake_root=f"s3a://{bucket}/lake", environ={},
                         overrides=[f"spark.s3_endpoint={s3_endpoint}"])

    ej.export_tables(spark, config, RUN, tables=["dim_disaster_type"], slice_count=2, environ={})

    manifest_url = f"s3://{bucket}/lake/exports/dim_disaster_type/{RUN}/manifest.json"
    info = validate_export(m.DIM_DISASTER_TYPE, manifest_url)
    assert (info.rows, len(info.urls)) == (11, 2)
    assert all(u.startswith(f"s3://{bucket}/lake/exports/dim_disaster_type/{RUN}/part-") for u in info.urls)
    plan = render_load(m.DIM_DISASTER_TYPE, "redshift", "crisislake", RUN, manifest_url, 2, info.bytes, 11,
                       "2026-01-05T00:00:00+00:00", "arn:aws:iam::123456789012:role/copy")
    assert plan.sql("copy") == (f"COPY stage_dim_disaster_type FROM '{manifest_url}' "
                                "IAM_ROLE 'arn:aws:iam::123456789012:role/copy' FORMAT AS PARQUET MANIFEST;")
