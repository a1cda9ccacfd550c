"""The ``crisislake`` console command: one subcommand per job.

Each job module exposes ``add_arguments(parser)`` and ``run(args, config) -> int``. Modules are
imported only for the subcommand being run, so ``crisislake scrape-hdx`` never imports Spark.
``jobs/<name>.py`` calls :func:`main` with its subcommand, so spark-submit and the console
command run the same code.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from crisislake.config import ConfigError, load_config

# subcommand -> (module, one-line help)
COMMANDS: Dict[str, Tuple[str, str]] = {
    "ingest-tweets": ("crisislake.tweets.job", "ingest raw tweet dumps into curated/tweets (Delta)"),
    "scrape-hdx": ("crisislake.hdx.scrape_job", "download HDX resources into raw/hdx with sidecars"),
    "ingest-hdx": ("crisislake.hdx.ingest_job", "ingest raw HDX/ACLED CSVs into curated conflict tables"),
    "build-marts": ("crisislake.marts.job", "build the analyst marts (Parquet)"),
    "train": ("crisislake.nlp.train_job", "train a tweet classifier and save it under models/"),
    "evaluate": ("crisislake.nlp.evaluate_job", "evaluate a classifier on a labelled file"),
    "classify": ("crisislake.nlp.classify_job", "label curated tweets into enriched/tweet_labels"),
    "dedup": ("crisislake.dedup.job", "near-duplicate clustering of tweets"),
    "incidents": ("crisislake.dedup.incidents_job", "group tweets into real-world incidents"),
    "export": ("crisislake.warehouse.export_job", "export warehouse tables as Parquet + COPY manifests"),
    "load": ("crisislake.warehouse.load_job", "load an export into Redshift or PostgreSQL, exactly once"),
    "redshift-backup": ("crisislake.warehouse.backup_job", "Redshift snapshots: take, schedule, restore"),
    "emr": ("crisislake.emr.cli", "build artefacts and submit the pipeline to EMR"),
    "serve": ("crisislake.serve.job", "the HTTP API: incidents, marts, review queue and decisions"),
    "sync-reviews": ("crisislake.serve.sync_job", "copy new reviewer decisions into enriched/review_decisions"),
    "report": ("crisislake.report.job", "write one self-contained offline HTML report"),
    "pipeline": ("crisislake.pipeline", "run the whole pipeline locally in one Spark session"),
}


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("configuration")
    group.add_argument("--env", default=None, help="config environment: local (default) or aws")
    group.add_argument("--config", dest="config_file", default=None, help="explicit config JSON file")
    group.add_argument("--lake-root", default=None, help="lake root: a local path or s3://BUCKET/PREFIX")
    group.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override one config value (repeatable), e.g. --set spark.shuffle_partitions=4",
    )
    group.add_argument("--run-id", default=None, help="run id (default: a new one)")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return common


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(prog="crisislake", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common_options()
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        if name == command:
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv: List[str] = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.env, args.config_file, args.overrides, args.lake_root)
    except ConfigError as exc:
        print(f"crisislake: config error: {exc}", file=sys.stderr)
        return 2
    from crisislake.runs import new_run_id

    args.run_id = args.run_id or new_run_id()
    module = importlib.import_module(COMMANDS[args.command][0])
    from crisislake.session import SparkRuntimeError

    try:
        return int(module.run(args, config) or 0)
    except (SparkRuntimeError, ConfigError) as exc:
        print(f"crisislake {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
