"""Reading raw tweet files and writing ``curated/tweets`` / ``quarantine/tweets``.

Fast path: JSON files (plain or gzip) are split into lines by Spark's JVM text reader, so a big
file streams instead of becoming one huge row (the lines are then parsed in Python workers, see
:mod:`crisislake.tweets.records`). Line numbers come from the read itself: each file (or split
of a large plain file) is read as its own partition, so a row's index in its partition is its
line within the split, and the few files larger than one split get the line counts of their
earlier splits added (one cheap counting pass over just those files).

Hadoop's gzip codec fails on a damaged member, so ``.gz`` files are checked first (a Python
pass that decompresses without keeping the output); damaged ones, and CSV exports, are read by
the tolerant Python reader (:mod:`crisislake.tweets.decode`), which keeps every complete line
and quarantines the damaged tail.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ContextManager, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import unquote

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake import delta_io, fs
from crisislake.session import temporary_conf
from crisislake.tweets import decode
from crisislake.tweets.schemas import TWEETS_SCHEMA, richness_sql
from crisislake.tweets.workers import shipped

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

CSV_SUFFIXES = (".csv", ".csv.gz")
LINE_SCHEMA = T.StructType(
    [
        T.StructField("source_uri", T.StringType()),
        T.StructField("source_line", T.LongType()),
        T.StructField("payload", T.StringType()),
        T.StructField("raw", T.StringType()),
        T.StructField("error", T.StringType()),
    ]
)
_DECODED = T.ArrayType(T.StructType(
    [T.StructField("line", T.LongType()), T.StructField("payload", T.StringType()),
     T.StructField("raw", T.StringType()), T.StructField("error", T.StringType())]
))


def normalise_uri(uri: str) -> str:
    """Compare file URIs from listings and from Spark's metadata alike (``file:/x`` == ``file:///x``
    == ``/x``).

    >>> normalise_uri("file:///tmp/a%20b.json") == normalise_uri("file:/tmp/a b.json") == normalise_uri("/tmp/a b.json")
    True
    """
    uri = unquote(uri)
    if uri.startswith("/"):
        uri = "file:" + uri
    if uri.startswith("file://"):
        uri = "file:" + uri[len("file://"):]
    return uri


def list_raw_files(uri: str) -> Dict[str, int]:
    """``{uri: size}`` of every data file under ``uri`` (recursively, in name order), skipping
    ``_``/``.``-prefixed names."""
    return fs.data_files(fs.file_sizes(uri, recursive=True))


def split_by_format(files: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(JSON files, CSV files) by name; anything not ``.csv``/``.csv.gz`` is read as JSON."""
    csv_files = [f for f in files if f.lower().endswith(CSV_SUFFIXES)]
    return [f for f in files if f not in set(csv_files)], csv_files


GZIP_SUFFIXES = (".gz", ".gzip")
# File-skipping statistics only on the columns readers filter on; by default Delta collects
# min/max for the first 32 columns, and the min/max of every tweet's text is pure write cost.
TWEETS_TABLE_PROPERTIES = {
    "delta.dataSkippingStatsColumns": "tweet_id,created_at,lang,author_id,place_country,ingested_at,run_id",
}
_INDEX_BITS = 33  # monotonically_increasing_id(): partition index << 33 | row index in partition


def one_file_per_partition(spark: SparkSession) -> ContextManager[None]:
    """A context inside which file scans put every file (or split) in a partition of its own.

    Spark packs small files together unless a file's "open cost" exceeds the split size; the
    setting is read when a query is planned, so every action over :func:`read_json_lines`
    must run inside this block (or after an eager checkpoint taken inside it).
    """
    return temporary_conf(spark, {"spark.sql.files.openCostInBytes": str(_max_split_bytes(spark) + 1)})


def _max_split_bytes(spark: SparkSession) -> int:
    return int(spark._jsparkSession.sessionState().conf().filesMaxPartitionBytes())


def damaged_gzip_files(spark: SparkSession, files: Sequence[str]) -> Dict[str, str]:
    """``{uri: reason}`` for the ``.gz`` files among ``files`` that are not complete gzip
    streams (or not gzip at all). One Python task per file; the output is not kept."""
    gz = [f for f in files if f.lower().endswith(GZIP_SUFFIXES)]
    if not gz:
        return {}
    decode_module = shipped(decode)

    @F.udf(T.StringType())
    def damage(content: bytes) -> str:
        return decode_module.gzip_damage(content)

    rows = (
        spark.read.format("binaryFile").load(list(gz))
        .select("path", damage("content").alias("damage"))
        .filter(F.col("damage").isNotNull())
        .collect()
    )
    by_name = {normalise_uri(f): f for f in gz}
    return {by_name.get(normalise_uri(r.path), r.path): r.damage for r in rows}


