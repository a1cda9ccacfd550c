"""Warehouse access for the API: two connection pools, validated identifiers, bound values only.

Every statement is composed with :mod:`psycopg.sql`: identifiers (schema, tables, columns) are
checked against :data:`crisislake.identifiers.IDENTIFIER` and quoted by ``sql.Identifier``; every value travels as a
bind parameter, never as SQL text. The SQL text of each statement (placeholders, no values) is
logged at DEBUG on ``crisislake.serve.sql``, which the tests read to prove it.

The read pool connects as the read-only role (``serve.read_url``); its sessions are also
``default_transaction_read_only``. The write pool connects as the reviewer role
(``serve.write_url``), which may only INSERT into ``review_decisions``.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional

from crisislake.errors import CrisislakeError
from crisislake.identifiers import checked

log = logging.getLogger("crisislake.serve.sql")



class ServeConfigError(CrisislakeError, ValueError):
    """The API cannot start: a DSN, token list or identifier in its settings is unusable."""


class WarehouseUnavailable(CrisislakeError, RuntimeError):
    """The warehouse did not answer (connection refused, timeout, pool exhausted)."""


def ident(name: str) -> str:
    """``name`` if it is a safe lower-case SQL identifier, else raise :class:`ServeConfigError`.

    >>> ident("fact_incident")
    'fact_incident'
    >>> ident("x; drop table y")
    Traceback (most recent call last):
    ...
    crisislake.serve.db.ServeConfigError: unsafe SQL identifier 'x; drop table y'
    """
    return checked(name, ServeConfigError)


def table(schema: str, name: str):
    """``schema.name`` as a composed, quoted SQL identifier."""
    from psycopg import sql

    return sql.Identifier(ident(schema), ident(name))


def _configure(read_only: bool, statement_timeout_ms: int):
    def configure(conn) -> None:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(int(statement_timeout_ms)),))
        if read_only:
            conn.execute("SET default_transaction_read_only = on")
    return configure


class Database:
    """The read pool and (optionally) the write pool of one API process."""

    def __init__(self, read_url: str, write_url: str = "", schema: str = "crisislake", pool_size: int = 8,
                 statement_timeout_ms: int = 5000):
        if not read_url:
            raise ServeConfigError("serve.read_url is empty: set CRISISLAKE_SERVE__READ_URL to the read-only "
                                   "role's DSN (`crisislake serve setup` creates the role)")
        self.schema = ident(schema)
        self.read_url, self.write_url = read_url, write_url
        self.pool_size, self.timeout_ms = pool_size, statement_timeout_ms
        self._read = None
        self._write = None

    def open(self) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        kwargs = {"autocommit": True, "row_factory": dict_row}
        self._read = ConnectionPool(self.read_url, min_size=1, max_size=self.pool_size, kwargs=kwargs,
                                    configure=_configure(True, self.timeout_ms), open=True, timeout=5.0,
                                    name="crisislake-read")
        if self.write_url:
            self._write = ConnectionPool(self.write_url, min_size=0, max_size=2, kwargs=kwargs,
                                         configure=_configure(False, self.timeout_ms), open=True, timeout=5.0,
                                         name="crisislake-write")

    def close(self) -> None:
        for pool in (self._read, self._write):
            if pool is not None:
                pool.close()

    @property
    def can_write(self) -> bool:
        return self._write is not None

    def table(self, name: str):
        return table(self.schema, name)

    def fetch(self, query, params: Optional[Mapping[str, Any]] = None, write: bool = False) -> List[Dict[str, Any]]:
        """Run one composed statement with bound ``params``; return its rows as dicts."""
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._write if write else self._read
        if pool is None:
            raise WarehouseUnavailable("no write DSN configured: set CRISISLAKE_SERVE__WRITE_URL")
        try:
            with pool.connection() as conn:
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s", query.as_string(conn))
                cur = conn.execute(query, params or {})
                return cur.fetchall() if cur.description else []
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise WarehouseUnavailable(f"warehouse unavailable: {type(exc).__name__}") from exc

    def transaction(self):
        """A write connection in one transaction (``with db.transaction() as conn``)."""
        if self._write is None:
            raise WarehouseUnavailable("no write DSN configured: set CRISISLAKE_SERVE__WRITE_URL")
        return _Transaction(self._write)


class _Transaction:
    def __init__(self, pool):
        self.pool = pool
        self._cm = None
        self._tx = None

    def __enter__(self):
        self._cm = self.pool.connection()
        conn = self._cm.__enter__()
        self._tx = conn.transaction()
        self._tx.__enter__()
        return _TxConn(conn)

    def __exit__(self, *exc):
        try:
            self._tx.__exit__(*exc)
        finally:
            self._cm.__exit__(*exc)
        return False


class _TxConn:
    """Runs composed statements on one connection inside its transaction, logging their text."""

    def __init__(self, conn):
        self.conn = conn

    def fetch(self, query, params: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", query.as_string(self.conn))
        cur = self.conn.execute(query, params or {})
        return cur.fetchall() if cur.description else []
