"""Delta writes shared by every job: idempotent MERGE on natural keys, a first load that creates
its table with its rows, and quarantine rows."""
from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Dict, Optional, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake import fs
from crisislake.session import temporary_conf

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
# How long ensure_table waits for another run's first commit before it takes a log folder without
# a commit for a killed creation (a first commit takes well under a second).
CREATION_WAIT_S = 10.0
CREATION_POLL_S = 1.0

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("source_uri", T.StringType(), False),
        T.StructField("source_line", T.LongType(), True),
        T.StructField("raw_payload", T.StringType(), True),
        T.StructField("reason", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("quarantined_at", T.TimestampType(), False),
    ]
)


# A commit or checkpoint file of a Delta log: what makes a ``_delta_log`` folder a table.
_LOG_ENTRY = re.compile(r"^\d{20}\.(json|checkpoint(\.\d+\.\d+)?\.parquet)$|^_last_checkpoint$")


def is_delta_table(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table with at least one commit is at ``path``."""
    from delta.tables import DeltaTable

    try:
        found = bool(DeltaTable.isDeltaTable(spark, path))
    except Exception:  # a missing bucket/prefix is "not a table yet"
        return False
    return found and not _uncommitted_log(path)


def _uncommitted_log(path: str) -> bool:
    """``path/_delta_log`` exists but holds no commit: what a run killed while creating the table
    leaves (a temporary commit file that was never renamed). Delta takes the folder for a table
    and then fails with DELTA_TABLE_NOT_FOUND; no reader can see anything in it."""
    base = f"{path.rstrip('/')}/_delta_log"
    # A committed table has its first commit or, once old commits are cleaned up, a checkpoint
    # pointer: two lookups instead of listing a log that can hold thousands of commits.
    if fs.exists(f"{base}/{0:020d}.json") or fs.exists(f"{base}/_last_checkpoint"):
        return False
    names = fs.names_in(base)
    return names is not None and not any(_LOG_ENTRY.match(n) for n in names)


def _clear_uncommitted_log(path: str) -> None:
    """Remove a ``_delta_log`` that holds no commit (see :func:`_uncommitted_log`)."""
    if _uncommitted_log(path):
        log.warning("%s: _delta_log holds no commit (a creation that was killed); removing it", path)
        fs.delete(f"{path.rstrip('/')}/_delta_log")


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: T.StructType,
    partition_by: Sequence[str] = (),
    properties: Optional[Dict[str, str]] = None,
) -> None:
    """Create an empty Delta table at ``path`` with ``schema`` (and table ``properties``) unless
    one is there.

    A ``_delta_log`` folder without a commit makes Delta fail with DELTA_TABLE_NOT_FOUND: either
    another run is creating the table this moment, or a run was killed while creating it. So wait
    for the other run's commit (up to ``CREATION_WAIT_S``), then take the folder for a killed
    creation: remove it and create the table."""
    from delta.tables import DeltaTable

    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    polls = int(CREATION_WAIT_S / CREATION_POLL_S)
    for attempt in range(polls + 2):
        try:
            builder.execute()
            return
        except Exception as exc:  # noqa: BLE001 - only the uncommitted-log case is handled
            if "DELTA_TABLE_NOT_FOUND" not in str(exc) or not _uncommitted_log(path) or attempt > polls:
                if is_delta_table(spark, path):  # another run committed the table meanwhile
                    return
                raise
        if attempt < polls:
            time.sleep(CREATION_POLL_S)
        else:
            _clear_uncommitted_log(path)


def create_with_rows(
    spark: SparkSession, rows: DataFrame, path: str, properties: Optional[Dict[str, str]] = None
) -> Optional[int]:
    """Create the Delta table at ``path`` from ``rows`` in one commit (version 0, the schema as
    ``rows`` have it, every column nullable) and return how many rows it holds; None, writing
    nothing, when a table is already there or another writer created it first: then MERGE.

    A first load this way skips creating an empty table and a MERGE into it: on one file of the
    ingest benchmark (12,500 tweets) the cold ingest took 17.3-17.5 s against 22.8-24.5, and
    2.6-3.0 s against 4.8-5.3 once the JVM was warm. Two first loads racing both aim at version
    0 and only one can commit it, so the data cannot land twice. Table ``properties`` must be
    ``delta.*`` ones: they are given as the session's defaults for new tables during the write,
    so they apply from the first file (file statistics, say)."""
    from delta.tables import DeltaTable

    defaults = {}
    for key, value in (properties or {}).items():
        if not key.startswith("delta."):
            raise ValueError(f"table property {key!r}: only delta.* properties can be set at creation")
        defaults["spark.databricks.delta.properties.defaults." + key[len("delta."):]] = value
    if is_delta_table(spark, path):
        return None
    try:
        with temporary_conf(spark, defaults):
            rows.write.format("delta").mode("errorifexists").save(path)
    except Exception:  # noqa: BLE001 - lost the race only if a table is there now
        if is_delta_table(spark, path):
            return None
        raise
    ours = DeltaTable.forPath(spark, path).history().filter("version = 0").select("operationMetrics").first()
    return int(((ours[0] if ours else None) or {}).get("numOutputRows", 0))


def merge_into(
    spark: SparkSession,
    source: DataFrame,
    path: str,
    keys: Sequence[str],
    update_condition: Optional[str] = None,
    update: bool = True,
    partition_by: Sequence[str] = (),
) -> Dict[str, int]:
    """MERGE ``source`` into the Delta table at ``path`` on ``keys`` (null-safe equality).

    New keys are inserted; matched rows are updated when ``update`` is true and
    ``update_condition`` (SQL over ``t.`` target and ``s.`` source) holds. ``source`` must be
    unique on ``keys``. Returns Delta's own operation metrics: rows inserted / updated.
    One MERGE is one Delta commit, so a failure leaves the table as it was.
    """
    from delta.tables import DeltaTable

    ensure_table(spark, path, source.schema, partition_by)
    target = DeltaTable.forPath(spark, path)
    version_before = target.history(1).select("version").first()[0]
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = target.alias("t").merge(source.alias("s"), condition)
    # Into a table without data files nothing can match, so leave out the update clause: Delta
    # then runs an insert-only MERGE (one pass over the source: no materialised copy of it, no
    # join to find touched files), about the cost of an append, and still one commit that
    # conflicts with a concurrent writer like any MERGE.
    if update and not _has_data_files(target):
        update = False
    if update:
        merge = merge.whenMatchedUpdateAll(condition=update_condition)
    merge.whenNotMatchedInsertAll().execute()
    last = target.history(1).select("version", "operationMetrics").first()
    # A MERGE with nothing to write makes no commit: then the last entry is an older one.
    metrics = (last[1] or {}) if last[0] != version_before else {}
    return {
        "inserted": int(metrics.get("numTargetRowsInserted", 0)),
        "updated": int(metrics.get("numTargetRowsUpdated", 0)),
        "source_rows": int(metrics.get("numSourceRows", 0)),
    }


def has_rows(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` is a Delta table with at least one data file (metadata only)."""
    from delta.tables import DeltaTable

    return is_delta_table(spark, path) and _has_data_files(DeltaTable.forPath(spark, path))


def _has_data_files(target) -> bool:
    """Whether the Delta table's current snapshot has any data file (a metadata read)."""
    return bool(target.detail().select("numFiles").first()[0])


def to_quarantine(df: DataFrame, run_id: str) -> DataFrame:
    """Shape rows with ``source_uri, source_line, raw_payload, reason`` into the quarantine schema."""
    return df.select(
        F.col("source_uri").cast("string"),
        F.col("source_line").cast("long"),
        F.col("raw_payload").cast("string"),
        F.col("reason").cast("string"),
        F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("quarantined_at"),
    )


def ensure_quarantine(spark: SparkSession, *paths: str) -> None:
    """Create each quarantine table (empty, with :data:`QUARANTINE_SCHEMA`) unless it is there,
    so readers find every quarantine table a step promises from its first run on."""
    for path in paths:
        ensure_table(spark, path, QUARANTINE_SCHEMA)


def write_quarantine(spark: SparkSession, rows: DataFrame, path: str) -> int:
    """MERGE quarantine rows on (source_uri, source_line, reason): a re-run adds none twice.

    Returns the number of rows newly quarantined.
    """
    deduped = rows.dropDuplicates(["source_uri", "source_line", "reason"])
    ensure_table(spark, path, QUARANTINE_SCHEMA)
    return merge_into(spark, deduped, path, ["source_uri", "source_line", "reason"], update=False)["inserted"]
