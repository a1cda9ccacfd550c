"""``crisislake load``: load one export run into Redshift or PostgreSQL, exactly once per table.

Order of work: (1) check every table's manifest and files against the model, (2) create the
schema/tables if missing and refuse a drifted target, (3) per table, in one transaction: stage,
COPY, MERGE on the natural key, one ``load_audit`` row. A run id already in ``load_audit`` for a
table is skipped. ``--dry-run`` prints the exact SQL and touches nothing.
"""
from __future__ import annotations

import argparse
import json
import logging
from datetime import datetime, timezone
from typing import Callable, List, Optional, Sequence

from crisislake.config import Config, ConfigError
from crisislake.warehouse import model as m
from crisislake.warehouse.backends import PostgresBackend, RedshiftDataApiBackend, ddl_statements
from crisislake.warehouse.loadsql import RUN_ID, render_load
from crisislake.warehouse.manifest import manifest_location, manifest_url_for, validate_export

log = logging.getLogger(__name__)


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


def latest_export_run(exports_zone: str, s3_endpoint: str = "") -> Optional[str]:
    """The newest run id that has a manifest under ``exports/<table>/<run_id>/`` (ids sort by time)."""
    from pyarrow import fs as pafs

    from crisislake.warehouse.manifest import MANIFEST_NAME, _filesystem

    fs, root = _filesystem(absolute_uri(exports_zone), s3_endpoint)
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError:
        return None
    runs = {i.path.rstrip("/").split("/")[-2] for i in infos if i.path.endswith("/" + MANIFEST_NAME)}
    runs = {r for r in runs if RUN_ID.match(r)}
    return max(runs) if runs else None


def _has_export(config: Config, run_id: str) -> bool:
    from crisislake.warehouse.manifest import ExportValidationError, read_manifest

    try:
        url = manifest_location(absolute_uri(config.zone("exports")), m.EXPORTED[0].name, run_id)
        read_manifest(url, config.spark.s3_endpoint)
        return True
    except ExportValidationError:
        return False


def make_backend(config: Config, backend: Optional[str] = None, dry_run: bool = False):
    name = backend or config.warehouse.backend
    if name == "postgres":
        if dry_run:
            return None
        return PostgresBackend(config.warehouse.postgres_url, config.warehouse.schema, config.spark.s3_endpoint)
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
        info = validate_export(table, manifest_location(exports, table.name, export_run), config.spark.s3_endpoint)
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


def _record(spark, config: Config, run_id: str, export_run: str, fn: Callable[[], dict]) -> dict:
    from crisislake.runs import run_step

    with run_step(spark, config.zone("_runs"), run_id, "load") as record:
        summary = fn()
        record.read = {"exports": config.zone("exports"), "export_run": export_run}
        record.wrote = {name: r for name, r in summary["tables"].items()}
        record.counts = {name: r.get("rows", 0) for name, r in summary["tables"].items() if not r.get("skipped")}
    return summary


def run(args: argparse.Namespace, config: Config) -> int:
    export_run = args.export_run or latest_export_run(config.zone("exports"), config.spark.s3_endpoint)
    if not export_run:
        print(f"crisislake load: no export under {config.zone('exports')}; run `crisislake export` first")
        return 1
    tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
    if args.dry_run:
        load_export(config, export_run, args.backend, tables, dry_run=True)
        return 0
    from crisislake.session import build_spark

    spark = build_spark(config.spark, app_name="crisislake-load")
    try:
        summary = _record(spark, config, args.run_id, export_run,
                          lambda: load_export(config, export_run, args.backend, tables))
    finally:
        spark.stop()
    print(json.dumps(summary, indent=2, default=str))
    return 0


def pipeline_step(spark, config: Config, run_id: str) -> dict:
    backend = config.warehouse.backend
    if backend == "none":
        return {"skipped": "warehouse.backend is none"}
    if backend == "postgres" and not config.warehouse.postgres_url:
        return {"skipped": "no PostgreSQL URL: set CRISISLAKE_WAREHOUSE__POSTGRES_URL (make run does)"}
    export_run = run_id
    latest = latest_export_run(config.zone("exports"), config.spark.s3_endpoint)
    if latest is None:
        return {"skipped": f"no export under {config.zone('exports')}"}
    if not _has_export(config, run_id):  # e.g. `pipeline --steps load`: load the newest export
        export_run = latest
    summary = _record(spark, config, run_id, export_run, lambda: load_export(config, export_run))
    out = {"export_run": export_run}
    for name, r in summary["tables"].items():
        out[name] = "skipped (already loaded)" if r.get("skipped") else f"{r.get('rows')} rows"
    return out

