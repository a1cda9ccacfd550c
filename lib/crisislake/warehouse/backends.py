"""Where a load runs: PostgreSQL (local, tests) or Redshift through the Data API.

Both execute the statements of :func:`crisislake.warehouse.loadsql.render_load` in one
transaction per table. PostgreSQL replaces the COPY-from-S3 with ``COPY ... FROM STDIN`` fed by
the manifest's Parquet files, streamed in record batches.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Dict, List, Optional, Sequence, Set

from crisislake.config import ConfigError, WarehouseSettings
from crisislake.errors import CrisislakeError
from crisislake.warehouse import model as m
from crisislake.warehouse.loadsql import LoadPlan, loaded_tables_sql
from crisislake.warehouse.manifest import ExportInfo, iter_csv_chunks

log = logging.getLogger(__name__)

Hook = Optional[Callable[[str], None]]


class WarehouseLoadError(CrisislakeError, RuntimeError):
    """The database refused a load; the message carries the database's own error text."""


class SchemaDriftError(CrisislakeError, ValueError):
    """A target table's columns differ from the model; names the table and column."""


def ddl_statements(dialect: str, schema: str, comments: bool = True) -> List[str]:
    """The schema's DDL as single statements (the Redshift Data API runs one per call); the
    ``COMMENT ON`` statements last, so a drift check can run before them."""
    out = [f"CREATE SCHEMA IF NOT EXISTS {m.validate_identifier(schema)};"]
    out += [m.render_table(t, dialect, schema).strip() for t in m.TABLES]
    if comments:
        out += comment_statements(schema)
    return out


def comment_statements(schema: str) -> List[str]:
    return [c for t in m.TABLES for c in m.render_comments(t, schema)]


def check_columns(table: m.Table, actual: Sequence[tuple]) -> None:
    """Compare catalogue rows ``(name, type_text)`` in ordinal order with the model.

    >>> check_columns(m.DIM_DISASTER_TYPE, [("disaster_type", "character varying(32)")])
    Traceback (most recent call last):
    ...
    crisislake.warehouse.backends.SchemaDriftError: dim_disaster_type: column category is missing from the target (schema drift)
    """
    expected = [(c.name, c.type.postgres_catalog()) for c in table.columns]
    for i, (name, type_text) in enumerate(expected):
        if i >= len(actual):
            raise SchemaDriftError(f"{table.name}: column {name} is missing from the target (schema drift)")
        a_name, a_type = actual[i]
        if a_name != name:
            raise SchemaDriftError(f"{table.name}: target column {i + 1} is {a_name!r}, model says {name!r} (schema drift)")
        if a_type != type_text:
            raise SchemaDriftError(f"{table.name}: column {name} is {a_type} in the target, model says {type_text} (schema drift)")
    if len(actual) > len(expected):
        raise SchemaDriftError(f"{table.name}: target has extra column {actual[len(expected)][0]!r} (schema drift)")


