"""Match incidents to independent event records: admin area x date window x event type.

Sources: ACLED events (``curated/conflict_events``) and reported-incident lists such as 2020PB
(``curated/reported_incidents``). A record matches an incident when

- its admin-1 area is the incident's (p-code for reported incidents, admin-1 name for ACLED,
  which carries no p-code) and, when both have coordinates, it lies within ``max_km``;
- its date falls in ``[first_seen - window_days, last_seen + window_days]`` (UTC dates: a report
  posted after midnight UTC is often of the evening before, local time);
- its type fits the incident's: police violence matches ACLED protests, riots and violence
  against civilians, and any reported incident; other incident types match nothing here.

Score (0..1): 0.5 for area and date, + 0.3 when the city or the place agrees (same city name,
or within ``near_km``), + 0.2 when the record's date is the incident's first day (0.1 a day off).
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ACLED_TYPES = ("Protests", "Riots", "Violence against civilians")
POLICE = "police_violence"
MATCH_COLUMNS = ("incident_id", "source", "source_id", "score", "event_date", "description", "url")


@dataclass(frozen=True)
class CorroborationParams:
    window_days: int = 1
    max_km: float = 100.0
    near_km: float = 25.0


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in km (null when a coordinate is null)."""
    p1, p2 = F.radians(lat1), F.radians(lat2)
    dp, dl = p2 - p1, F.radians(lon2) - F.radians(lon1)
    a = F.sin(dp / 2) ** 2 + F.cos(p1) * F.cos(p2) * F.sin(dl / 2) ** 2
    return F.lit(2 * 6371.0) * F.asin(F.sqrt(a))


def _incidents(incidents: DataFrame) -> DataFrame:
    return incidents.where(F.col("admin1_pcode").isNotNull() | F.col("admin1_name").isNotNull()).select(
        "incident_id", "incident_type", "admin1_pcode", F.lower("admin1_name").alias("i_admin1"),
        F.lower(F.element_at(F.split("place", ", "), 1)).alias("i_city"),
        F.col("latitude").alias("i_lat"), F.col("longitude").alias("i_lon"),
        F.to_date("first_seen").alias("first_day"), F.to_date("last_seen").alias("last_day"))


def _score(dist: Column, same_city: Column, day: Column, params: CorroborationParams) -> Column:
    days_off = F.abs(F.datediff(day, F.col("first_day")))
    near = F.coalesce(same_city, F.lit(False)) | F.coalesce(dist <= params.near_km, F.lit(False))
    return F.round(F.lit(0.5) + F.when(near, 0.3).otherwise(0.0)
                   + F.when(days_off == 0, 0.2).when(days_off == 1, 0.1).otherwise(0.0), 3)


def _in_window(day: Column, params: CorroborationParams) -> Column:
    return day.between(F.date_sub("first_day", params.window_days), F.date_add("last_day", params.window_days))


def match_reported(incidents: DataFrame, reported: DataFrame, params: CorroborationParams) -> DataFrame:
    """MATCH_COLUMNS rows for reported incidents (``curated/reported_incidents``)."""
    inc = _incidents(incidents).where(F.coalesce(F.col("incident_type"), F.lit(POLICE)) == POLICE)
    rep = reported.select(F.col("id").alias("source_id"), F.col("date").alias("event_date"), "description",
                          F.element_at("links", 1).alias("url"), F.col("admin1_pcode").alias("r_pcode"),
                          F.lower("city").alias("r_city"), F.col("latitude").alias("r_lat"),
                          F.col("longitude").alias("r_lon"))
    dist = haversine_km(F.col("i_lat"), F.col("i_lon"), F.col("r_lat"), F.col("r_lon"))
    joined = inc.join(rep, (inc.admin1_pcode == rep.r_pcode) & _in_window(F.col("event_date"), params))
    return joined.where(F.coalesce(dist <= params.max_km, F.lit(True))).select(
        "incident_id", F.lit("reported_incidents").alias("source"), "source_id",
        _score(dist, F.col("i_city") == F.col("r_city"), F.col("event_date"), params).alias("score"),
        "event_date", "description", "url")


def match_acled(incidents: DataFrame, events: DataFrame, params: CorroborationParams) -> DataFrame:
    """MATCH_COLUMNS rows for ACLED events (``curated/conflict_events``, deleted ones left out)."""
    inc = _incidents(incidents).where(F.col("incident_type") == POLICE)
    ev = events.where(~F.coalesce(F.col("is_deleted"), F.lit(False)) & F.col("event_type").isin(*ACLED_TYPES)).select(
        F.col("event_id_cnty").alias("source_id"), "event_date", F.col("notes").alias("description"),
        F.lower(F.trim("admin1")).alias("e_admin1"), F.lower(F.trim("location")).alias("e_city"),
        F.col("latitude").alias("e_lat"), F.col("longitude").alias("e_lon"))
    dist = haversine_km(F.col("i_lat"), F.col("i_lon"), F.col("e_lat"), F.col("e_lon"))
    joined = inc.join(ev, (inc.i_admin1 == ev.e_admin1) & _in_window(F.col("event_date"), params))
    return joined.where(F.coalesce(dist <= params.max_km, F.lit(True))).select(
        "incident_id", F.lit("acled").alias("source"), "source_id",
        _score(dist, F.col("i_city") == F.col("e_city"), F.col("event_date"), params).alias("score"),
        "event_date", "description", F.lit(None).cast("string").alias("url"))


def corroboration_summary(matches: DataFrame) -> DataFrame:
    """``incident_id, corroborated, corroboration_score, acled_event_ids, reported_incident_ids``."""
    def ids(source: str) -> Column:
        return F.array_sort(F.collect_set(F.when(F.col("source") == source, F.col("source_id"))))

    return matches.groupBy("incident_id").agg(
        F.lit(True).alias("corroborated"), F.max("score").alias("corroboration_score"),
        ids("acled").alias("acled_event_ids"), ids("reported_incidents").alias("reported_incident_ids"))
