"""One batch of raw tweet files -> ``curated/tweets`` and ``quarantine/tweets``, parsed once.

The stages of :func:`ingest_files`, each a Spark action at most:

1. :func:`plan_reads`: which reader takes each file. The line reader takes JSON files,
   plain or gzip; the tolerant Python reader takes CSV exports and damaged gzip files. Finding
   the damaged ones is a Spark job over the ``.gz`` files, and only runs when there are some.
2. :func:`parse_and_count`: one pass reads every line, parses it into tweet rows and
   quarantine rows, keeps them in Spark's cache (memory, spilling to local disk) and counts
   them: records, quarantined, distinct tweet ids.
3. :func:`write_tweets`: the good rows go to ``curated/tweets`` from the cache in one Delta
   commit (the first load's write, else a MERGE). Only when the batch repeats a tweet does a
   shuffle pick each tweet's richest version first.
4. :func:`write_quarantine`: the bad rows go to ``quarantine/tweets``; skipped when there are
   none.

Exactly once: the only table changes are the two Delta commits, and a re-run of the same files
finds every tweet and quarantine row already there. Reconciliation: records read = new +
duplicates + quarantined, from the counts of stage 2 and the rows the write inserted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Mapping

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from crisislake.session import temporary_conf
from crisislake.tweets import io, transforms

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadPlan:
    """Which reader takes each listed file: ``lines`` Spark's line reader, ``tolerant`` the
    Python reader (CSV exports, damaged gzip)."""

    lines: List[str]
    tolerant: List[str]


@dataclass(frozen=True)
class Totals:
    """What stage 2 counted: records (good and bad), those quarantined, distinct good tweet
    ids."""

    read: int
    quarantined: int
    distinct: int

    @property
    def repeats(self) -> bool:
        """Whether some tweet comes more than once in the batch."""
        return self.distinct < self.read - self.quarantined


def plan_reads(spark: SparkSession, files: Mapping[str, int]) -> ReadPlan:
    """Stage 1: route each file to a reader (a Spark job only when there are ``.gz`` files)."""
    json_files, csv_files = io.split_by_format(files)
    damaged = io.damaged_gzip_files(spark, json_files)
    for uri, why in sorted(damaged.items()):
        log.warning("%s: %s; reading it with the tolerant Python reader", uri, why)
    return ReadPlan(lines=[f for f in json_files if f not in damaged],
                    tolerant=[f for f in json_files if f in damaged] + list(csv_files))


@dataclass(frozen=True)
class Parsed:
    """Stage 2's result: the records (the contract columns, ``reason``, ``raw_payload``), their
    counts, and the cached DataFrame they are read from (unpersist it when done)."""

    records: DataFrame
    totals: Totals
    cached: DataFrame


def parse_and_count(
    spark: SparkSession, plan: ReadPlan, sizes: Mapping[str, int], run_id: str, ingested_at: datetime
) -> Parsed:
    """Stage 2: the parsed records of every file, cached, and their counts (one pass).

    Call inside :func:`io.one_file_per_partition` and :data:`transforms.PARSE_CONF`: the line
    numbers and the Arrow batch size are fixed when the pass is planned."""
    lines = io.read_json_lines(spark, plan.lines, sizes)
    tolerant = io.read_files_tolerant(spark, plan.tolerant) if plan.tolerant else None
    both = lines if tolerant is None else lines.unionByName(tolerant)
    records = both.transform(transforms.to_records(run_id, ingested_at)).persist(StorageLevel.MEMORY_AND_DISK)
    return Parsed(records, _count(records), records)


def _count(records: DataFrame) -> Totals:
    """The action of stage 2 (it fills the cache); the driver gets one row."""
    row = records.agg(*transforms.record_totals()).first()
    return Totals(int(row["read"]), int(row["quarantined"]), int(row["distinct"]))


def write_tweets(spark: SparkSession, records: DataFrame, totals: Totals, tweets_path: str) -> Dict[str, int]:
    """Stage 3: the good records into ``curated/tweets``, after the in-batch pick of the richest
    version when the batch repeats a tweet (a shuffle; a batch without repeats skips it)."""
    tweets = transforms.select_tweets(records)
    if totals.repeats:
        tweets = transforms.pick_richest(tweets)
    return io.write_tweets(spark, tweets, tweets_path)


def write_quarantine(spark: SparkSession, records: DataFrame, totals: Totals, quarantine_path: str, run_id: str) -> int:
    """Stage 4: the bad records into ``quarantine/tweets`` (none to write: no Spark job)."""
    if not totals.quarantined:
        return 0
    return io.write_quarantine(spark, transforms.select_quarantine(records), quarantine_path, run_id)


def ingest_files(
    spark: SparkSession, files: Mapping[str, int], tweets_path: str, quarantine_path: str, run_id: str
) -> Dict[str, Any]:
    """Ingest exactly ``files`` (``{uri: size in bytes}``, as listed) in the four stages of the
    module docstring; return the reconciliation counts. The driver only collects counts."""
    plan = plan_reads(spark, files)
    ingested_at = datetime.now(timezone.utc)  # one value for the whole batch, whichever parse
    with io.one_file_per_partition(spark), temporary_conf(spark, transforms.PARSE_CONF):
        parsed = parse_and_count(spark, plan, files, run_id, ingested_at)
    try:
        merged = write_tweets(spark, parsed.records, parsed.totals, tweets_path)
        added = write_quarantine(spark, parsed.records, parsed.totals, quarantine_path, run_id)
    finally:
        parsed.cached.unpersist()
    totals = parsed.totals
    return reconciliation(len(files), len(plan.tolerant), totals, merged, added)


def reconciliation(files: int, tolerant: int, totals: Totals, merged: Mapping[str, int], added: int) -> Dict[str, Any]:
    """The batch's counts: records read = new + duplicates (in the input, or already in the
    table) + quarantined.

    >>> c = reconciliation(7, 2, Totals(read=621, quarantined=5, distinct=596), {"inserted": 596, "updated": 0}, 5)
    >>> (c["records_read"], c["new_rows"], c["duplicates"], c["quarantined"])
    (621, 596, 20, 5)
    """
    good = totals.read - totals.quarantined
    new = merged["inserted"]
    return {
        "files_read": files,
        "files_read_by_python": tolerant,
        "records_read": totals.read,
        "new_rows": new,
        "duplicates": good - new,
        "duplicates_in_input": good - totals.distinct,
        "already_present": totals.distinct - new,
        "replaced_by_richer": merged["updated"],
        "quarantined": totals.quarantined,
        "quarantine_rows_added": added,
    }
