"""The SQL of one exactly-once table load, rendered from the model for Redshift or PostgreSQL.

Per table, in one transaction::

    LOCK TABLE <schema>.load_audit;                      -- serialises concurrent loads
    CREATE TEMP TABLE stage_<t> (LIKE <schema>.<t>);     -- same columns, DISTKEY, SORTKEY
    COPY stage_<t> FROM '<manifest>' IAM_ROLE '<role>' FORMAT AS PARQUET MANIFEST;
                                                         -- PostgreSQL: COPY ... FROM STDIN
    DELETE FROM stage_<t> WHERE EXISTS (<run already in load_audit>);
    MERGE INTO <schema>.<t> USING stage_<t> ON <natural key> ...;
    INSERT INTO <schema>.load_audit ... WHERE NOT EXISTS (<run already in load_audit>);
    DROP TABLE stage_<t>;

The two guards make a repeated run id a no-op even without the loader's own pre-check, so
exactly-once holds inside the database, not only in the client. Identifiers are checked against
:data:`crisislake.identifiers.IDENTIFIER`; the few literal values (run id, manifest URL, IAM role, timestamps) are
validated against strict patterns and quoted by :func:`sql_literal` because the Data API's
``batch_execute_statement`` takes no bind parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

from crisislake.warehouse.model import LOAD_AUDIT, ModelError, Table, validate_identifier

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
URL = re.compile(r"^(s3|file)://[A-Za-z0-9_.:/=+@%,~-]+$")
IAM_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d{1,6})?(\+00:00|Z)$")


def sql_literal(value: str, pattern: Optional[re.Pattern] = None, what: str = "value") -> str:
    """Quote ``value`` as a SQL string literal after checking it against ``pattern``.

    Quotes are doubled; backslashes and control characters are refused outright (Redshift reads
    backslash escapes inside literals, PostgreSQL does not, so no string containing one is safe
    in both).

    >>> sql_literal("20261127T234500Z-1a2b3c4d", RUN_ID, "run id")
    "'20261127T234500Z-1a2b3c4d'"
    >>> sql_literal("O'Brien")
    "'O''Brien'"
    """
    if not isinstance(value, str):
        raise ModelError(f"{what}: expected a string, got {type(value).__name__}")
    if pattern is not None and not pattern.match(value):
        raise ModelError(f"{what} {value!r} does not match {pattern.pattern}")
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        raise ModelError(f"{what} {value!r} contains a backslash or control character")
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Statement:
    step: str  # lock | stage | copy | guard | merge | audit | drop
    sql: str


@dataclass
class LoadPlan:
    """Everything needed to load one table of one export run."""

    table: Table
    schema: str
    run_id: str
    manifest_url: str
    files: int
    bytes: int
    rows: int
    dialect: str
    statements: List[Statement] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return f"stage_{self.table.name}"

    def sql(self, step: str) -> str:
        for s in self.statements:
            if s.step == step:
                return s.sql
        raise KeyError(step)

    def script(self) -> str:
        """The exact statements, in order, as one printable script."""
        return "\n".join(s.sql for s in self.statements)


def _already_loaded(schema: str, run_lit: str, table_lit: str) -> str:
    return f"SELECT 1 FROM {schema}.{LOAD_AUDIT.name} WHERE run_id = {run_lit} AND table_name = {table_lit}"


def render_load(
    table: Table,
    dialect: str,
    schema: str,
    run_id: str,
    manifest_url: str,
    files: int,
    bytes_: int,
    rows: int,
    started_at: str,
    iam_role: str = "",
) -> LoadPlan:
    """Render the statements of one table load (see the module docstring for their order)."""
    schema = validate_identifier(schema)
    name = validate_identifier(table.name)
    run_lit = sql_literal(run_id, RUN_ID, "run id")
    url_lit = sql_literal(manifest_url, URL, "manifest url")
    started_lit = sql_literal(started_at, TIMESTAMP, "started_at")
    table_lit = sql_literal(name)
    plan = LoadPlan(table, schema, run_id, manifest_url, int(files), int(bytes_), int(rows), dialect)
    stage = plan.stage
    target = f"{schema}.{name}"
    cols = table.column_names
    if dialect == "redshift":
        if not manifest_url.startswith("s3://"):
            raise ModelError(f"{name}: Redshift COPY needs an s3:// manifest, got {manifest_url!r}: "
                             "export to a lake on S3 (--lake-root s3://BUCKET/PREFIX) to load Redshift")
        copy = (
            f"COPY {stage} FROM {url_lit} IAM_ROLE {sql_literal(iam_role, IAM_ROLE, 'IAM role')} "
            f"FORMAT AS PARQUET MANIFEST;"
        )
        now = "GETDATE()"
    elif dialect == "postgres":
        copy = f"COPY {stage} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv);"
        now = "now()"
    else:
        raise ModelError(f"unknown dialect {dialect!r}")
    on = " AND ".join(f"{name}.{k} = {stage}.{k}" for k in table.key)
    non_key = [c for c in cols if c not in table.key]
    update = ", ".join(f"{c} = {stage}.{c}" for c in non_key)
    merge = (
        f"MERGE INTO {target} USING {stage} ON {on}\n"
        f"WHEN MATCHED THEN UPDATE SET {update}\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(cols)}) VALUES ({', '.join(f'{stage}.{c}' for c in cols)});"
    )
    audit_cols = ", ".join(LOAD_AUDIT.column_names)
    audit = (
        f"INSERT INTO {schema}.{LOAD_AUDIT.name} ({audit_cols})\n"
        f"SELECT {run_lit}, {table_lit}, (SELECT COUNT(*) FROM {stage}), {int(files)}, {int(bytes_)}, "
        f"{url_lit}, {sql_literal(dialect)}, CAST({started_lit} AS TIMESTAMPTZ), {now}\n"
        f"WHERE NOT EXISTS ({_already_loaded(schema, run_lit, table_lit)});"
    )
    plan.statements = [
        Statement("lock", f"LOCK TABLE {schema}.{LOAD_AUDIT.name};"),
        Statement("stage", f"CREATE TEMP TABLE {stage} (LIKE {target});"),
        Statement("copy", copy),
        Statement("guard", f"DELETE FROM {stage} WHERE EXISTS ({_already_loaded(schema, run_lit, table_lit)});"),
        Statement("merge", merge),
        Statement("audit", audit),
        Statement("drop", f"DROP TABLE {stage};"),
    ]
    return plan


def loaded_tables_sql(schema: str, run_id: str) -> str:
    """The pre-check: which tables of ``run_id`` are already loaded."""
    return (
        f"SELECT table_name FROM {validate_identifier(schema)}.{LOAD_AUDIT.name} "
        f"WHERE run_id = {sql_literal(run_id, RUN_ID, 'run id')};"
    )
