"""ingest-hdx on the real sample slices plus small crafted files: quirks, mapping, quarantine, revisions.

The lake is ingested once per module (Delta MERGEs are the slow part); each test checks one
behaviour of that result against values read by hand from the input files.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from crisislake.config import load_config
from crisislake.hdx.layout import ACLED_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_HDX = ROOT / "data" / "sample" / "raw" / "hdx"


def land(lake: str, dataset: str, resource: str, retrieved_at: str, filename: str, data: bytes,
         **sidecar) -> str:
    """Publish a raw file the way the scraper does: bytes, then ``_sidecar.json``."""
    folder = Path(lake) / "raw" / "hdx" / dataset / resource / retrieved_at
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_bytes(data)
    meta = {"dataset": dataset, "resource_id": resource, "filename": filename, "format": "CSV",
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "retrieved_at": retrieved_at}
    meta.update(sidecar)
    (folder / "_sidecar.json").write_text(json.dumps(meta))
    return f"file:{folder / filename}"


def today_csv(rows: List[Dict[str, str]], extra_lines: Optional[List[str]] = None) -> bytes:
    """A today's-schema ACLED export (lower-case header) with the given cells (others empty)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ACLED_COLUMNS)
    for row in rows:
        writer.writerow([row.get(c, "") for c in ACLED_COLUMNS])
    for line in extra_lines or []:
        buf.write(line + "\n")
    return buf.getvalue().encode("utf-8")


def event(eid: str, **cells: str) -> Dict[str, str]:
    base = {"event_id_cnty": eid, "event_date": "2025-02-03", "year": "2025", "event_type": "Battles",
            "country": "Sudan", "admin1": "Khartoum", "latitude": "15.5", "longitude": "32.5",
            "fatalities": "1", "timestamp": "1740000000"}
    base.update(cells)
    return base


def make_config(lake: str):
    return load_config("local", lake_root=lake, overrides=["spark.shuffle_partitions=2"], environ={})


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    from crisislake.hdx.ingest_job import ingest_hdx

    lake = str(tmp_path_factory.mktemp("hdx_ingest") / "lake")
    shutil.copytree(SAMPLE_HDX, Path(lake) / "raw" / "hdx")
    uris = {}
    uris["today"] = land(lake, "acled-today", "r-today", "20250301T000000Z", "events.csv", today_csv(
        [
            event("T1", fatalities="3"),                       # line 2 (superseded by line 8)
            event("T2", event_date="2025-02-30"),              # line 3
            event("T3", latitude="95"),                        # line 4
            event("T4", fatalities="-1"),                      # line 5
            event("T5", fatalities="many"),                    # line 6
            event(""),                                         # line 7
            event("T1", fatalities="4"),                       # line 8
        ],
        extra_lines=["T9,2025-02-03"],                         # line 9: two fields only
    ))
    hxl_events = (
        b"Event ID,Day,Nation,Lat,Lon,Killed,Kind\n"
        b"#event+code,#date+occurred,#country+name,#geo+lat,#geo+lon,#affected+killed,#event+type\n"
        b"H1,2025-02-04,Chad,12.1,15.0,7,Battles\n"
    )
    uris["hxl"] = land(lake, "acled-hxl", "r-hxl", "20250301T000000Z", "hxl_events.csv", hxl_events)
    monthly = (
        b"location_code,admin1_code,admin1_name,admin2_code,admin2_name,admin_level,event_type,events,"
        b"fatalities,reference_period_start,reference_period_end\n"
        b"MLI,ML02,Koulikoro Region,ML0206,Koulikoro Cercle,2,demonstration,4,,2024-05-01,2024-05-31\n"
        b"MLI,ML02,Koulikoro Region,ML0206,Koulikoro Cercle,2,demonstration,x,,2024-06-01,2024-06-30\n"
    )
    uris["monthly"] = land(lake, "hapi-crafted", "r-monthly", "20250301T000000Z", "monthly.csv", monthly)
    uris["unknown"] = land(lake, "other", "r-other", "20250301T000000Z", "other.csv", b"a,b\n1,2\n")
    land(lake, "other", "r-xlsx", "20250301T000000Z", "book.xlsx", b"PK\x03\x04", format="XLSX")
    config = make_config(lake)
    summary = ingest_hdx(spark, config, "run-sample")
    return {"config": config, "summary": summary, "uris": uris, "lake": lake}


