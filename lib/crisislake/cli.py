"""The ``crisislake`` console command: one subcommand per job of :mod:`crisislake.registry`.

Only the module of the job being run is imported, so ``crisislake scrape-hdx`` never imports
Spark. ``jobs/<name>.py`` calls :func:`main` with its job's name, so spark-submit and the console
command run the same code.

Every run ends the same way: a summary line per step (rows read, written, quarantined, time,
where the run record is), or with ``--json`` one JSON object per step on stdout. A
:class:`~crisislake.errors.CrisislakeError` is printed as one line, ``crisislake: <job>: <message>``,
with exit status 2 (``-v`` adds the traceback); any other exception is a bug and keeps its
traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from typing import Any, Dict, Optional, Sequence

from crisislake import __version__, registry
from crisislake.config import Config, load_config
from crisislake.context import JobContext, common_arguments, merged_overrides
from crisislake.errors import CrisislakeError
from crisislake.registry import Job

log = logging.getLogger("crisislake")
EXIT_USER_ERROR = 2
EXIT_STEP_FAILED = 1


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s module is imported to add its own options.

    The common options are accepted before and after the subcommand (``crisislake --env aws
    load`` and ``crisislake load --env aws``); after it they win.
    """
    parser = argparse.ArgumentParser(
        prog="crisislake", description="crisislake: a humanitarian data lakehouse on Apache Spark. One "
        "subcommand per job; `crisislake <job> --help` for its options and examples.", parents=[common_arguments()],
        epilog="Run `crisislake COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"crisislake {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    after = common_arguments(suppress_defaults=True)
    for job in registry.JOBS:
        p = sub.add_parser(
            job.name, help=job.summary, description=_description(job), parents=[after],
            epilog=_examples(job), formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if job.name == command:
            job.load().add_arguments(p)
    return parser


def _description(job: Job) -> str:
    lines = [job.summary]
    if job.reads:
        lines.append(f"reads:  {', '.join(job.reads)}")
    if job.writes:
        lines.append(f"writes: {', '.join(job.writes)}")
    return "\n".join(lines)


def _examples(job: Job) -> str:
    return "examples:\n" + "\n".join(f"  {example}" for example in job.examples) if job.examples else ""


def _command_of(argv: Sequence[str]) -> Optional[str]:
    known = set(registry.names())
    return next((arg for arg in argv if arg in known), None)


def configure_logging(verbose: bool) -> None:
    """INFO (DEBUG with ``-v``) for the ``crisislake`` loggers only; py4j and botocore stay quiet."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USER_ERROR
    configure_logging(args.verbose)
    args.overrides, args.overrides_after = merged_overrides(args), []
    try:
        config = load_config(args.env, args.config_file, args.overrides, args.lake_root)
        config.export_s3_endpoint()
        return run_job(registry.get(args.command), args, config)
    except CrisislakeError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"crisislake: {args.command}: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:  # noqa: BLE001 - only the outside failures below become one line
        message = outside_failure(exc)
        if message is None:
            raise
        if args.verbose:
            traceback.print_exc()
        print(f"crisislake: {args.command}: {message}", file=sys.stderr)
        return EXIT_STEP_FAILED


def outside_failure(exc: BaseException) -> Optional[str]:
    """A one-line message for failures that are not bugs of the job: another run committed to the
    same Delta table first, storage kept failing after its retries, or the warehouse connection
    failed. None for anything else (a bug keeps its traceback). Either way nothing was
    half-written: a Delta commit is atomic, and so is a load's transaction."""
    try:
        from delta.exceptions import DeltaConcurrentModificationException, ProtocolChangedException

        conflicts: tuple = (DeltaConcurrentModificationException, ProtocolChangedException)
    except ImportError:  # pragma: no cover - delta-spark is a core dependency
        conflicts = ()
    name = type(exc).__name__
    if isinstance(exc, conflicts) or name.startswith("Concurrent") or name in ("MetadataChangedException",):
        return (f"another run wrote the same table at the same time ({name}); this run's commit was refused: "
                "run the job again (every write is a MERGE, so the rerun adds nothing twice)")
    if _warehouse_connection_lost(exc):
        return (f"the warehouse connection failed ({name}: {one_line(exc)[:300]}); the open transaction was rolled "
                "back: run the job again (loads are audited, so nothing is loaded twice)")
    storage = isinstance(exc, OSError) and any(k in str(exc) for k in ("AWS Error", "S3", "Connection"))
    if storage or type(exc).__module__.startswith("botocore"):
        return f"storage failed after its retries ({name}: {one_line(exc)[:300]}); run the job again"
    return None


def _warehouse_connection_lost(exc: BaseException) -> bool:
    """PostgreSQL went away or could not be reached (restart, shutdown, network), not a bad statement."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - EMR steps do not talk to PostgreSQL
        return False
    return isinstance(exc, psycopg.OperationalError)


def one_line(exc: BaseException) -> str:
    """An error message on one line (a multi-line message is joined with ' | ')."""
    return " | ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__


def run_job(job: Job, args: argparse.Namespace, config: Config) -> int:
    """Run one job with its own context (a Spark session only if it asks for one)."""
    from crisislake.runs import new_run_id

    args.run_id = args.run_id or new_run_id()
    jars = registry.local_jars([job]) if job.spark and config.spark.master else []
    ctx = JobContext(job.name, args, config, args.run_id, jars=jars)
    try:
        result = run_step(ctx, job)
    finally:
        ctx.stop()
    return result


def run_step(ctx: JobContext, job: Job) -> int:
    """Run ``job`` in ``ctx`` between a start line and its summary; returns the exit status."""
    if job.own_output:
        return int(job.load().run(ctx) or 0)
    started = time.monotonic()
    print(f"[{job.name}] started (run {ctx.run_id})", file=sys.stderr, flush=True)
    result = job.load().run(ctx) or {}
    summary = step_summary(ctx, job.name, result, time.monotonic() - started)
    if getattr(ctx.args, "json", False):
        print(json.dumps(summary, sort_keys=True, default=str), flush=True)
    else:
        print(human_summary(summary), flush=True)
    return 1 if summary["status"] == "failed" else 0


def step_summary(ctx: JobContext, step: str, result: Dict[str, Any], elapsed: float) -> Dict[str, Any]:
    """The step's figures in one shape: from its run record when it wrote one, else its result."""
    from crisislake.runs import read_run_record, run_record_uri

    runs_zone = ctx.config.zone("_runs")
    record = read_run_record(runs_zone, ctx.run_id)["steps"].get(step) if _wrote_record(result) else None
    out: Dict[str, Any] = {"step": step, "run_id": ctx.run_id, "status": "succeeded", "duration_s": round(elapsed, 1)}
    for key in ("rows_read", "rows_written", "rows_duplicate", "rows_quarantined"):
        out[key] = (record or {}).get(key, result.get(key))
    if record:
        out["status"] = record.get("status", "succeeded")
        out["duration_s"] = record.get("duration_s", out["duration_s"])
        out["run_record"] = run_record_uri(runs_zone, ctx.run_id)
    elif result.get("status"):
        out["status"] = result["status"]
    out["result"] = result
    return out


def _wrote_record(result: Dict[str, Any]) -> bool:
    return not result.get("file_mode") and not result.get("skipped")


def human_summary(summary: Dict[str, Any]) -> str:
    """``[dedup] succeeded in 9.1 s: read 596, wrote 596 | run record: lake/_runs/<id>.json``."""
    figures = [
        f"{label} {summary[key]:,}"
        for key, label in (("rows_read", "read"), ("rows_written", "wrote"),
                           ("rows_duplicate", "duplicates"), ("rows_quarantined", "quarantined"))
        if summary.get(key) is not None
    ]
    result = summary["result"]
    if result.get("skipped"):
        figures.append(f"skipped: {result['skipped']}")
    if result.get("output"):
        figures.append(f"output {result['output']}")
    head = f"[{summary['step']}] {summary['status']} in {summary['duration_s']} s"
    lines = [head + (": " + ", ".join(figures) if figures else "")]
    if summary.get("run_record"):
        lines.append(f"  run record: {summary['run_record']}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
