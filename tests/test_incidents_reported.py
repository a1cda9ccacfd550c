"""``ingest-reported-incidents``: a 2020PB-style list into curated/reported_incidents, bad rows quarantined."""
from __future__ import annotations

import json
from datetime import date

from crisislake.config import load_config
from crisislake.dedup.incidents.reported_job import ingest_reported

INCIDENTS = [
    {"id": "co-denver-1", "date": "2020-05-30", "city": "Denver", "state": "Colorado",
     "geolocation": "39.7392, -104.9903", "name": "Tear gas", "description": "Police tear gas protesters.",
     "links": [{"url": "https://twitter.com/i/web/status/1266", "text": ""}], "tags": ["tear-gas"]},
    {"id": "dc-dc-1", "date": "2020-06-01", "city": "DC", "state": "Washington DC", "geolocation": "",
     "name": "Lafayette Square", "description": "Cleared.", "links": [], "tags": []},
    {"id": "xx-unknown-1", "date": "2020-06-01", "city": "", "state": "Unknown Location",
     "geolocation": "", "name": "?", "description": "No place.", "links": [], "tags": []},
    {"id": "co-denver-2", "date": "2020-13-01", "city": "Denver", "state": "Colorado",
     "geolocation": "91, 0", "name": "bad", "description": "", "links": [], "tags": []},
]


def test_ingest_writes_good_rows_and_quarantines_bad_ones_with_reasons(spark, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    # pretty-printed, as 2020PB publishes it: one document over many lines
    (raw / "all-locations.json").write_text(json.dumps({"edit_at": "x", "data": INCIDENTS}, indent=1),
                                            encoding="utf-8")
    config = load_config("local", lake_root=str(tmp_path / "lake"), environ={})

    counts = ingest_reported(spark, config, "20260101T000000Z-aaaaaaaa", str(raw))

    curated = spark.read.format("delta").load(config.table("curated", "reported_incidents")).orderBy("id").collect()
    assert [(r.id, r.date, r.city, r.country, r.latitude, r.longitude, r.links, r.tags, r.admin1_pcode)
            for r in curated] == [
        ("co-denver-1", date(2020, 5, 30), "Denver", "USA", 39.7392, -104.9903,
         ["https://twitter.com/i/web/status/1266"], ["tear-gas"], "US08"),
        ("dc-dc-1", date(2020, 6, 1), "DC", "USA", None, None, [], [], "US11"),
    ]
    bad = spark.read.format("delta").load(config.table("quarantine", "reported_incidents")).orderBy("source_line").collect()
    assert [(r.source_line, r.reason) for r in bad] == [
        (3, "no city and no known state"),
        (4, "unparseable date '2020-13-01'; geolocation not 'lat, lon' in range: '91, 0'"),
    ]
    assert json.loads(bad[0].raw_payload)["id"] == "xx-unknown-1"
    assert (counts["records"], counts["written"], counts["quarantined_rows"]) == (4, 2, 2)


def test_ingest_again_changes_nothing(spark, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "list.json").write_text(json.dumps({"data": INCIDENTS[:1]}), encoding="utf-8")
    config = load_config("local", lake_root=str(tmp_path / "lake"), environ={})
    ingest_reported(spark, config, "20260101T000000Z-aaaaaaaa", str(raw))

    again = ingest_reported(spark, config, "20260102T000000Z-bbbbbbbb", str(raw))

    assert (again["inserted"], again["updated"]) == (0, 0)