def _table(spark, ingested, zone: str, name: str):
    return spark.read.format("delta").load(ingested["config"].table(zone, name))


def _event(spark, ingested, eid: str):
    rows = _table(spark, ingested, "curated", "conflict_events").filter(f"event_id_cnty = '{eid}'").collect()
    assert len(rows) == 1
    return rows[0]


def test_event_records_reconcile_to_written_duplicates_and_quarantined(ingested):
    # 315 sample events + 8 crafted + 1 HXL-tagged; T1 twice; lines 3-7 and 9 of the crafted file bad.
    assert ingested["summary"]["conflict_events"] == {
        "records": 324, "written": 317, "duplicates": 1, "quarantined": 6, "inserted": 317, "updated": 0,
        "marked_deleted": 0,
    }


def test_conflict_events_schema_is_todays_acled_plus_lineage(spark, ingested):
    df = _table(spark, ingested, "curated", "conflict_events")
    assert df.columns == list(ACLED_COLUMNS) + ["is_deleted", "deleted_by_run", "source_uri", "source_line", "run_id"]
    types = dict(df.dtypes)
    assert (types["event_date"], types["year"], types["latitude"], types["fatalities"], types["timestamp"]) == (
        "date", "int", "double", "int", "bigint")


def test_legacy_upper_case_row_mapped_with_dd_mm_yyyy_date(spark, ingested):
    row = _event(spark, ingested, "1RTA")
    assert (row.event_date, row.year, row.event_type, row.actor1, row.assoc_actor_1, row.country, row.admin1,
            row.location, row.latitude, row.longitude, row.fatalities, row.source_line) == (
        dt.date(2015, 12, 29), 2015, "Riots/Protests", "Protesters (Algeria)", None, "Algeria", "Batna",
        "Batna", 35.5553, 6.1786, 0, 2)


def test_windows_1252_text_is_decoded(spark, ingested):
    row = _event(spark, ingested, "1711RTA")
    assert (row.actor1, row.source) == ("Séléka Militia", "Réseau des Journalistes de RCA; BBC News")


def test_no_break_space_at_field_end_is_trimmed(spark, ingested):
    assert _event(spark, ingested, "6603RTA").location == "Bir Masaid"


def test_quoted_newline_stays_in_its_record_and_numbering(spark, ingested):
    multi, after = _event(spark, ingested, "68RTA"), _event(spark, ingested, "386RTA")
    assert multi.notes.endswith("posted on an affiliated twitter account.")
    assert (multi.source_line, after.source_line) == (68, 70)


def test_duplicate_event_keeps_last_record_of_file(spark, ingested):
    row = _event(spark, ingested, "T1")
    assert (row.fatalities, row.source_line) == (4, 8)


def test_invalid_event_rows_quarantined_with_reasons(spark, ingested):
    rows = (
        _table(spark, ingested, "quarantine", "conflict_events")
        .filter(f"source_uri = '{ingested['uris']['today']}'")
        .select("source_line", "reason").collect()
    )
    assert sorted((r.source_line, r.reason) for r in rows) == [
        (3, "unparseable event_date '2025-02-30'"),
        (4, "latitude missing, non-numeric or out of [-90, 90]: '95'"),
        (5, "fatalities negative or not an integer: '-1'"),
        (6, "fatalities negative or not an integer: 'many'"),
        (7, "missing event_id_cnty"),
        (9, "malformed CSV record (field count does not match the header)"),
    ]


def test_quarantine_keeps_raw_payload_as_header_keyed_json(spark, ingested):
    row = (
        _table(spark, ingested, "quarantine", "conflict_events")
        .filter(f"source_uri = '{ingested['uris']['today']}' AND source_line = 4").first()
    )
    payload = json.loads(row.raw_payload)
    assert (payload["event_id_cnty"], payload["latitude"]) == ("T3", "95")


