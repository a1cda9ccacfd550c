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
import functools
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from crisislake import delta_io, fs
from crisislake.config import Config, join_uri
from crisislake.context import JobContext
from crisislake.errors import CrisislakeError
from crisislake.runs import StepRecord, run_step
from crisislake.session import temporary_conf
from crisislake.tweets import io, jvm, transforms

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
STEP = "ingest-tweets"


class RawInputError(CrisislakeError, FileNotFoundError):
    """The raw prefix to ingest does not exist."""


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


def ingest_files(
    spark: SparkSession, files: Mapping[str, int], tweets_path: str, quarantine_path: str, run_id: str, staging: str
) -> Dict[str, Any]:
    """Ingest exactly ``files`` (``{uri: size in bytes}``, as listed); return the reconciliation
    counts.

    Spark actions, in order: (1) the gzip check (``.gz`` files only); (2) the JVM parse of the
    JVM-read lines (:mod:`crisislake.tweets.jvm`), written as Parquet under ``staging``: a row
    per line, the tweet's columns where the Java class took it, counting the lines it declined;
    (3) only when it declined some: the names of the files that hold them; (4) the Python parse
    of those files' declined lines (read again) and of the Python-read files, staged too
    (skipped when there is nothing for it); (5) one aggregate for the counts, distinct tweet ids
    included; (6) the MERGE, after the in-batch dedup only when the batch repeats a tweet; (7)
    the quarantine MERGE. Without the JVM lane, (2)-(4) are one Python parse of every line.
    ``staging`` is deleted at the end. The driver only collects file names and counts.
    """
    json_files, csv_files = io.split_by_format(files)
    damaged = io.damaged_gzip_files(spark, json_files)
    for uri, why in sorted(damaged.items()):
        log.warning("%s: %s; reading it with the tolerant Python reader", uri, why)
    jvm_files = [f for f in json_files if f not in damaged]
    slow_files = [f for f in json_files if f in damaged] + list(csv_files)
    in_jvm = 0
    ingested_at = datetime.now(timezone.utc)  # one value for the whole batch, whichever parse
    try:
        # Every step below reads the parsed rows: they are staged on the lake's storage (disk
        # or S3), so the later steps never parse again, memory stays flat however big the
        # batch, and a lost executor re-reads the stage instead of failing the run.
        with io.one_file_per_partition(spark), temporary_conf(spark, transforms.PARSE_CONF):
            parts: List[DataFrame] = []
            for_python = []
            lines = io.read_json_lines(spark, jvm_files, files)
            if jvm_files and jvm.register(spark):
                parsed, in_jvm, declined = _stage_lines(
                    spark, lines.transform(jvm.parse_lines(run_id, ingested_at)), join_uri(staging, "lines"))
                parts.append(jvm.taken(parsed))
                if declined:
                    again = jvm.files_with_declined(parsed, jvm_files)
                    for_python.append(io.read_json_lines(spark, again, files).transform(jvm.declined_lines))
            else:
                for_python.append(lines)
            if slow_files:
                for_python.append(io.read_files_tolerant(spark, slow_files))
            if for_python:
                python = functools.reduce(DataFrame.unionByName, for_python).transform(transforms.to_records(run_id, ingested_at))
                parts.append(_stage(spark, python, join_uri(staging, "records")))
        records = functools.reduce(DataFrame.unionByName, parts)
        totals = records.agg(
            F.count(F.lit(1)).alias("read"),
            F.count(F.col("reason")).alias("quarantined"),
            # reads one narrow column of the stage; tells whether the batch repeats a tweet
            F.countDistinct(F.when(F.col("reason").isNull(), F.col("tweet_id"))).alias("distinct"),
        ).first()
        tweets = transforms.select_tweets(records)
        distinct = int(totals["distinct"])
        if distinct < totals["read"] - totals["quarantined"]:
            # Some tweet comes more than once: keep its richest version. The window is a
            # shuffle of every tweet row, so a batch without repeats skips it. A MERGE into a
            # non-empty table reads its source several times: stage the picked rows then.
            tweets = transforms.pick_richest(tweets)
            if delta_io.has_rows(spark, tweets_path):
                tweets = _stage(spark, tweets, join_uri(staging, "tweets"))
        merged = io.write_tweets(spark, tweets, tweets_path)
        quarantined_new = 0
        if totals["quarantined"]:
            quarantined_new = io.write_quarantine(spark, transforms.select_quarantine(records), quarantine_path, run_id)
    finally:
        fs.delete(staging)
    read, bad = int(totals["read"]), int(totals["quarantined"])
    new = merged["inserted"]
    return {
        "files_read": len(files),
        "files_read_by_python": len(slow_files),
        "records_parsed_in_jvm": in_jvm,
        "records_read": read,
        "new_rows": new,
        # same tweet twice in this input, plus tweets already in the table
        "duplicates": (read - bad - distinct) + (distinct - new),
        "duplicates_in_input": read - bad - distinct,
        "already_present": distinct - new,
        "replaced_by_richer": merged["updated"],
        "quarantined": bad,
        "quarantine_rows_added": quarantined_new,
    }


