"""SQL for ``GET /incidents`` and ``GET /incidents/{id}``, over the contract's tables.

The listing is ordered newest first on ``(first_seen DESC, incident_id DESC)`` and paged by
keyset: the next page starts strictly after the last item's key, so rows inserted meanwhile never
shift, repeat or hide the rows of a listing in progress. The keyset condition is written as
``first_seen <= :ts AND (first_seen < :ts OR incident_id < :id)``: the first conjunct is an
index range on ``(first_seen DESC, incident_id DESC)`` in PostgreSQL, and the whole is plain SQL
that Redshift also runs (no row-value comparison).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

from crisislake.serve.db import Database, ident

INCIDENT_COLUMNS = (
    "incident_id", "first_seen", "last_seen", "date_key", "n_reports", "representative_text", "place",
    "latitude", "longitude", "country_iso3", "admin1_name", "admin1_pcode", "admin2_name", "admin2_pcode",
    "place_confidence", "incident_type", "force_rank", "labels", "corroborated", "corroboration_score",
    "acled_event_ids", "reported_incident_ids", "run_id",
)
DECIMAL_COLUMNS = ("latitude", "longitude", "place_confidence", "corroboration_score")
CURSOR_TYPES = (datetime, str)
MAX_EVIDENCE = 200
TASKS = ("relevance", "disaster_type", "police_force", "force_rank", "information_type")


@dataclass(frozen=True)
class IncidentFilters:
    """Validated filters of ``GET /incidents`` (the HTTP layer checks types and ranges)."""

    since: Optional[datetime] = None
    until: Optional[datetime] = None
    country: Optional[str] = None
    admin: Optional[str] = None
    pcode: Optional[str] = None
    bbox: Optional[Tuple[float, float, float, float]] = None
    min_force_rank: Optional[int] = None
    min_reports: Optional[int] = None
    corroborated: Optional[bool] = None
    incident_type: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


# filter -> its WHERE fragment (fixed text; the value is the bound parameter of the same name)
CONDITIONS = (
    ("since", "first_seen >= %(since)s"),
    ("until", "first_seen < %(until)s"),
    ("country", "country_iso3 = %(country)s"),
    ("admin", "(admin1_name = %(admin)s OR admin2_name = %(admin)s)"),
    ("pcode", "(admin1_pcode = %(pcode)s OR admin2_pcode = %(pcode)s)"),
    ("min_force_rank", "force_rank >= %(min_force_rank)s"),
    ("min_reports", "n_reports >= %(min_reports)s"),
    ("corroborated", "corroborated = %(corroborated)s"),
    ("incident_type", "incident_type = %(incident_type)s"),
)


def _conditions(f: IncidentFilters) -> Tuple[List[str], Dict[str, Any]]:
    """WHERE fragments (fixed text, placeholders only) and their bound values."""
    where: List[str] = []
    params: Dict[str, Any] = {}
    for name, fragment in CONDITIONS:
        value = getattr(f, name)
        if value is not None:
            where.append(fragment)
            params[name] = value
    if f.bbox is not None:
        where.append("longitude BETWEEN %(min_lon)s AND %(max_lon)s AND latitude BETWEEN %(min_lat)s AND %(max_lat)s")
        params.update(zip(("min_lon", "min_lat", "max_lon", "max_lat"), (Decimal(str(v)) for v in f.bbox)))
    return where, params


def select_list():
    """The incident columns; DECIMALs read as DOUBLE PRECISION (JSON numbers without Decimal objects)."""
    from psycopg import sql

    return sql.SQL(", ").join(
        sql.SQL("CAST({c} AS DOUBLE PRECISION) AS {c}").format(c=sql.Identifier(ident(c))) if c in DECIMAL_COLUMNS
        else sql.Identifier(ident(c)) for c in INCIDENT_COLUMNS)


@lru_cache(maxsize=1024)
def _page_sql(schema: str, where: Tuple[str, ...], tail: str) -> str:
    """The page statement for one combination of filters, composed once (identifiers quoted by
    ``sql.Identifier``; the fragments come from :data:`CONDITIONS`, values stay placeholders)."""
    from psycopg import sql

    return sql.SQL("SELECT {cols} FROM {table}{where} ORDER BY first_seen DESC, incident_id DESC " + tail).format(
        cols=select_list(), table=sql.Identifier(ident(schema), "fact_incident"),
        where=sql.SQL(" WHERE " + " AND ".join(where) if where else "")).as_string(None)


def _page_query(schema: str, where: List[str], tail: str):
    from psycopg import sql

    return sql.SQL(_page_sql(schema, tuple(where), tail))


def list_query(schema: str, filters: IncidentFilters, after: Optional[List[Any]], limit: int):
    """``(composed SQL, params)`` for one page; fetches ``limit + 1`` rows to know if more follow."""
    where, params = _conditions(filters)
    if after is not None:
        where.append("first_seen <= %(after_ts)s AND (first_seen < %(after_ts)s OR incident_id < %(after_id)s)")
        params.update(after_ts=after[0], after_id=after[1])
    params["limit"] = int(limit) + 1
    return _page_query(schema, where, "LIMIT %(limit)s"), params


def offset_query(schema: str, filters: IncidentFilters, offset: int, limit: int):
    """The OFFSET variant of :func:`list_query` (what the benchmark compares keyset with)."""
    where, params = _conditions(filters)
    params.update(limit=int(limit) + 1, offset=int(offset))
    return _page_query(schema, where, "LIMIT %(limit)s OFFSET %(offset)s"), params


def _split(value: Optional[str]) -> List[str]:
    return [v for v in (value or "").split(",") if v]


def _num(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def incident_item(row: Dict[str, Any], pseudonymise) -> Dict[str, Any]:
    """One ``fact_incident`` row as the API shows it (lists for the comma-separated columns)."""
    out = dict(row)
    for col in ("labels", "acled_event_ids", "reported_incident_ids"):
        out[col] = _split(row[col])
    out["first_seen"] = row["first_seen"].isoformat()
    out["last_seen"] = row["last_seen"].isoformat()
    out["representative_text"] = pseudonymise(row["representative_text"])
    return out


def list_incidents(db: Database, filters: IncidentFilters, after, limit: int):
    """``(items, last key or None)`` of one page."""
    query, params = list_query(db.schema, filters, after, limit)
    rows = db.fetch(query, params)
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1]["first_seen"], rows[-1]["incident_id"]) if more and rows else None
    return rows, last


def get_incident(db: Database, incident_id: str) -> Optional[Dict[str, Any]]:
    """The incident row, its evidence tweets (with their labels) and corroborating records."""
    from psycopg import sql

    rows = db.fetch(sql.SQL("SELECT {cols} FROM {t} WHERE incident_id = %(id)s").format(
        cols=select_list(), t=db.table("fact_incident")),
        {"id": incident_id})
    if not rows:
        return None
    label_cols = sql.SQL(", ").join(
        sql.SQL("t.{c}, t.{cc}").format(c=sql.Identifier(ident(task)), cc=sql.Identifier(ident(f"{task}_confidence")))
        for task in TASKS)
    evidence = db.fetch(sql.SQL(
        "SELECT b.tweet_id, b.tweet_url, b.author_pseudonym, b.created_at, b.is_canonical, t.text, t.lang, "
        "t.needs_review, {labels} FROM {b} b LEFT JOIN {t} t ON t.tweet_id = b.tweet_id "
        "WHERE b.incident_id = %(id)s ORDER BY b.is_canonical DESC, b.created_at, b.tweet_id LIMIT %(limit)s").format(
        labels=label_cols, b=db.table("bridge_incident_tweet"), t=db.table("fact_tweet")),
        {"id": incident_id, "limit": MAX_EVIDENCE})
    total = db.fetch(sql.SQL("SELECT COUNT(*) AS n FROM {b} WHERE incident_id = %(id)s").format(
        b=db.table("bridge_incident_tweet")), {"id": incident_id})[0]["n"]
    corroboration = db.fetch(sql.SQL(
        "SELECT source, source_id, score, event_date, description, url FROM {c} WHERE incident_id = %(id)s "
        "ORDER BY score DESC, source, source_id").format(c=db.table("bridge_incident_corroboration")),
        {"id": incident_id})
    return {"incident": rows[0], "evidence": evidence, "evidence_total": total, "corroboration": corroboration}


def evidence_item(row: Dict[str, Any], pseudonymise) -> Dict[str, Any]:
    labels = {}
    for task in TASKS:
        if row.get(task) is not None:
            labels[task] = {"label": row[task], "confidence": _num(row.get(f"{task}_confidence"))}
    return {
        "tweet_id": str(row["tweet_id"]),  # 64-bit ids lose digits as JSON numbers in JavaScript
        "tweet_url": row["tweet_url"],
        "author_pseudonym": row["author_pseudonym"],
        "created_at": row["created_at"].isoformat() if row.get("created_at") else None,
        "is_canonical": row["is_canonical"],
        "text": pseudonymise(row.get("text")),
        "lang": row.get("lang"),
        "needs_review": row.get("needs_review"),
        "labels": labels,
    }


def corroboration_item(row: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "source": row["source"], "source_id": row["source_id"], "score": _num(row["score"]),
        "event_date": row["event_date"].isoformat() if row.get("event_date") else None,
        "description": row.get("description"), "url": row.get("url"),
    }
