"""``crisislake load``: load one export run into Redshift or PostgreSQL, exactly once per table.

Order of work: (1) check every table's manifest and files against the model, (2) create the
schema/tables if missing and refuse a drifted target, (3) per table, in one transaction: stage,
COPY, MERGE on the natural key, one ``load_audit`` row. A run id already in ``load_audit`` for a
table is skipped. ``--dry-run`` prints the exact SQL and touches nothing.
"""
from __future__ import annotations

import argparse
import logging
from datetime import datetime, timezone
from typing import Callable, List, Optional, Sequence

from crisislake import fs
from crisislake.config import Config, ConfigError
from crisislake.context import JobContext
from crisislake.errors import CrisislakeError
from crisislake.warehouse import model as m
from crisislake.warehouse.backends import PostgresBackend, RedshiftDataApiBackend, ddl_statements
from crisislake.warehouse.loadsql import RUN_ID, render_load
from crisislake.warehouse.manifest import manifest_location, manifest_url_for, validate_export

log = logging.getLogger(__name__)


class LoadInputError(CrisislakeError, FileNotFoundError):
    """There is no export to load."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--export-run", default=None,
                        help="the export run id to load (default: the latest run under exports/)")
    parser.add_argument("--tables", default=None,
                        help=f"comma-separated subset of: {', '.join(t.name for t in m.EXPORTED)}")
    parser.add_argument("--dry-run", action="store_true", help="print the exact SQL per table; change nothing")
    parser.add_argument("--backend", choices=("postgres", "redshift"), default=None,
                        help="override warehouse.backend")


def absolute_uri(uri: str) -> str:
    """A lake URI usable outside Spark (``./lake/x`` -> ``file:///abs/lake/x``; s3a -> s3)."""
    import os

    if "://" in uri:
        return manifest_url_for(uri)
    return manifest_url_for(os.path.abspath(uri))


def latest_export_run(exports_zone: str) -> Optional[str]:
    """The newest run id that has a manifest under ``exports/<table>/<run_id>/`` (ids sort by time)."""
    from crisislake.warehouse.manifest import MANIFEST_NAME

    manifests = [u for u in fs.list_files(exports_zone) if u.endswith("/" + MANIFEST_NAME)]
    runs = {u.rstrip("/").split("/")[-2] for u in manifests}
    runs = {r for r in runs if RUN_ID.match(r)}
    return max(runs) if runs else None


def _has_export(config: Config, run_id: str) -> bool:
    return fs.exists(manifest_location(config.zone("exports"), m.EXPORTED[0].name, run_id))


def make_backend(config: Config, backend: Optional[str] = None, dry_run: bool = False):
    name = backend or config.warehouse.backend
    if name == "postgres":
        if dry_run:
            return None
        return PostgresBackend(config.warehouse.postgres_url, config.warehouse.schema)
    if name == "redshift":
        if dry_run:
            RedshiftDataApiBackend.target_kwargs(config.warehouse)  # config errors still surface
            return None
        return RedshiftDataApiBackend(config.warehouse)
    raise ConfigError(f"warehouse.backend {name!r} cannot load")


def plan_run(
    config: Config, export_run: str, dialect: str, tables: Sequence[m.Table], started_at: str
) -> List[tuple]:
    """Validate every table's export and render its load: ``[(info, plan), ...]``.

    Raises :class:`~crisislake.warehouse.manifest.ExportValidationError` before anything is
    touched when any manifest or file does not match the model.
    """
    exports = absolute_uri(config.zone("exports"))
    out = []
    for table in tables:
        info = validate_export(table, manifest_location(exports, table.name, export_run))
        plan = render_load(table, dialect, config.warehouse.schema, export_run, info.manifest_url,
                           len(info.urls), info.bytes, info.rows, started_at, config.warehouse.redshift_iam_role)
        out.append((info, plan))
    return out


def load_export(
    config: Config,
    export_run: str,
    backend_name: Optional[str] = None,
    tables: Optional[Sequence[str]] = None,
    dry_run: bool = False,
    backend=None,
    hook: Optional[Callable[[str], None]] = None,
    echo: Callable[[str], None] = print,
) -> dict:
    """Load ``export_run``; returns ``{"export_run", "tables": {name: result}}``."""
    dialect = backend_name or config.warehouse.backend
    if not RUN_ID.match(export_run or ""):
        raise ConfigError(f"export run id {export_run!r} is not a valid run id")
    wanted = [m.table(n) for n in tables] if tables else list(m.EXPORTED)
    started_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    plans = plan_run(config, export_run, dialect, wanted, started_at)
    summary: dict = {"export_run": export_run, "backend": dialect, "tables": {}}
    if dry_run:
        echo(f"-- DDL ({dialect})\n" + "\n".join(ddl_statements(dialect, config.warehouse.schema)))
        for info, plan in plans:
            echo(f"\n-- {plan.table.name}: {info.rows} rows in {len(info.urls)} files ({info.bytes} bytes), "
                 f"manifest {info.manifest_url}\n{plan.script()}")
            summary["tables"][plan.table.name] = {"dry_run": True, "rows": info.rows}
        return summary
    backend = backend or make_backend(config, dialect)
    backend.ensure_schema()
    done = backend.loaded_tables(export_run)
    for info, plan in plans:
        if plan.table.name in done:
            summary["tables"][plan.table.name] = {"skipped": True, "reason": "already in load_audit"}
            continue
        result = backend.load(plan, info, hook)
        result.setdefault("files", len(info.urls))
        summary["tables"][plan.table.name] = result
        log.info("loaded %s: %s", plan.table.name, result)
    return summary


def _record(config: Config, run_id: str, export_run: str, fn: Callable[[], dict]) -> dict:
    from crisislake.runs import run_step

    with run_step(config.zone("_runs"), run_id, "load") as record:
        summary = fn()
        record.read = {"exports": config.zone("exports"), "export_run": export_run}
        record.wrote = {name: r for name, r in summary["tables"].items()}
        loaded = [r for r in summary["tables"].values() if not r.get("skipped")]
        record.counts = {name: r.get("rows", 0) for name, r in summary["tables"].items() if not r.get("skipped")}
        record.rows_read = record.rows_written = sum(int(r.get("rows") or 0) for r in loaded)
    return summary


def skip_reason(config: Config, backend: str) -> Optional[str]:
    """Why the pipeline's load step has nothing to do here, or None."""
    if backend == "none":
        return "warehouse.backend is none"
    if backend == "postgres" and not config.warehouse.postgres_url:
        return "no PostgreSQL URL: set CRISISLAKE_WAREHOUSE__POSTGRES_URL (make run does)"
    return None


def run(ctx: JobContext) -> dict:
    """Load the newest export (in a pipeline: this run's, when it exported). No Spark: the
    files are read with pyarrow and the run record is written through crisislake.fs."""
    args, config = ctx.args, ctx.config
    backend = args.backend or config.warehouse.backend
    if ctx.in_pipeline and skip_reason(config, backend):
        return {"skipped": skip_reason(config, backend)}
    export_run = args.export_run
    if not export_run and ctx.in_pipeline and _has_export(config, ctx.run_id):
        export_run = ctx.run_id
    export_run = export_run or latest_export_run(config.zone("exports"))
    if not export_run:
        if ctx.in_pipeline:
            return {"skipped": f"no export under {config.zone('exports')}"}
        raise LoadInputError(f"no export under {config.zone('exports')}: run `crisislake export` first")
    tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
    if args.dry_run:
        load_export(config, export_run, backend, tables, dry_run=True)
        return {"skipped": "dry run: nothing loaded", "export_run": export_run}
    summary = _record(config, ctx.run_id, export_run, lambda: load_export(config, export_run, backend, tables))
    return {"export_run": export_run, "tables": {
        name: "already loaded" if r.get("skipped") else r.get("rows") for name, r in summary["tables"].items()}}