def test_hxl_tags_map_columns_with_unknown_names(spark, ingested):
    row = _event(spark, ingested, "H1")
    assert (row.event_date, row.country, row.latitude, row.longitude, row.fatalities, row.event_type) == (
        dt.date(2025, 2, 4), "Chad", 12.1, 15.0, 7, "Battles")


def test_hapi_file_hxl_row_and_bom_are_not_data(spark, ingested):
    monthly = _table(spark, ingested, "curated", "conflict_monthly")
    hapi = monthly.filter("source_uri LIKE '%hdx_hapi_conflict_event%'")
    assert (hapi.count(), hapi.agg({"source_line": "min"}).first()[0]) == (180, 3)
    assert monthly.filter("location_code LIKE '#%' OR location_code LIKE '\ufeff%'").count() == 0


def test_hapi_level0_row_typed(spark, ingested):
    row = (
        _table(spark, ingested, "curated", "conflict_monthly")
        .filter("location_code = 'DZA' AND event_type = 'civilian_targeting'").first()
    )
    assert (row.admin_level, row.events, row.fatalities, row.reference_period_start, row.reference_period_end,
            row.year, row.month, row.has_hrp) == (0, 33, 445, dt.date(1997, 1, 1), dt.date(1997, 1, 31), 1997, 1, False)


def test_older_layout_columns_mapped_through_hxl_tags(spark, ingested):
    row = (
        _table(spark, ingested, "curated", "conflict_monthly")
        .filter("location_code = 'MMR' AND admin2_code = 'MMR015D008' AND event_type = 'civilian_targeting'").first()
    )
    # admin1_name comes from the P-code list ("Shan (North)"); the file's own name stays in provider_*.
    assert (row.admin_level, row.admin1_code, row.admin1_name, row.provider_admin1_name, row.admin2_name,
            row.events, row.fatalities, row.reference_period_start) == (
        2, "MMR015", "Shan (North)", "Shan-North", "Mongmit", 0, 0, dt.date(2025, 1, 1))


def test_nan_pcode_is_null_and_name_kept(spark, ingested):
    row = (
        _table(spark, ingested, "curated", "conflict_monthly")
        .filter("provider_admin2_name = 'Naga Self-Administered Zone'").first()
    )
    assert (row.admin1_code, row.admin2_code, row.admin_level, row.pcode_matched) == (None, None, 2, False)


def test_admin_names_come_from_pcode_list(spark, ingested):
    row = (
        _table(spark, ingested, "curated", "conflict_monthly")
        .filter("location_code = 'MLI' AND event_type = 'demonstration' AND month = 5").first()
    )
    assert (row.admin1_name, row.admin2_name, row.provider_admin1_name, row.provider_admin2_name,
            row.pcode_matched, row.events, row.fatalities) == (
        "Koulikoro", "Koulikoro", "Koulikoro Region", "Koulikoro Cercle", True, 4, None)


def test_row_without_pcode_kept_unmatched(spark, ingested):
    row = (
        _table(spark, ingested, "curated", "conflict_monthly")
        .filter("location_code = 'SDN' AND provider_admin2_name = 'Lakes'").first()
    )
    assert (row.admin2_code, row.admin2_name, row.pcode_matched, row.warning) == (
        None, None, False, "Missing pcode for Lakes!")


def test_invalid_monthly_row_quarantined(spark, ingested):
    rows = _table(spark, ingested, "quarantine", "conflict_monthly").select("source_uri", "source_line", "reason").collect()
    assert [(r.source_uri, r.source_line, r.reason) for r in rows] == [
        (ingested["uris"]["monthly"], 3, "events missing, negative or not an integer: 'x'")]


def test_unrecognised_csv_quarantined_as_a_file(spark, ingested):
    rows = _table(spark, ingested, "quarantine", "hdx_files").collect()
    assert [(r.source_uri, r.source_line, r.reason) for r in rows] == [
        (ingested["uris"]["unknown"], None, "unrecognised CSV layout (header: a, b)")]


