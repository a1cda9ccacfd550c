"""``crisislake scrape-hdx``: fetch HDX (CKAN) dataset resources into ``raw/hdx`` (no Spark).

Datasets come from ``config.hdx.datasets`` (names or ids) and/or ``config.hdx.query`` +
``config.hdx.organization``; the flags below override them. Exit status 1 when any resource
ended in the failures record (they are retried on the next run), 0 otherwise.
"""
from __future__ import annotations

import argparse
import logging
from typing import Any, Dict, Optional

from crisislake.config import Config
from crisislake.context import JobContext
from crisislake.runs import run_step, write_step_record

log = logging.getLogger(__name__)

STEP = "scrape-hdx"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", action="append", default=[], help="dataset name or id (repeatable)")
    parser.add_argument("--query", default=None, help="CKAN package_search query (default: config hdx.query)")
    parser.add_argument("--organization", default=None, help="organisation filter (default: config hdx.organization)")
    parser.add_argument("--format", dest="formats", action="append", default=[],
                        help="only resources of this format, e.g. CSV (repeatable; default all)")
    parser.add_argument("--out", default="", help="raw HDX root (default: <lake>/raw/hdx)")
    parser.add_argument("--backoff-s", type=float, default=1.0, help="first retry delay; doubles each retry")


def scrape_hdx(config: Config, run_id: str, args: Optional[argparse.Namespace] = None) -> Dict[str, Any]:
    """Run the scraper with ``config`` (and optional CLI overrides); write a run record; return a summary."""
    from crisislake.hdx.ckan import CkanClient
    from crisislake.hdx.scrape import HdxScraper, Sink, report_dict

    settings = config.hdx
    datasets = (args.dataset if args and args.dataset else None) or list(settings.datasets)
    query = args.query if args and args.query is not None else settings.query
    organization = args.organization if args and args.organization is not None else settings.organization
    out = (args.out if args and args.out else "") or f"{config.zone('raw')}/hdx"
    client = CkanClient(settings.base_url, settings.user_agent, settings.timeout_s, settings.max_retries,
                        args.backoff_s if args else 1.0)
    if not datasets and not query and not organization:
        log.warning("no HDX datasets configured: set hdx.datasets or hdx.query, or pass --dataset")
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        report = HdxScraper(client, Sink(out), formats=(args.formats if args else ())).scrape(
            datasets, query, organization)
        summary = report_dict(report)
        record.read = {"ckan": settings.base_url, "datasets": datasets, "query": query, "organization": organization}
        record.wrote = {r.uri: r.detail for r in report.results if r.status == "downloaded"}
        record.counts = report.summary()
        record.rows_written = report.count("downloaded")
        failed = [f"{r.resource_id}: {r.detail}" for r in report.results if r.status == "failed"]
        record.error = "; ".join(failed)[:2000]
    if failed:
        # The failures are in _state/failures.json and retried next run; the step still failed.
        record.status = "failed"
        write_step_record(config.zone("_runs"), record)
    return summary


def run(ctx: JobContext) -> Dict[str, Any]:
    summary = scrape_hdx(ctx.config, ctx.run_id, ctx.args)
    return {**summary, "status": "failed" if summary["failed"] else "succeeded"}