class PostgresBackend:
    """The same DDL, staging, MERGE and audit SQL on PostgreSQL 15+, COPY fed from the manifest."""

    dialect = "postgres"

    def __init__(self, url: str, schema: str, batch_rows: int = 65536):
        if not url:
            raise ConfigError("warehouse.postgres_url is empty: set CRISISLAKE_WAREHOUSE__POSTGRES_URL")
        self.url = url
        self.schema = m.validate_identifier(schema)
        self.batch_rows = batch_rows

    def _connect(self):
        import psycopg

        conn = psycopg.connect(self.url, autocommit=False)
        conn.execute("SET TIME ZONE 'UTC'")
        conn.commit()
        return conn

    def ensure_schema(self) -> None:
        """Create the schema and tables if missing, refuse a target that drifted, then set the
        column comments."""
        with self._connect() as conn:
            with conn.transaction():
                self._lock_ddl(conn)
                for sql in ddl_statements(self.dialect, self.schema, comments=False):
                    conn.execute(sql)
            for table in m.TABLES:
                self._check_drift(conn, table)
            with conn.transaction():
                self._lock_ddl(conn)
                for sql in comment_statements(self.schema):
                    conn.execute(sql)

    def _lock_ddl(self, conn) -> None:
        """Serialise DDL on this schema between concurrent loads: two ``CREATE SCHEMA IF NOT
        EXISTS`` racing otherwise end in a unique violation (seen with two loads at once)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"crisislake-ddl:{self.schema}",))

    def _check_drift(self, conn, table: m.Table) -> None:
        rows = conn.execute(
            "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
            "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema, table.name),
        ).fetchall()
        actual = []
        for name, data_type, length, precision, scale in rows:
            if data_type == "character varying":
                data_type = f"character varying({length})"
            elif data_type == "numeric":
                data_type = f"numeric({precision},{scale})"
            actual.append((name, data_type))
        check_columns(table, actual)

    def loaded_tables(self, run_id: str) -> Set[str]:
        with self._connect() as conn:
            return {r[0] for r in conn.execute(loaded_tables_sql(self.schema, run_id)).fetchall()}

    def load(self, plan: LoadPlan, info: ExportInfo, hook: Hook = None) -> Dict[str, object]:
        """Run ``plan`` in one transaction; a repeated run id changes nothing.

        ``hook(step)`` is called after each statement (tests use it to crash mid-load).
        """
        with self._connect() as conn:
            with conn.transaction():
                cur = conn.cursor()
                cur.execute(plan.sql("lock"))
                already = cur.execute(
                    f"SELECT 1 FROM {self.schema}.{m.LOAD_AUDIT.name} WHERE run_id = %s AND table_name = %s",
                    (plan.run_id, plan.table.name),
                ).fetchone()
                if already:
                    return {"skipped": True, "reason": "already in load_audit"}
                cur.execute(plan.sql("stage"))
                _call(hook, "stage")
                with cur.copy(plan.sql("copy")) as copy:
                    for chunk in iter_csv_chunks(info.urls, self.batch_rows):
                        copy.write(chunk)
                _call(hook, "copy")
                cur.execute(plan.sql("guard"))
                on = " AND ".join(f"t.{k} = s.{k}" for k in plan.table.key)
                updated = cur.execute(
                    f"SELECT COUNT(*) FROM {plan.stage} s JOIN {plan.schema}.{plan.table.name} t ON {on}"
                ).fetchone()[0]
                cur.execute(plan.sql("merge"))
                merged = cur.rowcount
                _call(hook, "merge")
                cur.execute(plan.sql("audit"))
                cur.execute(plan.sql("drop"))
                _call(hook, "audit")
        return {"rows": merged, "inserted": merged - updated, "updated": updated}


def _call(hook: Hook, step: str) -> None:
    if hook is not None:
        hook(step)


class RedshiftDataApiBackend:
    """Redshift through the Data API: one ``batch_execute_statement`` (one transaction) per table.

    Provisioned clusters use ``redshift_cluster_id`` with ``redshift_db_user`` (temporary
    credentials) or ``redshift_secret_arn``; Serverless uses ``redshift_workgroup`` (optionally
    with a secret). The Data API has no waiter, so :meth:`wait` polls ``describe_statement`` with
    capped exponential backoff and cancels the statement when ``timeout_s`` runs out.
    """

    dialect = "redshift"
    DONE = ("FINISHED", "FAILED", "ABORTED")

    def __init__(self, settings: WarehouseSettings, client=None, endpoint_url: str = "",
                 poll_s: float = 0.5, max_poll_s: float = 10.0, timeout_s: float = 3600.0):
        self.settings = settings
        self.schema = m.validate_identifier(settings.schema)
        self.target = self.target_kwargs(settings)
        self.poll_s, self.max_poll_s, self.timeout_s = poll_s, max_poll_s, timeout_s
        if client is None:
            from crisislake import aws

            client = aws.client("redshift-data", endpoint_url=endpoint_url)
        self.client = client

    @staticmethod
    def target_kwargs(settings: WarehouseSettings) -> Dict[str, str]:
        """Data API connection arguments for a provisioned cluster or a Serverless workgroup."""
        out = {"Database": settings.redshift_database}
        if settings.redshift_workgroup:
            out["WorkgroupName"] = settings.redshift_workgroup
            if settings.redshift_secret_arn:
                out["SecretArn"] = settings.redshift_secret_arn
        elif settings.redshift_cluster_id:
            out["ClusterIdentifier"] = settings.redshift_cluster_id
            if settings.redshift_secret_arn:
                out["SecretArn"] = settings.redshift_secret_arn
            elif settings.redshift_db_user:
                out["DbUser"] = settings.redshift_db_user
            else:
                raise ConfigError("warehouse.redshift_cluster_id needs redshift_db_user or redshift_secret_arn")
        else:
            raise ConfigError("set warehouse.redshift_workgroup (Serverless) or warehouse.redshift_cluster_id")
        return out

    def _call(self, operation: str, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise WarehouseLoadError(
                f"Redshift Data API {operation} failed: {error.get('Code', '?')}: {error.get('Message', exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise WarehouseLoadError(f"Redshift Data API {operation} failed: {exc}") from exc

    def wait(self, statement_id: str, what: str) -> dict:
        """Poll until the statement ends; raise with Redshift's error text unless it FINISHED."""
        deadline = time.monotonic() + self.timeout_s
        delay = self.poll_s
        while True:
            desc = self._call("describe_statement", Id=statement_id)
            status = desc.get("Status")
            if status in self.DONE:
                break
            if time.monotonic() >= deadline:
                self._call("cancel_statement", Id=statement_id)
                raise WarehouseLoadError(
                    f"{what}: statement {statement_id} still {status} after {self.timeout_s:.0f}s; cancelled"
                )
            time.sleep(delay)
            delay = min(delay * 2, self.max_poll_s)
        if status != "FINISHED":
            detail = desc.get("Error") or ""
            for sub in desc.get("SubStatements") or []:
                if sub.get("Status") in ("FAILED", "ABORTED") and sub.get("Error"):
                    detail = f"{sub['Error']} (in: {str(sub.get('QueryString', ''))[:200]})"
                    break
            raise WarehouseLoadError(f"{what}: Redshift reported {status}: {detail or 'no error text'}")
        return desc

    def run_batch(self, sqls: Sequence[str], name: str) -> dict:
        resp = self._call("batch_execute_statement", Sqls=list(sqls), StatementName=name[:500], **self.target)
        return self.wait(resp["Id"], name)

    def ensure_schema(self) -> None:
        self.run_batch(ddl_statements(self.dialect, self.schema), "crisislake-ddl")

    def loaded_tables(self, run_id: str) -> Set[str]:
        resp = self._call("execute_statement", Sql=loaded_tables_sql(self.schema, run_id),
                          StatementName="crisislake-audit-check", **self.target)
        desc = self.wait(resp["Id"], "load_audit check")
        if not desc.get("HasResultSet"):
            return set()
        out: Set[str] = set()
        token = None
        while True:
            page = self._call("get_statement_result", Id=resp["Id"], **({"NextToken": token} if token else {}))
            out.update(r[0].get("stringValue", "") for r in page.get("Records", []))
            token = page.get("NextToken")
            if not token:
                return out

    def load(self, plan: LoadPlan, info: ExportInfo, hook: Hook = None) -> Dict[str, object]:
        desc = self.run_batch([s.sql for s in plan.statements], f"crisislake-load-{plan.table.name}-{plan.run_id}")
        merged = None
        for sub, statement in zip(desc.get("SubStatements") or [], plan.statements):
            if statement.step == "merge":
                merged = sub.get("ResultRows")
        return {"rows": merged if merged is not None else info.rows, "statement_id": desc.get("Id")}
