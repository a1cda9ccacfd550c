"""The warehouse star schema, declared once and rendered to Redshift and PostgreSQL DDL.

Every other piece reads this module: the export builds Spark columns in exactly this order and
type (:func:`spark_schema`), the loader checks Parquet files against it (:func:`arrow_type_matches`)
and renders its SQL from it, and ``sql/*.sql`` is its checked-in rendering
(``python -m crisislake.warehouse.model sql`` rewrites it; a test keeps it equal).

Redshift physical design, for the queries dashboards run (counts per day and type, per country
and month, drill-down to single tweets/events):

- Dimensions are small and joined by every query: ``DISTSTYLE ALL`` (a copy on every node, so no
  join ever redistributes them), sorted on their key.
- Facts are distributed on their natural key (``DISTKEY``). Joins between facts are rare, but
  every load runs ``MERGE target USING stage ON key``; ``CREATE TEMP TABLE stage (LIKE target)``
  inherits the distribution key, so that join is node-local, and natural keys are high-cardinality
  ids, so slices stay even.
- Facts are sorted on their event time (``COMPOUND SORTKEY``): nearly every dashboard filters a
  date range, which then reads only the matching blocks (zone maps).
- ``ENCODE AUTO`` everywhere: Redshift picks and revises column encodings itself (AZ64 for
  numbers and dates, LZO/ZSTD for text).
- Primary keys are declared (Redshift uses them for planning; it does not enforce them, the
  MERGE on the same key does).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from crisislake.errors import CrisislakeError
from crisislake.identifiers import checked

DIALECTS = ("redshift", "postgres")
# Redshift VARCHAR lengths count bytes; the widest Redshift VARCHAR.
MAX_VARCHAR = 65535


class ModelError(CrisislakeError, ValueError):
    """An identifier or type that the model refuses to render."""


def validate_identifier(name: str) -> str:
    """Return ``name`` if it is a safe lower-case SQL identifier, else raise :class:`ModelError`.

    >>> validate_identifier("fact_tweet")
    'fact_tweet'
    >>> validate_identifier("x; drop table y")
    Traceback (most recent call last):
    ...
    crisislake.warehouse.model.ModelError: unsafe SQL identifier 'x; drop table y'
    """
    return checked(name, ModelError)


@dataclass(frozen=True)
class SqlType:
    """A column type both dialects share. ``kind`` is one of the keys of :data:`_RENDER`."""

    kind: str
    length: int = 0
    precision: int = 0
    scale: int = 0

    def render(self, dialect: str) -> str:
        if self.kind == "varchar":
            return f"VARCHAR({self.length})"
        if self.kind == "decimal":
            return f"DECIMAL({self.precision},{self.scale})"
        return _RENDER[self.kind]

    def spark(self) -> str:
        """The Spark SQL type the export casts to (``DataFrame.select(col.cast(...))``)."""
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return _SPARK[self.kind]

    def postgres_catalog(self) -> str:
        """How ``information_schema.columns`` describes this type in PostgreSQL."""
        if self.kind == "varchar":
            return f"character varying({self.length})"
        if self.kind == "decimal":
            return f"numeric({self.precision},{self.scale})"
        return _PG_CATALOG[self.kind]


_RENDER = {
    "bigint": "BIGINT", "integer": "INTEGER", "smallint": "SMALLINT", "double": "DOUBLE PRECISION",
    "boolean": "BOOLEAN", "date": "DATE", "timestamptz": "TIMESTAMPTZ",
}
_SPARK = {
    "bigint": "bigint", "integer": "int", "smallint": "smallint", "double": "double",
    "boolean": "boolean", "date": "date", "timestamptz": "timestamp", "varchar": "string",
}
_PG_CATALOG = {
    "bigint": "bigint", "integer": "integer", "smallint": "smallint", "double": "double precision",
    "boolean": "boolean", "date": "date", "timestamptz": "timestamp with time zone",
}

BIGINT = SqlType("bigint")
INTEGER = SqlType("integer")
SMALLINT = SqlType("smallint")
DOUBLE = SqlType("double")
BOOLEAN = SqlType("boolean")
DATE = SqlType("date")
TIMESTAMPTZ = SqlType("timestamptz")  # exported as Parquet INT64 TIMESTAMP_MICROS, UTC


def VARCHAR(length: int) -> SqlType:  # noqa: N802 - reads like the SQL it renders
    if not 1 <= length <= MAX_VARCHAR:
        raise ModelError(f"VARCHAR length {length} out of range")
    return SqlType("varchar", length=length)


def DECIMAL(precision: int, scale: int) -> SqlType:  # noqa: N802
    if not (1 <= precision <= 38 and 0 <= scale <= precision):
        raise ModelError(f"DECIMAL({precision},{scale}) out of range")
    return SqlType("decimal", precision=precision, scale=scale)


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    nullable: bool = True
    comment: str = ""


@dataclass(frozen=True)
class Table:
    """One warehouse table. ``key`` is its natural key: primary key and MERGE condition."""

    name: str
    columns: Tuple[Column, ...]
    key: Tuple[str, ...]
    diststyle: str  # ALL | KEY | EVEN
    sortkey: Tuple[str, ...]
    distkey: Optional[str] = None
    why: str = ""
    exported: bool = True  # load_audit is written by the loader, never exported

    def __post_init__(self) -> None:
        validate_identifier(self.name)
        names = [validate_identifier(c.name) for c in self.columns]
        if len(set(names)) != len(names):
            raise ModelError(f"{self.name}: duplicate column names")
        for ref in list(self.key) + list(self.sortkey) + ([self.distkey] if self.distkey else []):
            if ref not in names:
                raise ModelError(f"{self.name}: {ref!r} is not a column")
        if self.diststyle not in ("ALL", "KEY", "EVEN"):
            raise ModelError(f"{self.name}: diststyle {self.diststyle!r}")
        if (self.diststyle == "KEY") != bool(self.distkey):
            raise ModelError(f"{self.name}: DISTKEY goes with DISTSTYLE KEY")

    @property
    def column_names(self) -> List[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, type_: SqlType, nullable: bool = True, comment: str = "") -> Column:
    return Column(name, type_, nullable, comment)


RUN_ID = VARCHAR(64)
URI = VARCHAR(1024)
LABEL = VARCHAR(32)
CONFIDENCE = DECIMAL(6, 5)  # probabilities rounded to 1e-5: exact thresholds and GROUP BY
COORD = DECIMAL(9, 6)  # degrees to 1e-6 (~0.1 m): exact equality, compresses well (AZ64)

DIM_DATE = Table(
    "dim_date",
    (
        _c("date_key", INTEGER, False, "yyyymmdd"),
        _c("full_date", DATE, False),
        _c("year", SMALLINT, False),
        _c("quarter", SMALLINT, False),
        _c("month", SMALLINT, False),
        _c("day", SMALLINT, False),
        _c("iso_week", SMALLINT, False),
        _c("day_of_week", SMALLINT, False, "1 = Monday"),
        _c("is_weekend", BOOLEAN, False),
    ),
    key=("date_key",), diststyle="ALL", sortkey=("date_key",),
    why="small, joined by every time-series query: a full copy per node",
)

DIM_LOCATION = Table(
    "dim_location",
    (
        _c("location_key", VARCHAR(600), False, "lower(country)|lower(admin1)"),
        _c("country", VARCHAR(256)),
        _c("iso3", VARCHAR(3)),
        _c("admin1", VARCHAR(256)),
        _c("admin1_pcode", VARCHAR(32)),
        _c("run_id", RUN_ID, False),
    ),
    key=("location_key",), diststyle="ALL", sortkey=("location_key",),
    why="thousands of rows at most (admin1 areas): a full copy per node",
)

DIM_DISASTER_TYPE = Table(
    "dim_disaster_type",
    (
        _c("disaster_type", LABEL, False),
        _c("category", VARCHAR(16), False, "natural | human-made | other"),
        _c("description", VARCHAR(256), False),
        _c("run_id", RUN_ID, False),
    ),
    key=("disaster_type",), diststyle="ALL", sortkey=("disaster_type",),
    why="eleven rows: a full copy per node",
)

DIM_EVENT_TYPE = Table(
    "dim_event_type",
    (
        _c("event_type", VARCHAR(128), False),
        _c("sub_event_type", VARCHAR(128), False),
        _c("disorder_type", VARCHAR(128)),
        _c("run_id", RUN_ID, False),
    ),
    key=("event_type", "sub_event_type"), diststyle="ALL", sortkey=("event_type", "sub_event_type"),
    why="ACLED's ~25 event/sub-event types: a full copy per node",
)

FACT_TWEET = Table(
    "fact_tweet",
    (
        _c("tweet_id", BIGINT, False),
        _c("created_at", TIMESTAMPTZ, False, "UTC"),
        _c("date_key", INTEGER, False),
        _c("lang", VARCHAR(16)),
        _c("text", VARCHAR(MAX_VARCHAR), comment="truncated to 65535 UTF-8 bytes"),
        _c("author_pseudonym", VARCHAR(64), comment="hex HMAC-SHA256 of author_id; NULL without a key"),
        _c("retweet_of_id", BIGINT),
        _c("quote_of_id", BIGINT),
        _c("reply_to_id", BIGINT),
        _c("location_key", VARCHAR(600)),
        _c("place_country", VARCHAR(256)),
        _c("place_name", VARCHAR(256)),
        _c("lat", COORD),
        _c("lon", COORD),
        _c("relevance", LABEL),
        _c("relevance_confidence", CONFIDENCE),
        _c("disaster_type", LABEL),
        _c("disaster_type_confidence", CONFIDENCE),
        _c("police_force", LABEL),
        _c("police_force_confidence", CONFIDENCE),
        _c("force_rank", LABEL),
        _c("force_rank_confidence", CONFIDENCE),
        _c("information_type", LABEL),
        _c("information_type_confidence", CONFIDENCE),
        _c("needs_review", BOOLEAN, False, "a label of this tweet is in the review queue"),
        _c("cluster_id", BIGINT),
        _c("is_canonical", BOOLEAN),
        _c("incident_id", VARCHAR(64)),
        _c("source_uri", URI, False),
        _c("source_line", BIGINT),
        _c("ingested_at", TIMESTAMPTZ),
        _c("run_id", RUN_ID, False, "the export run that last wrote the row"),
    ),
    key=("tweet_id",), diststyle="KEY", distkey="tweet_id", sortkey=("created_at",),
    why="the biggest table; distributed on its MERGE key, sorted for date-range filters",
)

FACT_CONFLICT_EVENT = Table(
    "fact_conflict_event",
    (
        _c("event_id_cnty", VARCHAR(64), False),
        _c("event_date", DATE, False),
        _c("date_key", INTEGER, False),
        _c("year", SMALLINT),
        _c("time_precision", SMALLINT),
        _c("disorder_type", VARCHAR(128)),
        _c("event_type", VARCHAR(128)),
        _c("sub_event_type", VARCHAR(128)),
        _c("actor1", VARCHAR(512)),
        _c("assoc_actor_1", VARCHAR(1024)),
        _c("inter1", VARCHAR(64)),
        _c("actor2", VARCHAR(512)),
        _c("assoc_actor_2", VARCHAR(1024)),
        _c("inter2", VARCHAR(64)),
        _c("interaction", VARCHAR(128)),
        _c("civilian_targeting", VARCHAR(64)),
        _c("iso", SMALLINT, comment="ISO 3166 numeric code"),
        _c("region", VARCHAR(128)),
        _c("country", VARCHAR(256)),
        _c("admin1", VARCHAR(256)),
        _c("admin2", VARCHAR(256)),
        _c("admin3", VARCHAR(256)),
        _c("location", VARCHAR(512)),
        _c("location_key", VARCHAR(600)),
        _c("latitude", COORD),
        _c("longitude", COORD),
        _c("geo_precision", SMALLINT),
        _c("source", VARCHAR(2048)),
        _c("source_scale", VARCHAR(256)),
        _c("notes", VARCHAR(MAX_VARCHAR)),
        _c("fatalities", INTEGER),
        _c("tags", VARCHAR(1024)),
        _c("acled_timestamp", BIGINT, comment="ACLED's own last-modified epoch seconds"),
        _c("is_deleted", BOOLEAN, False),
        _c("deleted_by_run", RUN_ID),
        _c("source_uri", URI, False),
        _c("source_line", BIGINT),
        _c("run_id", RUN_ID, False),
    ),
    key=("event_id_cnty",), diststyle="KEY", distkey="event_id_cnty", sortkey=("event_date",),
    why="distributed on its MERGE key (revisions touch scattered events), sorted by event date",
)

FACT_INCIDENT = Table(
    "fact_incident",
    (
        _c("incident_id", VARCHAR(64), False, "stable id"),
        _c("first_seen", TIMESTAMPTZ, False, "earliest report"),
        _c("last_seen", TIMESTAMPTZ, False, "latest report"),
        _c("date_key", INTEGER, False, "yyyymmdd of first_seen"),
        _c("n_reports", BIGINT, False, "tweets in the incident"),
        _c("representative_text", VARCHAR(MAX_VARCHAR), comment="the canonical report's text (handles pseudonymised)"),
        _c("place", VARCHAR(512), comment="display name, e.g. 'Minneapolis, Minnesota, USA'"),
        _c("latitude", COORD, comment="null when unknown"),
        _c("longitude", COORD, comment="null when unknown"),
        _c("country_iso3", VARCHAR(3)),
        _c("admin1_name", VARCHAR(256)),
        _c("admin1_pcode", VARCHAR(32)),
        _c("admin2_name", VARCHAR(256)),
        _c("admin2_pcode", VARCHAR(32)),
        _c("place_confidence", DECIMAL(4, 3), comment="0..1, null when no place"),
        _c("incident_type", VARCHAR(64), comment="e.g. police_violence, flood, earthquake"),
        _c("force_rank", SMALLINT, comment="0..5, max over reports; null if none"),
        _c("labels", VARCHAR(1024), comment="comma-separated, sorted"),
        _c("corroborated", BOOLEAN, False, "at least one independent record matches"),
        _c("corroboration_score", DECIMAL(4, 3), comment="0..1, null when nothing matched"),
        _c("acled_event_ids", VARCHAR(4096), comment="comma-separated ACLED event_id_cnty"),
        _c("reported_incident_ids", VARCHAR(4096), comment="comma-separated curated/reported_incidents ids"),
        _c("run_id", RUN_ID, False),
    ),
    key=("incident_id",), diststyle="KEY", distkey="incident_id", sortkey=("first_seen",),
    why="distributed on its MERGE key; sorted by first report",
)

BRIDGE_INCIDENT_TWEET = Table(
    "bridge_incident_tweet",
    (
        _c("incident_id", VARCHAR(64), False),
        _c("tweet_id", BIGINT, False, "joins fact_tweet"),
        _c("tweet_url", VARCHAR(256), False, "https://twitter.com/i/web/status/<tweet_id> (no handle)"),
        _c("author_pseudonym", VARCHAR(64)),
        _c("created_at", TIMESTAMPTZ),
        _c("is_canonical", BOOLEAN, False),
        _c("run_id", RUN_ID, False),
    ),
    key=("incident_id", "tweet_id"), diststyle="KEY", distkey="incident_id", sortkey=("incident_id",),
    why="the evidence of each incident; co-located with fact_incident on incident_id",
)

BRIDGE_INCIDENT_CORROBORATION = Table(
    "bridge_incident_corroboration",
    (
        _c("incident_id", VARCHAR(64), False),
        _c("source", VARCHAR(32), False, "acled | reported_incidents"),
        _c("source_id", VARCHAR(128), False, "event_id_cnty or the reported incident's id"),
        _c("score", DECIMAL(4, 3), False),
        _c("event_date", DATE),
        _c("description", VARCHAR(MAX_VARCHAR)),
        _c("url", VARCHAR(2048), comment="first evidence/source link, when the source has one"),
        _c("run_id", RUN_ID, False),
    ),
    key=("incident_id", "source", "source_id"), diststyle="KEY", distkey="incident_id", sortkey=("incident_id",),
    why="what confirms each incident; co-located with fact_incident on incident_id",
)

REVIEW_QUEUE = Table(
    "review_queue",
    (
        _c("tweet_id", BIGINT, False),
        _c("task", VARCHAR(32), False),
        _c("label", LABEL, comment="the model's label awaiting review"),
        _c("confidence", CONFIDENCE),
        _c("threshold", CONFIDENCE, comment="the task's review threshold"),
        _c("reason", VARCHAR(256)),
        _c("model_version", VARCHAR(64), False),
        _c("run_id", RUN_ID, False),
    ),
    key=("tweet_id", "task", "model_version"), diststyle="KEY", distkey="tweet_id", sortkey=("confidence",),
    why="enriched/review_queue: predictions below the review threshold; read most uncertain first",
)

REVIEW_DECISIONS = Table(
    "review_decisions",
    (
        _c("decision_id", VARCHAR(64), False, "hex SHA-256 of reviewer, tweet, task, decision, label, previous decision"),
        _c("tweet_id", BIGINT, False),
        _c("task", VARCHAR(32), False),
        _c("decision", VARCHAR(16), False, "confirm | reject | relabel"),
        _c("label", LABEL, comment="confirm/reject: the model's label judged; relabel: the correct label"),
        _c("model_label", LABEL, comment="the model's label when the decision was made"),
        _c("model_version", VARCHAR(64)),
        _c("reviewer", VARCHAR(64), False),
        _c("decided_at", TIMESTAMPTZ, False, "UTC"),
    ),
    key=("decision_id",), diststyle="KEY", distkey="tweet_id", sortkey=("decided_at",),
    why="append-only reviewer decisions, written by `crisislake serve`; copied to enriched/review_decisions",
    exported=False,
)

LOAD_AUDIT = Table(
    "load_audit",
    (
        _c("run_id", RUN_ID, False),
        _c("table_name", VARCHAR(128), False),
        _c("rows_loaded", BIGINT, False),
        _c("files", INTEGER, False),
        _c("bytes", BIGINT, False),
        _c("manifest_url", URI, False),
        _c("backend", VARCHAR(16), False),
        _c("started_at", TIMESTAMPTZ, False),
        _c("finished_at", TIMESTAMPTZ, False),
    ),
    key=("run_id", "table_name"), diststyle="ALL", sortkey=("run_id",),
    why="one row per table per load; read by every load's exactly-once check",
    exported=False,
)

# Load order: dimensions first, so a dashboard never sees a fact whose dimension row is missing.
TABLES: Tuple[Table, ...] = (
    DIM_DATE, DIM_LOCATION, DIM_DISASTER_TYPE, DIM_EVENT_TYPE,
    FACT_TWEET, FACT_CONFLICT_EVENT, FACT_INCIDENT, BRIDGE_INCIDENT_TWEET, BRIDGE_INCIDENT_CORROBORATION,
    REVIEW_QUEUE, REVIEW_DECISIONS, LOAD_AUDIT,
)
BY_NAME: Dict[str, Table] = {t.name: t for t in TABLES}
EXPORTED: Tuple[Table, ...] = tuple(t for t in TABLES if t.exported)


def table(name: str) -> Table:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ModelError(f"unknown warehouse table {name!r}; known: {', '.join(BY_NAME)}") from None


def render_table(t: Table, dialect: str, schema: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one table in ``dialect``."""
    if dialect not in DIALECTS:
        raise ModelError(f"unknown dialect {dialect!r}")
    validate_identifier(schema)
    width = max(len(c.name) for c in t.columns)
    lines = []
    for c in t.columns:
        null = " NOT NULL" if not c.nullable else ""
        lines.append(f"    {c.name.ljust(width)} {c.type.render(dialect)}{null}")
    lines.append(f"    PRIMARY KEY ({', '.join(t.key)})")
    head = f"-- {t.why}\n" if t.why else ""
    body = ",\n".join(lines)
    out = f"{head}CREATE TABLE IF NOT EXISTS {schema}.{t.name} (\n{body}\n)"
    if dialect == "redshift":
        out += f"\nDISTSTYLE {t.diststyle}"
        if t.distkey:
            out += f"\nDISTKEY ({t.distkey})"
        out += f"\nCOMPOUND SORTKEY ({', '.join(t.sortkey)})\nENCODE AUTO"
    return out + ";\n"


