"""Exactly-once loads into the real local PostgreSQL, through the manifest path.

Exports are written here with pyarrow in the model's exact layout (what the Spark export writes;
that side is covered by test_warehouse_export.py), so these tests need no Spark session.
Each test gets its own PostgreSQL schema, dropped afterwards.
"""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from crisislake.config import load_config
from crisislake.warehouse import model as m
from crisislake.warehouse.backends import PostgresBackend, SchemaDriftError
from crisislake.warehouse.load_job import load_export
from crisislake.warehouse.manifest import ExportValidationError, build_manifest

psycopg = pytest.importorskip("psycopg")

RUN_1 = "20260101T000000Z-aaaaaaaa"
RUN_2 = "20260102T000000Z-bbbbbbbb"
UTC = timezone.utc

INCIDENT_ARROW = pa.schema([
    ("incident_id", pa.string()), ("first_seen", pa.timestamp("us", tz="UTC")),
    ("last_seen", pa.timestamp("us", tz="UTC")), ("date_key", pa.int32()), ("n_reports", pa.int64()),
    ("representative_text", pa.string()), ("place", pa.string()),
    ("latitude", pa.decimal128(9, 6)), ("longitude", pa.decimal128(9, 6)), ("country_iso3", pa.string()),
    ("admin1_name", pa.string()), ("admin1_pcode", pa.string()), ("admin2_name", pa.string()),
    ("admin2_pcode", pa.string()), ("place_confidence", pa.decimal128(4, 3)), ("incident_type", pa.string()),
    ("force_rank", pa.int16()), ("labels", pa.string()), ("corroborated", pa.bool_()),
    ("corroboration_score", pa.decimal128(4, 3)), ("acled_event_ids", pa.string()),
    ("reported_incident_ids", pa.string()), ("run_id", pa.string()),
])
UNSET_INCIDENT_COLUMNS = ("latitude", "longitude", "country_iso3", "admin1_name", "admin1_pcode", "admin2_name",
                          "admin2_pcode", "place_confidence", "incident_type", "force_rank", "corroboration_score",
                          "acled_event_ids", "reported_incident_ids")


def incident_rows(run_id: str, n_reports_a: int = 3):
    t0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    t1 = datetime(2026, 1, 1, 12, 30, 15, 250000, tzinfo=UTC)
    return {
        "incident_id": ["inc-a", "inc-b"],
        "first_seen": [t0, t0],
        "last_seen": [t1, t0],
        "date_key": [20260101, 20260101],
        "n_reports": [n_reports_a, 1],
        "representative_text": ['Flood in "Lagos", roads closed', ""],
        "place": ["Lagos", None],
        **{c: [None, None] for c in ("latitude", "longitude", "country_iso3", "admin1_name", "admin1_pcode",
                                     "admin2_name", "admin2_pcode", "place_confidence", "incident_type",
                                     "force_rank", "corroboration_score", "acled_event_ids",
                                     "reported_incident_ids")},
        "labels": ["flood", "earthquake,other"],
        "corroborated": [False, False],
        "run_id": [run_id, run_id],
        **{c: [None, None] for c in UNSET_INCIDENT_COLUMNS},
    }


