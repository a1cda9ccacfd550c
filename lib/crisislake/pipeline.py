"""The whole pipeline, in order, in one Spark session (``crisislake pipeline`` / ``make run``).

Each step is a job module exposing ``pipeline_step(spark, config, run_id) -> dict`` (a short
summary of what it wrote). EMR runs the same order as separate spark-submit steps
(:data:`STEPS` is the single source of that order).
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from crisislake.config import Config

log = logging.getLogger(__name__)

# (step name == CLI subcommand, job module); order matters.
STEPS: List[Tuple[str, str]] = [
    ("ingest-tweets", "crisislake.tweets.job"),
    ("ingest-hdx", "crisislake.hdx.ingest_job"),
    ("classify", "crisislake.nlp.classify_job"),
    ("dedup", "crisislake.dedup.job"),
    ("incidents", "crisislake.dedup.incidents_job"),
    ("build-marts", "crisislake.marts.job"),
    ("export", "crisislake.warehouse.export_job"),
    ("load", "crisislake.warehouse.load_job"),
    ("sync-reviews", "crisislake.serve.sync_job"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sample", default=None, metavar="DIR",
        help="copy DIR/raw (e.g. data/sample) into the lake's raw zone first (local lakes only)",
    )
    parser.add_argument(
        "--steps", default=None,
        help=f"comma-separated subset of: {', '.join(name for name, _ in STEPS)}",
    )


def stage_sample(sample_dir: str, lake_root: str) -> int:
    """Copy ``<sample_dir>/raw`` into ``<lake_root>/raw``; files already there are left alone."""
    src = Path(sample_dir) / "raw"
    if not src.is_dir():
        raise FileNotFoundError(f"sample folder {src} does not exist")
    if "://" in lake_root:
        raise ValueError("--sample stages files into a local lake only")
    copied = 0
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        dest = Path(lake_root) / "raw" / path.relative_to(src)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            copied += 1
    return copied


def select_steps(steps_arg: Optional[str] = None) -> List[Tuple[str, str]]:
    if not steps_arg:
        return list(STEPS)
    wanted = [s.strip() for s in steps_arg.split(",") if s.strip()]
    known = {name for name, _ in STEPS}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ValueError(f"unknown steps {unknown}; known: {sorted(known)}")
    return [(name, module) for name, module in STEPS if name in wanted]


def run(args: argparse.Namespace, config: Config) -> int:
    import importlib

    from crisislake.session import build_spark

    steps = select_steps(args.steps)
    if args.sample:
        copied = stage_sample(args.sample, config.lake_root)
        print(f"staged {copied} new sample files into {config.zone('raw')}")
    spark = build_spark(config.spark)
    summary: Dict[str, dict] = {}
    try:
        for name, module_name in steps:
            log.info("pipeline step %s (run %s)", name, args.run_id)
            module = importlib.import_module(module_name)
            summary[name] = module.pipeline_step(spark, config, args.run_id) or {}
            print(f"[{name}] {json.dumps(summary[name], default=str)}")
    finally:
        spark.stop()
    print(f"\nrun {args.run_id} finished; lake at {config.lake_root}; run record "
          f"{config.zone('_runs')}/{args.run_id}.json")
    return 0
