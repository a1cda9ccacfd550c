"""Corroboration: admin area x date window x event type, with hand-written expected matches."""
from __future__ import annotations

from datetime import date, datetime

from crisislake.dedup.incidents.corroborate import (
    CorroborationParams,
    corroboration_summary,
    match_acled,
    match_reported,
)

INCIDENTS = "incident_id string, incident_type string, place string, latitude double, longitude double, " \
            "admin1_name string, admin1_pcode string, first_seen timestamp, last_seen timestamp"
REPORTED = "id string, date date, city string, description string, links array<string>, admin1_pcode string, " \
           "latitude double, longitude double"
ACLED = "event_id_cnty string, event_date date, event_type string, admin1 string, location string, " \
        "latitude double, longitude double, notes string, is_deleted boolean"


def incidents(spark):
    return spark.createDataFrame([
        # Denver, reports from the evening of 30 May (UTC: into 31 May)
        ("inc-den", "police_violence", "Denver, Colorado, USA", 39.74, -104.99, "Colorado", "US08",
         datetime(2020, 5, 31, 2, 0), datetime(2020, 5, 31, 5, 0)),
        # a flood in Colorado: no police record may confirm it
        ("inc-flood", "flood", "Colorado, USA", None, None, "Colorado", "US08",
         datetime(2020, 5, 31, 2, 0), datetime(2020, 5, 31, 3, 0)),
        # police violence in Ohio: nothing reported there
        ("inc-ohio", "police_violence", "Columbus, Ohio, USA", 39.96, -83.0, "Ohio", "US39",
         datetime(2020, 5, 31, 2, 0), datetime(2020, 5, 31, 3, 0)),
    ], INCIDENTS)


def test_reported_incidents_match_on_state_date_window_and_score_the_city(spark):
    reported = spark.createDataFrame([
        ("co-denver-1", date(2020, 5, 30), "Denver", "tear gas", ["https://x/1"], "US08", 39.74, -104.99),
        ("co-aurora-9", date(2020, 5, 31), "Aurora", "pepper spray", [], "US08", 39.73, -104.83),
        ("co-denver-2", date(2020, 6, 3), "Denver", "days later", [], "US08", 39.74, -104.99),
        ("co-gj-1", date(2020, 5, 31), "Grand Junction", "too far", [], "US08", 39.06, -108.55),
    ], REPORTED)

    actual = match_reported(incidents(spark), reported, CorroborationParams()).orderBy("source_id").collect()

    # Denver: same state, a day before the first report (window 1), same city -> 0.5 + 0.3 + 0.1;
    # Aurora: 14 km away (near), first day -> 0.5 + 0.3 + 0.2; Grand Junction: 330 km, over max_km.
    assert [(r.incident_id, r.source_id, float(r.score), r.url) for r in actual] == [
        ("inc-den", "co-aurora-9", 1.0, None),
        ("inc-den", "co-denver-1", 0.9, "https://x/1"),
    ]


def test_acled_matches_protest_types_by_admin1_name_and_skips_deleted_events(spark):
    events = spark.createDataFrame([
        ("USA1", date(2020, 5, 31), "Protests", "Colorado", "Denver", 39.74, -104.99, "protest", False),
        ("USA2", date(2020, 5, 31), "Strategic developments", "Colorado", "Denver", 39.74, -104.99, "x", False),
        ("USA3", date(2020, 5, 31), "Riots", "Colorado", "Denver", 39.74, -104.99, "deleted", True),
        ("USA4", date(2020, 6, 1), "Riots", "Colorado", "Boulder", 40.01, -105.27, "riot", False),
    ], ACLED)

    actual = match_acled(incidents(spark), events, CorroborationParams()).orderBy("source_id").collect()

    # USA1: same city, first day -> 1.0; USA4: Boulder 39 km (not near), a day off -> 0.6
    assert [(r.incident_id, r.source_id, float(r.score)) for r in actual] == [("inc-den", "USA1", 1.0),
                                                                            ("inc-den", "USA4", 0.6)]


def test_summary_lists_ids_per_source_and_the_best_score(spark):
    matches = spark.createDataFrame([
        ("inc-den", "acled", "USA4", 0.6), ("inc-den", "reported_incidents", "co-denver-1", 0.9),
        ("inc-den", "acled", "USA1", 1.0),
    ], "incident_id string, source string, source_id string, score double")

    actual = corroboration_summary(matches).collect()

    assert [tuple(r) for r in actual] == [("inc-den", True, 1.0, ["USA1", "USA4"], ["co-denver-1"])]