def _fill_record(record: StepRecord, counts: Dict[str, Any], raw: str, tweets_path: str, quarantine_path: str) -> None:
    record.read = {"uri": raw, "files": counts["files_read"], "records": counts["records_read"]}
    record.wrote = {tweets_path: counts["new_rows"]}
    record.quarantined = {quarantine_path: counts["quarantined"]}
    record.counts = counts
    record.rows_read = counts["records_read"]
    record.rows_written = counts["new_rows"]
    record.rows_duplicate = counts["duplicates"]
    record.rows_quarantined = counts["quarantined"]


def _stage_lines(spark: SparkSession, parsed: DataFrame, uri: str) -> Tuple[DataFrame, int, int]:
    """:func:`_stage` for :func:`jvm.parse_lines`'s rows, counting in the same pass the lines
    the Java class took and those it left to Python."""
    observed = Observation("jvm_parse")
    declined = F.count(F.when(F.col("declined"), 1)).alias("declined")
    staged = _stage(spark, parsed.observe(observed, F.count(F.lit(1)).alias("lines"), declined), uri)
    counts = observed.get
    return staged, int(counts["lines"]) - int(counts["declined"]), int(counts["declined"])


def _stage(spark: SparkSession, df: DataFrame, uri: str) -> DataFrame:
    """Write ``df`` as Parquet at ``uri`` and return it read back.

    Without dictionary encoding: scratch files are read once or twice and deleted, and hashing
    every text and id into a dictionary Parquet drops for unique values cost ~3 CPU-seconds
    per million tweets (bench/bench_ingest_tweets.py input)."""
    df.write.mode("overwrite").option("parquet.enable.dictionary", "false").parquet(uri)
    return spark.read.parquet(uri)


def staging_dir(config: Config, run_id: str, batch: Optional[int] = None) -> str:
    """Scratch space of one ingest (deleted when it ends): ``<lake>/_staging/ingest_tweets/...``."""
    name = run_id if batch is None else f"{run_id}-batch-{batch}"
    return join_uri(config.lake_root, "_staging", "ingest_tweets", name)


def ingest(spark: SparkSession, config: Config, run_id: str, raw: Optional[str] = None) -> Dict[str, Any]:
    """Batch ingest of everything under ``raw`` (default ``<lake>/raw/tweets``)."""
    raw = raw or default_raw(config)
    tweets_path = config.table("curated", "tweets")
    quarantine_path = config.table("quarantine", "tweets")
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        delta_io.ensure_quarantine(spark, quarantine_path)
        files = io.list_raw_files(spark, raw)
        counts = ingest_files(spark, files, tweets_path, quarantine_path, run_id, staging_dir(config, run_id))
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
    names to :func:`ingest_files`. Each micro-batch writes its own step record
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
            counts = ingest_files(spark, files, tweets_path, quarantine_path, run_id,
                                  staging_dir(config, run_id, batch_id))
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


def check_raw(raw: str) -> Dict[str, int]:
    """The data files under ``raw`` (``{uri: size}``), before any Spark starts; raises
    :class:`RawInputError` when ``raw`` does not exist (a mistyped prefix must not look like an
    empty one)."""
    if not fs.exists(raw):
        raise RawInputError(f"{raw} does not exist: land tweet dumps there or pass --raw PREFIX")
    return fs.data_files(fs.file_sizes(raw, recursive=True))


def run(ctx: JobContext) -> Dict[str, Any]:
    args, config = ctx.args, ctx.config
    raw = args.raw or default_raw(config)
    if ctx.in_pipeline and not fs.exists(raw):
        return {"skipped": f"no raw tweets at {raw}"}
    if not check_raw(raw) and not args.stream:
        return {"skipped": f"nothing to ingest under {raw}"}
    if args.stream:
        query = start_stream(ctx.spark, config, ctx.run_id, raw, args.checkpoint,
                             args.trigger_interval, args.max_files_per_trigger)
        query.awaitTermination()
        return {"stream": "stopped", "checkpoint": args.checkpoint or default_checkpoint(config)}
    with ctx.stage("ingest raw files"):
        return ingest(ctx.spark, config, ctx.run_id, raw)