def write_export(lake: str, table: str, run_id: str, tables, schema=None, files: int = 2) -> str:
    """Write ``tables`` (column dict) as ``files`` Parquet files + manifest, like the export does."""
    out = Path(lake) / "exports" / table / run_id
    out.mkdir(parents=True, exist_ok=True)
    data = pa.table(tables, schema=schema)
    entries = []
    per = max(1, -(-data.num_rows // files))
    for i in range(files):
        part = data.slice(i * per, per)
        path = out / f"part-{i:05d}.parquet"
        pq.write_table(part, path)
        entries.append((f"file://{path}", path.stat().st_size))
    (out / "manifest.json").write_text(json.dumps(build_manifest(entries)))
    return str(out)


@pytest.fixture()
def wh(pg_url, lake):
    """A config with its own PostgreSQL schema (dropped after the test)."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    config = load_config("local", lake_root=lake, environ={}, overrides=[
        f"warehouse.postgres_url={pg_url}", f"warehouse.schema={schema}"])
    yield config
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def query(config, sql: str):
    with psycopg.connect(config.warehouse.postgres_url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return conn.execute(sql.format(s=config.warehouse.schema)).fetchall()


def load_incidents(config, run_id, **kwargs):
    return load_export(config, run_id, tables=["fact_incident"], echo=lambda _: None, **kwargs)


def test_load_writes_rows_with_exact_values_and_one_audit_row(wh, lake):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)

    load_incidents(wh, RUN_1)

    rows = query(wh, "SELECT incident_id, first_seen, last_seen, n_reports, representative_text, place, labels "
                     "FROM {s}.fact_incident ORDER BY incident_id")
    assert rows == [
        ("inc-a", datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 1, 12, 30, 15, 250000, tzinfo=UTC),
         3, 'Flood in "Lagos", roads closed', "Lagos", "flood"),
        ("inc-b", datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
         1, "", None, "earthquake,other"),
    ]
    audit = query(wh, "SELECT run_id, table_name, rows_loaded, files, backend FROM {s}.load_audit")
    assert audit == [(RUN_1, "fact_incident", 2, 2, "postgres")]


def test_second_load_of_same_run_is_a_no_op(wh, lake):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)
    load_incidents(wh, RUN_1)

    second = load_incidents(wh, RUN_1)

    assert second["tables"]["fact_incident"] == {"skipped": True, "reason": "already in load_audit"}
    assert query(wh, "SELECT COUNT(*) FROM {s}.fact_incident") == [(2,)]
    assert query(wh, "SELECT COUNT(*) FROM {s}.load_audit") == [(1,)]


def test_in_database_guard_skips_a_run_already_audited_even_without_the_precheck(wh, lake):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)
    load_incidents(wh, RUN_1)
    backend = PostgresBackend(wh.warehouse.postgres_url, wh.warehouse.schema)
    backend.loaded_tables = lambda run_id: set()  # defeat the client-side pre-check

    load_incidents(wh, RUN_1, backend=backend)

    assert query(wh, "SELECT COUNT(*) FROM {s}.fact_incident") == [(2,)]
    assert query(wh, "SELECT COUNT(*) FROM {s}.load_audit") == [(1,)]


def test_revised_run_updates_rows_instead_of_duplicating(wh, lake):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1, n_reports_a=3), INCIDENT_ARROW)
    write_export(lake, "fact_incident", RUN_2, incident_rows(RUN_2, n_reports_a=7), INCIDENT_ARROW)
    load_incidents(wh, RUN_1)

    result = load_incidents(wh, RUN_2)

    assert result["tables"]["fact_incident"]["updated"] == 2
    assert result["tables"]["fact_incident"]["inserted"] == 0
    assert query(wh, "SELECT incident_id, n_reports, run_id FROM {s}.fact_incident ORDER BY incident_id") == [
        ("inc-a", 7, RUN_2), ("inc-b", 1, RUN_2)]
    assert query(wh, "SELECT run_id FROM {s}.load_audit ORDER BY run_id") == [(RUN_1,), (RUN_2,)]


def test_drifted_file_is_refused_naming_table_and_column_and_target_is_unchanged(wh, lake):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)
    load_incidents(wh, RUN_1)
    drifted = incident_rows(RUN_2, n_reports_a=9)
    drifted["n_reports"] = ["9", "1"]  # a string where the DDL says BIGINT
    drifted_schema = INCIDENT_ARROW.set(4, pa.field("n_reports", pa.string()))
    write_export(lake, "fact_incident", RUN_2, drifted, drifted_schema)

    with pytest.raises(ExportValidationError, match="fact_incident: column n_reports .* is string, expected BIGINT"):
        load_incidents(wh, RUN_2)

    assert query(wh, "SELECT incident_id, n_reports FROM {s}.fact_incident ORDER BY incident_id") == [
        ("inc-a", 3), ("inc-b", 1)]
    assert query(wh, "SELECT run_id FROM {s}.load_audit") == [(RUN_1,)]


def test_file_with_an_extra_column_is_refused_before_the_schema_is_created(wh, lake):
    rows = incident_rows(RUN_1)
    rows["severity"] = [1, 2]
    write_export(lake, "fact_incident", RUN_1, rows, INCIDENT_ARROW.append(pa.field("severity", pa.int64())))

    with pytest.raises(ExportValidationError, match="fact_incident: column severity .* not in the model"):
        load_incidents(wh, RUN_1)

    assert query(wh, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{s}'") == [(0,)]


def test_missing_file_listed_in_manifest_is_refused(wh, lake):
    out = write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)
    (Path(out) / "part-00001.parquet").unlink()

    with pytest.raises(ExportValidationError, match="fact_incident: file .*part-00001.parquet .* does not exist"):
        load_incidents(wh, RUN_1)


def test_int96_or_nanosecond_timestamps_are_refused(wh, lake):
    ns_schema = INCIDENT_ARROW.set(1, pa.field("first_seen", pa.timestamp("ns", tz="UTC")))
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), ns_schema)

    with pytest.raises(ExportValidationError, match="fact_incident: column first_seen .* expected TIMESTAMPTZ"):
        load_incidents(wh, RUN_1)


def test_crash_between_stage_and_merge_leaves_target_unchanged(wh, lake):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1, n_reports_a=3), INCIDENT_ARROW)
    write_export(lake, "fact_incident", RUN_2, incident_rows(RUN_2, n_reports_a=7), INCIDENT_ARROW)
    load_incidents(wh, RUN_1)

    def crash(step):
        if step == "copy":  # staged and copied, MERGE not yet run
            raise RuntimeError("killed between stage and merge")

    with pytest.raises(RuntimeError, match="killed between stage and merge"):
        load_incidents(wh, RUN_2, hook=crash)

    assert query(wh, "SELECT incident_id, n_reports, run_id FROM {s}.fact_incident ORDER BY incident_id") == [
        ("inc-a", 3, RUN_1), ("inc-b", 1, RUN_1)]
    assert query(wh, "SELECT run_id FROM {s}.load_audit") == [(RUN_1,)]
    load_incidents(wh, RUN_2)  # and the run can simply be retried
    assert query(wh, "SELECT n_reports FROM {s}.fact_incident WHERE incident_id = 'inc-a'") == [(7,)]


def test_crash_after_merge_before_commit_rolls_back_the_merge(wh, lake):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)

    def crash(step):
        if step == "merge":
            raise RuntimeError("killed after merge")

    with pytest.raises(RuntimeError):
        load_incidents(wh, RUN_1, hook=crash)

    assert query(wh, "SELECT COUNT(*) FROM {s}.fact_incident") == [(0,)]
    assert query(wh, "SELECT COUNT(*) FROM {s}.load_audit") == [(0,)]


def test_target_table_that_drifted_from_the_model_is_refused(wh, lake, pg_url):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)
    s = wh.warehouse.schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {s}")
        conn.execute(f"CREATE TABLE {s}.fact_incident (incident_id VARCHAR(64) PRIMARY KEY, first_seen TEXT)")

    with pytest.raises(SchemaDriftError, match="fact_incident: column first_seen is text in the target"):
        load_incidents(wh, RUN_1)

    assert query(wh, "SELECT COUNT(*) FROM {s}.fact_incident") == [(0,)]


def test_composite_key_dimension_merges_on_both_columns(wh, lake):
    arrow = pa.schema([("event_type", pa.string()), ("sub_event_type", pa.string()),
                       ("disorder_type", pa.string()), ("run_id", pa.string())])
    write_export(lake, "dim_event_type", RUN_1, {
        "event_type": ["Battles", "Battles"], "sub_event_type": ["Armed clash", "Air/drone strike"],
        "disorder_type": ["Political violence", None], "run_id": [RUN_1, RUN_1]}, arrow, files=1)
    write_export(lake, "dim_event_type", RUN_2, {
        "event_type": ["Battles"], "sub_event_type": ["Air/drone strike"],
        "disorder_type": ["Political violence"], "run_id": [RUN_2]}, arrow, files=1)

    load_export(wh, RUN_1, tables=["dim_event_type"], echo=lambda _: None)
    load_export(wh, RUN_2, tables=["dim_event_type"], echo=lambda _: None)

    assert query(wh, "SELECT event_type, sub_event_type, disorder_type, run_id FROM {s}.dim_event_type "
                     "ORDER BY sub_event_type") == [
        ("Battles", "Air/drone strike", "Political violence", RUN_2),
        ("Battles", "Armed clash", "Political violence", RUN_1)]


def test_date_smallint_and_boolean_columns_load_exactly(wh, lake):
    arrow = pa.schema([(c.name, t) for c, t in zip(m.DIM_DATE.columns, [
        pa.int32(), pa.date32(), pa.int16(), pa.int16(), pa.int16(), pa.int16(), pa.int16(), pa.int16(), pa.bool_()])])
    write_export(lake, "dim_date", RUN_1, {
        "date_key": [20260103], "full_date": [date(2026, 1, 3)], "year": [2026], "quarter": [1], "month": [1],
        "day": [3], "iso_week": [1], "day_of_week": [6], "is_weekend": [True]}, arrow, files=1)

    load_export(wh, RUN_1, tables=["dim_date"], echo=lambda _: None)

    assert query(wh, "SELECT * FROM {s}.dim_date") == [(20260103, date(2026, 1, 3), 2026, 1, 1, 3, 1, 6, True)]


def test_dry_run_prints_each_statement_and_creates_nothing(wh, lake):
    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)
    printed = []

    load_export(wh, RUN_1, tables=["fact_incident"], dry_run=True, echo=printed.append)

    text = "\n".join(printed)
    s = wh.warehouse.schema
    assert f"CREATE TEMP TABLE stage_fact_incident (LIKE {s}.fact_incident);" in text
    assert "COPY stage_fact_incident (incident_id, first_seen, last_seen, date_key, n_reports, " \
           "representative_text, place, latitude, longitude, country_iso3, admin1_name, admin1_pcode, " \
           "admin2_name, admin2_pcode, place_confidence, incident_type, force_rank, labels, corroborated, " \
           "corroboration_score, acled_event_ids, reported_incident_ids, run_id) FROM STDIN WITH (FORMAT csv);" in text
    assert f"MERGE INTO {s}.fact_incident USING stage_fact_incident ON " \
           "fact_incident.incident_id = stage_fact_incident.incident_id" in text
    assert query(wh, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{s}'") == [(0,)]


def test_pipeline_load_step_skips_with_a_message_when_no_postgres_url_is_set(lake):
    from crisislake.pipeline import run_as_step

    config = load_config("local", lake_root=lake, environ={})

    assert run_as_step(None, config, "load", RUN_1) == {
        "skipped": "no PostgreSQL URL: set CRISISLAKE_WAREHOUSE__POSTGRES_URL (make run does)"}


def test_latest_export_run_is_the_newest_run_with_a_manifest(lake):
    from crisislake.warehouse.load_job import latest_export_run

    write_export(lake, "fact_incident", RUN_1, incident_rows(RUN_1), INCIDENT_ARROW)
    write_export(lake, "fact_incident", RUN_2, incident_rows(RUN_2), INCIDENT_ARROW)
    (Path(lake) / "exports" / "fact_incident" / "20991231T000000Z-nomanife").mkdir()

    assert latest_export_run(str(Path(lake) / "exports")) == RUN_2


def test_two_loads_creating_the_schema_at_once_both_succeed(wh):
    """CREATE SCHEMA IF NOT EXISTS racing in two sessions is a unique violation without the lock."""
    from concurrent.futures import ThreadPoolExecutor

    backends = [PostgresBackend(wh.warehouse.postgres_url, wh.warehouse.schema) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(b.ensure_schema) for b in backends]:
            future.result()
    assert query(wh, "SELECT COUNT(*) FROM {s}.load_audit") == [(0,)]