def read_json_lines(spark: SparkSession, files: Sequence[str], sizes: Optional[Mapping[str, int]] = None) -> DataFrame:
    """Lines of ``files`` read by the JVM, as :data:`LINE_SCHEMA` (``source_line`` 1-based,
    blank lines kept). Call, and run every action on the result, inside
    :func:`one_file_per_partition`; gzip files must have passed :func:`damaged_gzip_files`.
    ``sizes`` (from the listing) saves a metadata request per file that is not in it."""
    if not files:
        return spark.createDataFrame([], LINE_SCHEMA)
    lines = spark.read.format("text").load(list(files)).select(
        F.col("_metadata.file_path").alias("source_uri"),
        F.col("_metadata.file_block_start").alias("block_start"),
        F.monotonically_increasing_id().alias("row_id"),
        F.col("value").alias("payload"),
    )
    in_split = F.col("row_id").bitwiseAND(F.lit((1 << _INDEX_BITS) - 1)) + 1
    offsets = _split_line_offsets(spark, files, sizes or {})
    if offsets is not None:
        lines = lines.join(F.broadcast(offsets), ["source_uri", "block_start"], "left")
        in_split = in_split + F.coalesce(F.col("lines_before"), F.lit(0))
    return lines.select(
        "source_uri",
        in_split.cast("long").alias("source_line"),
        "payload",
        F.lit(None).cast("string").alias("raw"),
        F.lit(None).cast("string").alias("error"),
    )


def _split_line_offsets(spark: SparkSession, files: Sequence[str], sizes: Mapping[str, int]) -> Optional[DataFrame]:
    """For files Spark reads in several splits: ``source_uri, block_start, lines_before`` (lines
    in the file's earlier splits), from one counting pass over those files; None if no file
    is split (compressed files never are)."""
    limit = _max_split_bytes(spark)
    plain = [f for f in files if not f.lower().endswith(GZIP_SUFFIXES)]
    big = [f for f in plain if (sizes[f] if f in sizes else fs.file_size(f)) > limit]
    if not big:
        return None
    counts = (
        spark.read.format("text").load(big)
        .groupBy(F.col("_metadata.file_path").alias("source_uri"), F.col("_metadata.file_block_start").alias("block_start"))
        .count()
        .collect()
    )
    rows, seen, uri = [], 0, None
    for r in sorted(counts, key=lambda r: (r.source_uri, r.block_start)):
        if r.source_uri != uri:
            uri, seen = r.source_uri, 0
        rows.append((r.source_uri, r.block_start, seen))
        seen += r["count"]
    return spark.createDataFrame(rows, "source_uri string, block_start long, lines_before long")


def read_files_tolerant(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    """Lines/rows of ``files`` through the Python reader, as :data:`LINE_SCHEMA`.

    One Python call per file (the whole file is one binary value), so use it for the few
    files the JVM cannot read and for CSV exports, not for bulk JSON.
    """
    if not files:
        return spark.createDataFrame([], LINE_SCHEMA)

    decode_module = shipped(decode)

    @F.udf(_DECODED)
    def decode_udf(path: str, content: bytes) -> list:
        return decode_module.decode_file(path, content)

    return (
        spark.read.format("binaryFile").load(list(files))
        .select(F.col("path").alias("source_uri"), F.explode(decode_udf("path", "content")).alias("rec"))
        .select("source_uri", F.col("rec.line").alias("source_line"), "rec.payload", "rec.raw", "rec.error")
    )


def write_tweets(spark: SparkSession, tweets_df: DataFrame, path: str) -> Dict[str, int]:
    """MERGE tweets (unique on ``tweet_id``) into ``curated/tweets``; a matched row is replaced
    only by a richer version, so re-runs change nothing. The first load creates the table with
    its rows instead (:func:`delta_io.create_with_rows`). Returns rows inserted and updated."""
    created = delta_io.create_with_rows(spark, tweets_df.select(*TWEETS_SCHEMA.names), path, TWEETS_TABLE_PROPERTIES)
    if created is not None:
        return {"inserted": created, "updated": 0, "source_rows": created}
    # create_with_rows found a table there (its own, or one created concurrently): MERGE into it.
    return delta_io.merge_into(
        spark, tweets_df, path, ["tweet_id"],
        update_condition=f"{richness_sql('s')} > {richness_sql('t')}",
    )


def write_quarantine(spark: SparkSession, rows: DataFrame, path: str, run_id: str) -> int:
    """Append bad records to ``quarantine/tweets`` (MERGE on file, line, reason)."""
    return delta_io.write_quarantine(spark, delta_io.to_quarantine(rows, run_id), path)
