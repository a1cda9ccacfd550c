"""Reading raw tweet files and writing ``curated/tweets`` / ``quarantine/tweets``.

Fast path: every JSON file (plain or gzip) is read whole by Spark's JVM text reader
(``wholetext``), one row per file, so lines keep their numbers and nothing is parsed in
Python. ``ignoreCorruptFiles`` makes a file the JVM cannot finish (a truncated gzip member
throws ``EOFException`` in Hadoop's codec) yield no row instead of failing the job; such files,
and CSV exports, are then read by the tolerant Python reader (:mod:`crisislake.tweets.decode`),
which keeps every complete line and quarantines the damaged tail.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, List, Sequence, Tuple
from urllib.parse import unquote

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake import delta_io, storage
from crisislake.tweets.schemas import TWEETS_SCHEMA
from crisislake.tweets.transforms import richness_sql

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

CSV_SUFFIXES = (".csv", ".csv.gz")
SKIP_PREFIXES = ("_", ".")  # _SUCCESS, .crc, hidden files
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
    """Compare file URIs from listings and from Spark's metadata alike (``file:/x`` == ``file:///x``).

    >>> normalise_uri("file:///tmp/a%20b.json") == normalise_uri("file:/tmp/a b.json")
    True
    """
    uri = unquote(uri)
    if uri.startswith("file://"):
        uri = "file:" + uri[len("file://"):]
    return uri


def list_raw_files(spark: SparkSession, uri: str) -> List[str]:
    """Every data file under ``uri`` (recursively), skipping ``_``/``.``-prefixed names."""
    return [f for f in storage.list_files(spark, uri, recursive=True)
            if not f.rsplit("/", 1)[-1].startswith(SKIP_PREFIXES)]


def split_by_format(files: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(JSON files, CSV files) by name; anything not ``.csv``/``.csv.gz`` is read as JSON."""
    csv_files = [f for f in files if f.lower().endswith(CSV_SUFFIXES)]
    return [f for f in files if f not in set(csv_files)], csv_files


def read_json_files(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    """``source_uri, value``: one row per file the JVM reads completely (text decoded as UTF-8)."""
    if not files:
        return spark.createDataFrame([], "source_uri string, value string")
    _quiet_corrupt_file_warnings(spark)
    return (
        spark.read.format("text")
        .option("wholetext", "true")
        .option("ignoreCorruptFiles", "true")
        .load(list(files))
        .select(F.col("_metadata.file_path").alias("source_uri"), "value")
    )


def _quiet_corrupt_file_warnings(spark: SparkSession) -> None:
    """FileScanRDD logs a full stack trace for every file ``ignoreCorruptFiles`` skips; those
    files are re-read and reported by the Python reader, so keep only its errors."""
    try:
        jvm = spark.sparkContext._jvm
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
            "org.apache.spark.sql.execution.datasources.FileScanRDD", jvm.org.apache.logging.log4j.Level.ERROR
        )
    except Exception:  # logging only; never fail a read over it
        pass


def read_files_tolerant(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    """Lines/rows of ``files`` through the Python reader, as :data:`LINE_SCHEMA`.

    One Python call per file (the whole file is one binary value), so use it for the few
    files the JVM cannot read and for CSV exports, not for bulk JSON.
    """
    if not files:
        return spark.createDataFrame([], LINE_SCHEMA)

    from pyspark import cloudpickle

    from crisislake.tweets import decode as decode_module

    # Ship the (stdlib-only) decoder by value: a local session's Python workers may run an
    # interpreter where the crisislake package is not installed.
    cloudpickle.register_pickle_by_value(decode_module)

    @F.udf(_DECODED)
    def decode(path: str, content: bytes) -> list:
        return decode_module.decode_file(path, content)

    return (
        spark.read.format("binaryFile").load(list(files))
        .select(F.col("path").alias("source_uri"), F.explode(decode("path", "content")).alias("rec"))
        .select("source_uri", F.col("rec.line").alias("source_line"), "rec.payload", "rec.raw", "rec.error")
    )


def files_seen(df: DataFrame) -> Iterable[str]:
    """Normalised URIs present in ``df.source_uri`` (an action; one small row per file)."""
    return {normalise_uri(r[0]) for r in df.select("source_uri").distinct().collect()}


def write_tweets(spark: SparkSession, tweets_df: DataFrame, path: str) -> Dict[str, int]:
    """MERGE tweets (unique on ``tweet_id``) into ``curated/tweets``; a matched row is replaced
    only by a richer version, so re-runs change nothing. Returns Delta's metrics."""
    delta_io.ensure_table(spark, path, TWEETS_SCHEMA)
    return delta_io.merge_into(
        spark, tweets_df, path, ["tweet_id"],
        update_condition=f"{richness_sql('s')} > {richness_sql('t')}",
    )


def write_quarantine(spark: SparkSession, rows: DataFrame, path: str, run_id: str) -> int:
    """Append bad records to ``quarantine/tweets`` (MERGE on file, line, reason)."""
    return delta_io.write_quarantine(spark, delta_io.to_quarantine(rows, run_id), path)
