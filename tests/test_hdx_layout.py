"""File sniffing before Spark: encoding, BOM, HXL row, column mapping (plain Python, no Spark)."""
from __future__ import annotations

import pytest
from crisislake.hdx.layout import (
    EVENTS,
    MONTHLY,
    PCODES,
    LayoutError,
    decode_head,
    detect_encoding,
    layout_from_head,
    normalise_hxl,
)

LEGACY_HEADER = (
    "GWNO,EVENT_ID_CNTY,EVENT_ID_NO_CNTY,EVENT_DATE,YEAR,TIME_PRECISION,EVENT_TYPE,ACTOR1,ALLY_ACTOR_1,INTER1,"
    "ACTOR2,ALLY_ACTOR_2,INTER2,INTERACTION,COUNTRY,ADMIN1,ADMIN2,ADMIN3,LOCATION,LATITUDE,LONGITUDE,"
    "GEO_PRECISION,SOURCE,NOTES,FATALITIES,,,,,,,\r\n"
)


def test_cp1252_bytes_detected_as_windows_1252():
    data = (LEGACY_HEADER + "615,1RTA,,29/12/2015,2015,1,Riots/Protests,S\xe9l\xe9ka\r\n").encode("latin-1")
    assert detect_encoding([data]) == "windows-1252"


def test_utf8_split_across_chunks_stays_utf8():
    data = "\ufeffcountry\r\nC\u00f4te d'Ivoire\r\n".encode("utf-8")
    cut = data.index(b"\xc3") + 1  # split inside the two-byte \u00f4
    assert detect_encoding([data[:cut], data[cut:]]) == "UTF-8"


def test_bom_stripped_from_first_header_name():
    text = decode_head("\ufefflocation_code,event_type,events,reference_period_start\r\nDZA,x,1,2025-01-01\r\n"
                       .encode("utf-8"), "UTF-8")
    assert layout_from_head(text, "UTF-8").header[0] == "location_code"


def test_legacy_upper_case_header_mapped_explicitly():
    layout = layout_from_head(LEGACY_HEADER, "windows-1252")
    assert (layout.kind, layout.mapping[1], layout.mapping[3], layout.mapping[8], layout.mapping[11],
            layout.mapping[24], layout.unmapped) == (
        EVENTS, "event_id_cnty", "event_date", "assoc_actor_1", "assoc_actor_2", "fatalities",
        ["GWNO", "EVENT_ID_NO_CNTY"])


def test_trailing_empty_columns_counted_but_not_mapped():
    layout = layout_from_head(LEGACY_HEADER, "windows-1252")
    assert (layout.n_columns, max(layout.mapping)) == (32, 24)


def test_hxl_row_detected_and_skipped():
    text = "location_code,event_type,events,reference_period_start\r\n#country+code,#event+type,#event+num,#date+start\r\n"
    layout = layout_from_head(text, "UTF-8")
    assert (layout.kind, layout.has_hxl, layout.data_starts_at) == (MONTHLY, True, 2)


def test_older_hdx_names_mapped_through_hxl_tags():
    text = (
        "Country ISO3,Admin 1 PCode,Admin 1 Name,Start Date,Event Type,Events,Fatalities\r\n"
        "#country+code,#adm1+code,#adm1+name,#date+start,#event+type,#event+num,#fatality+num\r\n"
    )
    layout = layout_from_head(text, "UTF-8")
    assert (layout.kind, layout.mapping) == (MONTHLY, {
        0: "location_code", 1: "admin1_code", 2: "admin1_name", 3: "reference_period_start", 4: "event_type",
        5: "events", 6: "fatalities"})


def test_first_data_row_is_not_taken_for_hxl():
    layout = layout_from_head("event_id_cnty,event_date\r\nX1,2025-01-02\r\n", "UTF-8")
    assert (layout.kind, layout.has_hxl, layout.data_starts_at) == (EVENTS, False, 1)


def test_pcode_list_recognised():
    layout = layout_from_head("Location,Admin Level,P-Code,Name,Parent P-Code,Valid from date\r\n", "UTF-8")
    assert (layout.kind, layout.mapping[2]) == (PCODES, "p_code")


def test_unknown_header_is_a_layout_error():
    with pytest.raises(LayoutError, match=r"unrecognised CSV layout \(header: a, b\)"):
        layout_from_head("a,b\r\n1,2\r\n", "UTF-8")


def test_empty_file_is_a_layout_error():
    with pytest.raises(LayoutError, match="empty file"):
        layout_from_head("", "UTF-8")


def test_hxl_attributes_compared_in_any_order():
    assert normalise_hxl("#indicator +num +event") == normalise_hxl("#indicator+event+num") == "#indicator+event+num"
