"""``crisislake ingest-tweets``: raw tweet dumps -> ``curated/tweets`` (Delta), batch or streaming.

Batch: list ``raw/tweets/`` (or ``--raw``), read every file, MERGE the tweets on ``tweet_id``,
quarantine what cannot be used, and reconcile: records read = new + duplicates + quarantined.
Streaming (``--stream``): a file stream over the same prefix only discovers new files (its
checkpoint remembers which); each micro-batch runs the batch ingest on exactly those files.
The MERGE makes a replayed micro-batch (after a crash between the Delta commit and the
checkpoint commit) a no-op, so a restart neither loses nor duplicates tweets.
"""
from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any, Dict, Optional

from pyspark.sql import DataFrame

from crisislake import delta_io, fs
from crisislake.config import Config, join_uri
from crisislake.context import JobContext, require_input
from crisislake.runs import StepRecord, run_step
from crisislake.tweets import batch, io

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
STEP = "ingest-tweets"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", default=None, help="raw tweet prefix (default: <lake>/raw/tweets)")
    parser.add_argument("--stream", action="store_true", help="Structured Streaming over the raw prefix")
    parser.add_argument(
        "--trigger-interval", default=None, metavar="INTERVAL",
        help="with --stream: run continuously with this processing-time trigger, e.g. '1 minute' "
             "(default: availableNow, i.e. process what is there and stop)",
    )
    parser.add_argument("--checkpoint", default=None, help="stream checkpoint (default: <lake>/_checkpoints/ingest_tweets)")
    parser.add_argument("--max-files-per-trigger", type=int, default=None, help="with --stream: files per micro-batch")


def default_raw(config: Config) -> str:
    return join_uri(config.zone("raw"), "tweets")


def default_checkpoint(config: Config) -> str:
    return join_uri(config.lake_root, "_checkpoints", "ingest_tweets")


def _fill_record(record: StepRecord, counts: Dict[str, Any], raw: str, tweets_path: str, quarantine_path: str) -> None:
    record.read = {"uri": raw, "files": counts["files_read"], "records": counts["records_read"]}
    record.wrote = {tweets_path: counts["new_rows"]}
    record.quarantined = {quarantine_path: counts["quarantined"]}
    record.counts = counts
    record.rows_read = counts["records_read"]
    record.rows_written = counts["new_rows"]
    record.rows_duplicate = counts["duplicates"]
    record.rows_quarantined = counts["quarantined"]


def ingest(spark: SparkSession, config: Config, run_id: str, raw: Optional[str] = None,
           files: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    """Batch ingest of everything under ``raw`` (default ``<lake>/raw/tweets``); ``files`` is
    its listing when the caller has it already."""
    raw = raw or default_raw(config)
    tweets_path = config.table("curated", "tweets")
    quarantine_path = config.table("quarantine", "tweets")
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        delta_io.ensure_quarantine(spark, quarantine_path)
        files = io.list_raw_files(raw) if files is None else files
        counts = batch.ingest_files(spark, files, tweets_path, quarantine_path, run_id)
        _fill_record(record, counts, raw, tweets_path, quarantine_path)
    return counts


def start_stream(
    spark: SparkSession,
    config: Config,
    run_id: str,
    raw: Optional[str] = None,
    checkpoint: Optional[str] = None,
    trigger_interval: Optional[str] = None,
    max_files_per_trigger: Optional[int] = None,
):
    """Start the streaming ingest and return the ``StreamingQuery``.

    The stream reads only file *names and sizes* (``binaryFile`` with the content column pruned) and
    the checkpoint records which files each micro-batch took; ``foreachBatch`` hands those
    names to :func:`crisislake.tweets.batch.ingest_files`. Each micro-batch writes its own step record
    (``ingest-tweets:batch-<id>``) to ``_runs/<run_id>.json``.
    """
    raw = raw or default_raw(config)
    checkpoint = checkpoint or default_checkpoint(config)
    tweets_path = config.table("curated", "tweets")
    quarantine_path = config.table("quarantine", "tweets")
    reader = (
        spark.readStream.format("binaryFile")
        .schema("path string, modificationTime timestamp, length long, content binary")
        .option("recursiveFileLookup", "true")
    )
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    names = reader.load(raw).select("path", "length")

    def process(batch_df: DataFrame, batch_id: int) -> None:
        files = fs.data_files({r["path"]: r["length"] for r in batch_df.collect()})  # one small row per file
        if not files:
            return
        with run_step(config.zone("_runs"), run_id, f"{STEP}:batch-{batch_id}") as record:
            counts = batch.ingest_files(spark, files, tweets_path, quarantine_path, run_id)
            _fill_record(record, counts, raw, tweets_path, quarantine_path)
        print(_summary_line(counts, f"batch {batch_id}"), flush=True)

    writer = names.writeStream.foreachBatch(process).option("checkpointLocation", checkpoint)
    if trigger_interval:
        writer = writer.trigger(processingTime=trigger_interval)
    else:
        writer = writer.trigger(availableNow=True)
    return writer.start()


def _summary_line(counts: Dict[str, Any], what: str = "ingest-tweets") -> str:
    return (
        f"{what}: files read {counts['files_read']}, records read {counts['records_read']} = "
        f"new {counts['new_rows']} + duplicates {counts['duplicates']} + quarantined {counts['quarantined']}"
    )


def run(ctx: JobContext) -> Dict[str, Any]:
    args, config = ctx.args, ctx.config
    raw = args.raw or default_raw(config)
    # Before any Spark starts: a mistyped prefix must not look like an empty one.
    missing = require_input(ctx, raw, "land tweet dumps there or pass --raw PREFIX", skipped=f"no raw tweets at {raw}")
    if missing:
        return missing
    files = io.list_raw_files(raw)
    if not files and not args.stream:
        return {"skipped": f"nothing to ingest under {raw}"}
    if args.stream:
        query = start_stream(ctx.spark, config, ctx.run_id, raw, args.checkpoint,
                             args.trigger_interval, args.max_files_per_trigger)
        query.awaitTermination()
        return {"stream": "stopped", "checkpoint": args.checkpoint or default_checkpoint(config)}
    with ctx.stage("ingest raw files"):
        return ingest(ctx.spark, config, ctx.run_id, raw, files)