def test_non_csv_resource_skipped_and_counted(ingested):
    assert (ingested["summary"]["files"], ingested["summary"]["skipped_not_csv"]) == (9, 1)


def test_pcodes_loaded_with_types(spark, ingested):
    row = _table(spark, ingested, "curated", "admin_pcodes").filter("p_code = 'ML0206'").first()
    assert (row.location_code, row.admin_level, row.name, row.parent_p_code, row.valid_from) == (
        "MLI", 2, "Koulikoro", "ML02", dt.date(2021, 12, 20))


def test_run_record_lists_what_was_read_and_quarantined(ingested):
    record = json.loads((Path(ingested["lake"]) / "_runs" / "run-sample.json").read_text())["steps"]["ingest-hdx"]
    assert (record["status"], record["read"]["files"], record["quarantined"]["quarantine/conflict_events"],
            record["quarantined"]["quarantine/hdx_files"]) == ("succeeded", 9, 6, 1)


# --- a living database: revised and shrinking re-exports -------------------------------------

@pytest.fixture(scope="module")
def revised(spark, tmp_path_factory):
    from crisislake.hdx.ingest_job import ingest_hdx

    lake = str(tmp_path_factory.mktemp("hdx_revised") / "lake")
    config = make_config(lake)
    land(lake, "acled-today", "r1", "20250101T000000Z", "export.csv",
         today_csv([event("A", fatalities="1"), event("B"), event("C")]))
    first = ingest_hdx(spark, config, "run-1")
    land(lake, "acled-today", "r1", "20250201T000000Z", "export.csv",
         today_csv([event("A", fatalities="5"), event("B"), event("D")]))
    second = ingest_hdx(spark, config, "run-2")
    third = ingest_hdx(spark, config, "run-3")
    rows = {r.event_id_cnty: r for r in spark.read.format("delta").load(config.table("curated", "conflict_events")).collect()}
    return {"first": first, "second": second, "third": third, "rows": rows}


def test_revised_event_updated_from_newer_export(revised):
    row = revised["rows"]["A"]
    assert (row.fatalities, row.run_id, row.is_deleted) == (5, "run-2", False)


def test_unchanged_event_not_rewritten(revised):
    row = revised["rows"]["B"]
    assert (row.run_id, row.source_uri.split("/")[-2]) == ("run-1", "20250101T000000Z")


def test_event_missing_from_reexport_marked_deleted(revised):
    row = revised["rows"]["C"]
    assert (row.is_deleted, row.deleted_by_run, row.run_id) == (True, "run-2", "run-1")


def test_new_event_in_reexport_inserted(revised):
    assert (revised["rows"]["D"].run_id, revised["second"]["conflict_events"]["marked_deleted"]) == ("run-2", 1)


def test_rerun_on_same_raw_changes_nothing(spark, revised):
    # run-3 sees the same newest export: nothing inserted, updated or deleted.
    third = revised["third"]["conflict_events"]
    assert (third["inserted"], third["updated"], third["marked_deleted"]) == (0, 0, 0)
    assert {k: revised["rows"][k].run_id for k in "ABCD"} == {"A": "run-2", "B": "run-1", "C": "run-1", "D": "run-2"}


def test_sniff_layout_reads_s3_objects_through_hadoop(spark, s3_endpoint):
    import uuid

    import boto3
    from crisislake.hdx.raw_io import sniff_layout

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"hdx-sniff-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    data = "EVENT_ID_CNTY,EVENT_DATE,ACTOR1\r\n1RTA,29/12/2015,S\u00e9l\u00e9ka\r\n".encode("cp1252")
    client.put_object(Bucket=bucket, Key="raw/hdx/a/r/t/x.csv", Body=data)
    layout, sha256 = sniff_layout(f"s3a://{bucket}/raw/hdx/a/r/t/x.csv")
    assert (layout.encoding, layout.kind, sha256) == ("windows-1252", "conflict_events", hashlib.sha256(data).hexdigest())
