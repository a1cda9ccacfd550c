"""``crisislake scrape-hdx``: fetch HDX (CKAN) dataset resources into ``raw/hdx`` (no Spark).

Datasets come from ``config.hdx.datasets`` (names or ids) and/or ``config.hdx.query`` +
``config.hdx.organization``; the flags below override them. Exit status 1 when any resource
ended in the failures record (they are retried on the next run), 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any, Dict, Optional

from crisislake.config import Config

log = logging.getLogger(__name__)

STEP = "scrape-hdx"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", action="append", default=[], help="dataset name or id (repeatable)")
    parser.add_argument("--query", default=None, help="CKAN package_search query (default: config hdx.query)")
    parser.add_argument("--organization", default=None, help="organisation filter (default: config hdx.organization)")
    parser.add_argument("--format", dest="formats", action="append", default=[],
                        help="only resources of this format, e.g. CSV (repeatable; default all)")
    parser.add_argument("--out", default="", help="raw HDX root (default: <lake>/raw/hdx)")
    parser.add_argument("--s3-endpoint", default=None, help="S3 endpoint override (default: config spark.s3_endpoint)")
    parser.add_argument("--backoff-s", type=float, default=1.0, help="first retry delay; doubles each retry")


def scrape_hdx(config: Config, run_id: str, args: Optional[argparse.Namespace] = None) -> Dict[str, Any]:
    """Run the scraper with ``config`` (and optional CLI overrides); write a run record; return a summary."""
    from crisislake.hdx.ckan import CkanClient
    from crisislake.hdx.scrape import HdxScraper, make_sink, report_dict
    from crisislake.runs import StepRecord, utc_now_iso

    settings = config.hdx
    datasets = (args.dataset if args and args.dataset else None) or list(settings.datasets)
    query = args.query if args and args.query is not None else settings.query
    organization = args.organization if args and args.organization is not None else settings.organization
    endpoint = args.s3_endpoint if args and args.s3_endpoint is not None else config.spark.s3_endpoint
    out = (args.out if args and args.out else "") or f"{config.zone('raw')}/hdx"
    client = CkanClient(settings.base_url, settings.user_agent, settings.timeout_s, settings.max_retries,
                        args.backoff_s if args else 1.0)
    record = StepRecord(step=STEP, run_id=run_id)
    started = time.monotonic()
    scraper = HdxScraper(client, make_sink(out, endpoint), formats=(args.formats if args else ()))
    if not datasets and not query and not organization:
        log.warning("no HDX datasets configured: set hdx.datasets or hdx.query, or pass --dataset")
    report = scraper.scrape(datasets, query, organization)
    summary = report_dict(report)
    record.read = {"ckan": settings.base_url, "datasets": datasets, "query": query, "organization": organization}
    record.wrote = {r.uri: r.detail for r in report.results if r.status == "downloaded"}
    record.counts = report.summary()
    record.status = "failed" if report.count("failed") else "succeeded"
    record.error = "; ".join(f"{r.resource_id}: {r.detail}" for r in report.results if r.status == "failed")[:2000]
    record.finished_at = utc_now_iso()
    record.duration_s = round(time.monotonic() - started, 3)
    _write_run_record(config, endpoint, record)
    return summary


def _write_run_record(config: Config, endpoint: str, record: Any) -> None:
    """Merge this step into ``_runs/<run_id>.json`` without Spark (same shape as crisislake.runs)."""
    from dataclasses import asdict

    from crisislake.hdx.scrape import make_sink

    sink = make_sink(config.zone("_runs"), endpoint)
    name = f"{record.run_id}.json"
    existing = json.loads(sink.read_text(name) or json.dumps({"run_id": record.run_id, "steps": {}}))
    existing.setdefault("steps", {})[record.step] = asdict(record)
    sink.write_text(name, json.dumps(existing, indent=2, sort_keys=True, default=str))


def run(args: argparse.Namespace, config: Config) -> int:
    summary = scrape_hdx(config, args.run_id, args)
    print(json.dumps(summary, indent=2))
    return 1 if summary["failed"] else 0


def pipeline_step(spark: Any, config: Config, run_id: str) -> dict:
    """The scraper needs no Spark; ``spark`` is accepted for the pipeline interface only."""
    summary = scrape_hdx(config, run_id)
    return {k: summary[k] for k in ("downloaded", "unchanged", "failed")}
