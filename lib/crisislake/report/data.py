"""What the report shows, read without Spark: lake marts with pyarrow, the warehouse with SQL.

Each source is optional: a mart not built yet or a warehouse that cannot be reached becomes a
note in the report (``ReportData.notes``) instead of a failure, so an analyst always gets a file.
Warehouse reads go through the read-only role's DSN when one is configured
(``serve.read_url``), else ``warehouse.postgres_url``; every value is bound, the one identifier
(the schema) is validated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from crisislake.config import ConfigError
from crisislake.identifiers import checked
from crisislake.lake_parquet import NoParquetFiles, read_parquet_dir

MAP_POINTS = 5000
TOP_INCIDENTS = 25
EVIDENCE_PER_INCIDENT = 5


@dataclass
class ReportData:
    disaster_daily: List[Dict[str, Any]] = field(default_factory=list)
    information_daily: List[Dict[str, Any]] = field(default_factory=list)
    conflict_monthly: List[Dict[str, Any]] = field(default_factory=list)
    map_incidents: List[Dict[str, Any]] = field(default_factory=list)
    top_incidents: List[Dict[str, Any]] = field(default_factory=list)
    evidence: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    corroboration: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    freshness: Dict[str, Any] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)


def read_mart(marts_root: str, name: str, s3_endpoint: str = ""):
    """``(rows, built_at)`` of one mart, or ``(None, None)`` when it is not built."""
    try:
        table, mtime_ns = read_parquet_dir(f"{marts_root.rstrip('/')}/{name}", s3_endpoint)
    except NoParquetFiles:
        return None, None
    return table.to_pylist(), datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc)


def read_lake(data: ReportData, marts_root: str, s3_endpoint: str = "") -> None:
    for name, attr in (("disaster_tweets_daily", "disaster_daily"), ("conflict_monthly_country", "conflict_monthly")):
        rows, built = read_mart(marts_root, name, s3_endpoint)
        if rows is None:
            data.notes[attr] = f"marts/{name} is not built yet (crisislake build-marts)"
            continue
        setattr(data, attr, rows)
        data.freshness[f"marts/{name} built"] = built


QUERIES = {
    "information_daily": (
        "SELECT date_key, information_type, COUNT(*) AS tweets FROM {s}.fact_tweet "
        "WHERE information_type IS NOT NULL AND information_type <> 'unknown' "
        "AND (relevance IS NULL OR relevance = '1') GROUP BY date_key, information_type ORDER BY date_key"),
    "map_incidents": (
        "SELECT incident_id, first_seen, n_reports, place, CAST(latitude AS DOUBLE PRECISION) AS latitude, "
        "CAST(longitude AS DOUBLE PRECISION) AS longitude, incident_type, force_rank, corroborated, "
        "representative_text FROM {s}.fact_incident WHERE latitude IS NOT NULL AND longitude IS NOT NULL "
        "ORDER BY n_reports DESC, incident_id LIMIT %(map_points)s"),
    "top_incidents": (
        "SELECT incident_id, first_seen, last_seen, n_reports, place, country_iso3, admin1_pcode, incident_type, "
        "force_rank, corroborated, CAST(corroboration_score AS DOUBLE PRECISION) AS corroboration_score, "
        "acled_event_ids, reported_incident_ids, representative_text FROM {s}.fact_incident "
        "ORDER BY n_reports DESC, corroboration_score DESC NULLS LAST, incident_id LIMIT %(top)s"),
    "evidence": (
        "SELECT incident_id, tweet_url, created_at, is_canonical FROM (SELECT b.*, ROW_NUMBER() OVER ("
        "PARTITION BY incident_id ORDER BY is_canonical DESC, created_at, tweet_id) AS n "
        "FROM {s}.bridge_incident_tweet b) e WHERE n <= %(per_incident)s ORDER BY incident_id, n"),
    "corroboration": (
        "SELECT incident_id, source, source_id, CAST(score AS DOUBLE PRECISION) AS score, event_date, url "
        "FROM {s}.bridge_incident_corroboration ORDER BY incident_id, score DESC, source_id"),
    "load": "SELECT run_id, finished_at FROM {s}.load_audit ORDER BY finished_at DESC LIMIT 1",
    "latest": ("SELECT (SELECT MAX(created_at) FROM {s}.fact_tweet) AS latest_tweet, "
               "(SELECT MAX(last_seen) FROM {s}.fact_incident) AS latest_incident, "
               "(SELECT COUNT(*) FROM {s}.fact_incident) AS incidents, "
               "(SELECT COUNT(*) FROM {s}.fact_tweet) AS tweets"),
}


def query_warehouse(url: str, schema: str) -> Dict[str, List[Dict[str, Any]]]:
    """Every query of :data:`QUERIES`, rows as dicts, in one read-only transaction."""
    import psycopg
    from psycopg.rows import dict_row

    checked(schema, ConfigError)
    params = {"map_points": MAP_POINTS, "top": TOP_INCIDENTS, "per_incident": EVIDENCE_PER_INCIDENT}
    out = {}
    with psycopg.connect(url, row_factory=dict_row, connect_timeout=10, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.read_only = True  # the transaction below: one consistent snapshot, no writes
        with conn.transaction():
            for name, text in QUERIES.items():
                out[name] = conn.execute(text.replace("{s}", schema), params).fetchall()
    return out


def _group(rows: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["incident_id"], []).append(r)
    return out


def read_warehouse(data: ReportData, url: Optional[str], schema: str) -> None:
    if not url:
        data.notes["warehouse"] = ("no warehouse DSN: set CRISISLAKE_SERVE__READ_URL or "
                                   "CRISISLAKE_WAREHOUSE__POSTGRES_URL (make run loads the local PostgreSQL)")
        return
    import psycopg

    try:
        rows = query_warehouse(url, schema)
    except psycopg.Error as exc:
        data.notes["warehouse"] = f"warehouse not readable: {type(exc).__name__}: {str(exc).strip()[:200]}"
        return
    data.information_daily = rows["information_daily"]
    data.map_incidents = rows["map_incidents"]
    data.top_incidents = rows["top_incidents"]
    data.evidence = _group(rows["evidence"])
    data.corroboration = _group(rows["corroboration"])
    if rows["load"]:
        data.freshness["warehouse load run"] = rows["load"][0]["run_id"]
        data.freshness["warehouse loaded at"] = rows["load"][0]["finished_at"]
    latest = rows["latest"][0]
    data.freshness.update({"latest tweet": latest["latest_tweet"], "latest incident report": latest["latest_incident"],
                           "incidents": latest["incidents"], "tweets": latest["tweets"]})


def gather(marts_root: str, warehouse_url: Optional[str], schema: str, s3_endpoint: str = "") -> ReportData:
    data = ReportData()
    read_lake(data, marts_root, s3_endpoint)
    read_warehouse(data, warehouse_url, schema)
    return data