def sql_string(text: str) -> str:
    """A SQL string literal (single quotes doubled).

    >>> sql_string("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def render_comments(t: Table, schema: str) -> List[str]:
    """``COMMENT ON`` statements (same text in both dialects) for the table's purpose and each
    column that has a comment in the model, so a catalogue browser shows what a column means."""
    validate_identifier(schema)
    out = []
    if t.why:
        out.append(f"COMMENT ON TABLE {schema}.{t.name} IS {sql_string(t.why)};")
    out += [f"COMMENT ON COLUMN {schema}.{t.name}.{c.name} IS {sql_string(c.comment)};"
            for c in t.columns if c.comment]
    return out


def render_ddl(dialect: str, schema: str = "crisislake", tables: Sequence[Table] = TABLES) -> str:
    """The whole schema's DDL in ``dialect`` (idempotent: IF NOT EXISTS everywhere)."""
    header = (
        f"-- crisislake warehouse, {dialect} DDL. Generated from lib/crisislake/warehouse/model.py:\n"
        f"-- do not edit; run `python -m crisislake.warehouse.model sql` to regenerate.\n"
    )
    parts = [header, f"CREATE SCHEMA IF NOT EXISTS {validate_identifier(schema)};\n"]
    for t in tables:
        comments = render_comments(t, schema)
        parts.append(render_table(t, dialect, schema) + ("\n".join(comments) + "\n" if comments else ""))
    return "\n".join(parts)


