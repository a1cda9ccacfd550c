"""Generated HDX CSV/HXL input: any bytes, any header spelling, any cell.

In plain Python (many examples): any file head gives a layout or a :class:`LayoutError`, never
another exception, and an ACLED header is recognised whatever its case, column order, BOM or HXL
row. With Spark (a few generated batches of files, one ingest each): no record is lost, every
record is curated, a duplicate or a quarantine row with a reason, and an unrecognised file is
quarantined whole.
"""
from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from crisislake.hdx.layout import (
    ACLED_COLUMNS,
    EVENT_HXL,
    EVENTS,
    LayoutError,
    decode_head,
    detect_encoding,
    layout_from_head,
)
from fuzz_scale import DERANDOMIZE, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hdx_ingest import land, make_config

REQUIRED = ("event_id_cnty", "event_date")
TAG_FOR = {name: tag for tag, name in reversed(list(EVENT_HXL.items()))}


@settings(max_examples=examples(1500), deadline=None, derandomize=DERANDOMIZE)
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_file_head_gives_a_layout_or_a_layout_error(head):
    encoding = detect_encoding([head])
    try:
        layout_from_head(decode_head(head, encoding), encoding)
    except LayoutError as exc:
        assert str(exc)


def csv_bytes(rows, encoding="utf-8", newline="\n", bom=False) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator=newline).writerows(rows)
    data = buf.getvalue().encode(encoding, errors="replace")
    return (b"\xef\xbb\xbf" if bom else b"") + data


@st.composite
def acled_headers(draw, required=REQUIRED):
    """ACLED column names (``required`` and any others) in any order and case, maybe with an HXL row."""
    names = draw(st.lists(st.sampled_from(ACLED_COLUMNS), unique=True, max_size=12))
    names = draw(st.permutations(list(dict.fromkeys([*required, *names]))))
    spelled = [draw(st.sampled_from([n, n.upper(), f" {n} ", n.title()])) for n in names]
    hxl = draw(st.booleans())
    tags = [TAG_FOR.get(n, "") for n in names] if hxl else None
    return names, spelled, tags


@settings(max_examples=examples(400), deadline=None, derandomize=DERANDOMIZE)
@given(acled_headers(), st.booleans(), st.sampled_from(["\n", "\r\n", "\r"]), st.sampled_from(["utf-8", "cp1252"]))
def test_an_acled_header_is_recognised_whatever_its_case_order_bom_hxl_row_or_encoding(header, bom, newline, encoding):
    names, spelled, tags = header
    rows = [spelled, *([tags] if tags and any(tags) else []), ["Lom\u00e9"] * len(names)]
    data = csv_bytes(rows, encoding, newline, bom)  # a BOM before Windows-1252 text too: spreadsheets do that

    detected = detect_encoding([data])
    layout = layout_from_head(decode_head(data, detected), detected)

    assert layout.kind == EVENTS
    assert {names[i] for i in layout.mapping} >= set(REQUIRED)
    assert all(layout.mapping[i] == names[i] for i in layout.mapping)


# ---- end to end: generated batches of files through ingest-hdx ----------------------------------

GOOD = {
    "event_id_cnty": st.from_regex(r"[A-Z]{3}[0-9]{1,4}", fullmatch=True),
    "event_date": st.dates(date(1997, 1, 1), date(2030, 12, 31)).map(str),
    "year": st.integers(1997, 2030).map(str),
    "timestamp": st.integers(0, 2**40).map(str),
    "latitude": st.floats(-90, 90).map(lambda v: f"{v:.4f}"),
    "longitude": st.floats(-180, 180).map(lambda v: f"{v:.4f}"),
    "fatalities": st.integers(0, 500).map(str),
}
PLAIN = st.sampled_from(["", "Battles", "Protests", "Sudan", "Khartoum", "Police; Rioters", 'He said "no", then left',
                         "line one\nline two", "Lom\u00e9", "\u00a0trailing\u00a0"])
NASTY = st.text(max_size=40) | st.sampled_from(
    ["", " ", "\n", '"', "'; DROP TABLE x; --", "NaN", "-1", "2025-02-30", "31/12/2024", "9" * 30, "#geo+lat",
     "a,b", "\u00a0", "Lom\u00e9"])


@st.composite
def event_rows(draw, names):
    """One data record: clean, or with a few nasty cells, and short or long by a cell now and then."""
    row = [draw(GOOD[n] if n in GOOD else PLAIN) for n in names]
    if draw(st.booleans()):
        for i in draw(st.lists(st.integers(0, len(row) - 1), min_size=1, max_size=2)):
            row[i] = draw(NASTY)
    cut = draw(st.sampled_from([0] * 8 + [-1, 1]))
    return row[:cut] if cut < 0 else row + ["extra"] * cut if cut else row


@st.composite
def hdx_files(draw):
    """A file: (bytes, data records it holds or None for a file that is not HDX data)."""
    if draw(st.integers(0, 5)) == 0:
        junk = draw(st.sampled_from([b"", b"a,b\n1,2\n", b"\x00\x01\x02", b"\r\x00", b"name\nvalue\n"]))
        return junk, None
    names, spelled, tags = draw(acled_headers((*REQUIRED, "latitude", "longitude")))  # no event without a place
    rows = draw(st.lists(event_rows(names), min_size=1, max_size=25))
    head = [spelled, *([tags] if tags and any(tags) else [])]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "cp1252"]))
    return csv_bytes(head + rows, encoding, draw(st.sampled_from(["\n", "\r\n"])), draw(st.booleans())), len(rows)


@settings(max_examples=examples(3), deadline=None, derandomize=DERANDOMIZE,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(files=st.lists(hdx_files(), min_size=2, max_size=6).filter(lambda fs: any(n for _, n in fs)))
def test_a_generated_batch_of_hdx_files_loses_no_record(spark, tmp_path_factory, files):
    from crisislake.hdx.ingest_job import ingest_hdx

    lake = str(tmp_path_factory.mktemp("hdx_generated") / "lake")
    for i, (data, _) in enumerate(files):
        land(lake, f"ds-{i}", f"r-{i}", "20250301T000000Z", f"file{i}.csv", data)
    config = make_config(lake)

    summary = ingest_hdx(spark, config, "run-generated")

    expected_records = sum(n for _, n in files if n is not None)
    events = summary.get(EVENTS, {"records": 0})
    assert events["records"] == expected_records
    if expected_records:
        assert events["records"] == events["written"] + events["duplicates"] + events["quarantined"]
        curated = spark.read.format("delta").load(config.table("curated", EVENTS)).count()
        assert curated == events["written"]
    if events.get("quarantined"):
        bad = spark.read.format("delta").load(config.table("quarantine", EVENTS))
        assert bad.count() == events["quarantined"]
        assert bad.filter("reason IS NULL OR trim(reason) = ''").count() == 0
    assert summary["files_quarantined"] == sum(1 for _, n in files if n is None)
    assert Path(lake, "_runs").exists()
