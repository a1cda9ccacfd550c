"""``crisislake serve setup``: the API's two database roles and the indexes its queries use.

Run once (and again after new tables appear: it is idempotent) with the warehouse owner's DSN
(``warehouse.postgres_url``), after ``crisislake load`` has created the tables:

* ``serve.reader_role`` (default ``crisislake_reader``): LOGIN, USAGE on the schema, SELECT on
  every table in it (also tables created later by the same owner), sessions read-only by default.
  Every GET runs as this role.
* ``serve.reviewer_role`` (default ``crisislake_reviewer``): SELECT on the three tables a decision
  reads, INSERT on ``review_decisions``, nothing else: no UPDATE or DELETE anywhere, so decisions
  are append-only in the database itself, not only in the API.
* B-tree indexes for the listing orders and filters (PostgreSQL only; Redshift uses sort keys).

No password is set: locally the server trusts loopback; on RDS set one with ``ALTER ROLE ...
PASSWORD`` from a secret store or use IAM database authentication, and give the API its DSNs in
``CRISISLAKE_SERVE__READ_URL`` / ``CRISISLAKE_SERVE__WRITE_URL``.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from crisislake.errors import CrisislakeError
from crisislake.serve.db import ident

REQUIRED_TABLES = ("fact_incident", "bridge_incident_tweet", "bridge_incident_corroboration", "fact_tweet",
                   "review_queue", "review_decisions", "load_audit")
REVIEWER_READS = ("fact_tweet", "review_queue", "review_decisions")
# (table, columns with their order): indexes named ix_<table>_<n>.
INDEXES: Tuple[Tuple[str, str], ...] = (
    ("fact_incident", "first_seen DESC, incident_id DESC"),
    ("fact_incident", "admin1_pcode, first_seen DESC, incident_id DESC"),
    ("fact_incident", "admin2_pcode, first_seen DESC, incident_id DESC"),
    ("fact_incident", "country_iso3, first_seen DESC, incident_id DESC"),
    ("fact_incident", "admin1_name, first_seen DESC, incident_id DESC"),
    ("fact_incident", "admin2_name, first_seen DESC, incident_id DESC"),
    ("bridge_incident_corroboration", "incident_id, score DESC"),
    ("review_queue", "tweet_id, task, model_version"),
    ("review_decisions", "tweet_id, task, reviewer, decided_at DESC"),
)


class SetupError(CrisislakeError, RuntimeError):
    """The warehouse is not ready for the API (tables missing) or refused the setup."""


def setup_statements(schema: str, reader: str, reviewer: str) -> List[str]:
    """The DDL/DCL, in order. Every identifier is validated; there are no values to bind."""
    s, r, w = ident(schema), ident(reader), ident(reviewer)
    out = []
    for role in (r, w):
        out.append(f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
                   f"THEN CREATE ROLE {role} LOGIN; END IF; END $$")
    out += [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO {r}",
        f"ALTER ROLE {r} SET default_transaction_read_only = on",
        f"GRANT USAGE ON SCHEMA {s} TO {w}",
        f"GRANT SELECT ON {', '.join(f'{s}.{t}' for t in REVIEWER_READS)} TO {w}",
        f"GRANT INSERT ON {s}.review_decisions TO {w}",
    ]
    for n, (tbl, cols) in enumerate(INDEXES):
        out.append(f"CREATE INDEX IF NOT EXISTS ix_{ident(tbl)}_{n} ON {s}.{tbl} ({cols})")
    out.append(f"ANALYZE {s}.fact_incident")
    return out


def missing_tables(conn, schema: str) -> List[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                        (schema,)).fetchall()
    have = {r[0] for r in rows}
    return [t for t in REQUIRED_TABLES if t not in have]


def setup(admin_url: str, schema: str, reader: str, reviewer: str) -> Dict[str, object]:
    """Create or update the roles, grants and indexes; returns what was done."""
    import psycopg

    if not admin_url:
        raise SetupError("warehouse.postgres_url is empty: set CRISISLAKE_WAREHOUSE__POSTGRES_URL to the "
                         "warehouse owner's DSN for `crisislake serve setup`")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        missing = missing_tables(conn, ident(schema))
        if missing:
            raise SetupError(f"schema {schema} lacks {', '.join(missing)}: load the warehouse first "
                             "(`make run` or `crisislake load`)")
        statements = setup_statements(schema, reader, reviewer)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('crisislake-serve-setup'))")
            for statement in statements:
                conn.execute(statement)
    return {"schema": schema, "reader_role": reader, "reviewer_role": reviewer, "statements": len(statements),
            "indexes": len(INDEXES)}


def role_url(admin_url: str, role: str) -> str:
    """``admin_url`` with its user replaced by ``role`` (local trust auth; no password carried).

    >>> role_url("postgresql://postgres@127.0.0.1:55432/crisislake", "crisislake_reader")
    'postgresql://crisislake_reader@127.0.0.1:55432/crisislake'
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_url)
    host = parts.hostname or ""
    netloc = f"{ident(role)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