def spark_schema(t: Table):
    """The Spark ``StructType`` an export of ``t`` must have (names, order, types, nullability)."""
    from pyspark.sql import types as T

    simple = {
        "bigint": T.LongType(), "integer": T.IntegerType(), "smallint": T.ShortType(), "double": T.DoubleType(),
        "boolean": T.BooleanType(), "date": T.DateType(), "timestamptz": T.TimestampType(), "varchar": T.StringType(),
    }

    def spark_type(sql_type: SqlType):
        if sql_type.kind == "decimal":
            return T.DecimalType(sql_type.precision, sql_type.scale)
        return simple[sql_type.kind]

    return T.StructType([T.StructField(c.name, spark_type(c.type), c.nullable) for c in t.columns])


def arrow_type_matches(sql_type: SqlType, arrow_type) -> bool:
    """Whether a Parquet column (as pyarrow reads it) loads into ``sql_type`` without surprises.

    Timestamps must be microseconds and UTC-adjusted (an INT96 or nanosecond column is refused).
    """
    import pyarrow as pa
    import pyarrow.types as pat

    kind = sql_type.kind
    if kind == "timestamptz":
        return pat.is_timestamp(arrow_type) and arrow_type.unit == "us" and arrow_type.tz in ("UTC", "+00:00", "Z")
    if kind == "decimal":
        return pat.is_decimal(arrow_type) and (arrow_type.precision, arrow_type.scale) == (
            sql_type.precision, sql_type.scale)
    if kind == "varchar":
        return pat.is_string(arrow_type) or pat.is_large_string(arrow_type)
    expected = {
        "bigint": pa.int64(), "integer": pa.int32(), "smallint": pa.int16(), "double": pa.float64(),
        "boolean": pa.bool_(), "date": pa.date32(),
    }[kind]
    return arrow_type == expected


def sql_files(schema: str = "crisislake") -> Dict[str, str]:
    """File name -> content of the checked-in renderings under ``sql/``."""
    return {f"{d}_schema.sql": render_ddl(d, schema) for d in DIALECTS}


def write_sql_files(directory: str) -> List[str]:
    out = []
    for name, text in sql_files().items():
        path = Path(directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out.append(str(path))
    return out


if __name__ == "__main__":  # pragma: no cover
    for written in write_sql_files(sys.argv[1] if len(sys.argv) > 1 else "sql"):
        print(written)
