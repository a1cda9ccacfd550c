"""File I/O for the file contract (CSV, CSV.gz, Parquet by extension; one output file) and the
lake tables of dedup/incidents."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crisislake.errors import CrisislakeError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession


class UnsupportedFileError(CrisislakeError, ValueError):
    """The file's extension is not .csv, .csv.gz or .parquet."""


def file_format(path: str) -> str:
    """``csv`` or ``parquet`` from the file name.

    >>> file_format("s3://b/tweets.csv.gz"), file_format("out.parquet")
    ('csv', 'parquet')
    """
    lowered = path.lower().rstrip("/")
    if lowered.endswith((".csv", ".csv.gz", ".csv.gzip", ".tsv")):
        return "csv"
    if lowered.endswith((".parquet", ".pq")):
        return "parquet"
    raise UnsupportedFileError(f"{path}: expected a .csv, .csv.gz or .parquet file")


def read_table_file(spark: SparkSession, path: str) -> DataFrame:
    """Read a CSV (header row, RFC 4180 quoting, quoted newlines allowed; every column a string)
    or Parquet file (its own types)."""
    if file_format(path) == "parquet":
        return spark.read.parquet(path)
    return (
        spark.read.option("header", True).option("multiLine", True).option("escape", '"')
        .option("mode", "PERMISSIVE").csv(path)
    )


def with_row_index(df: DataFrame, name: str = "node") -> DataFrame:
    """Add a ``long`` that increases in file order (partition index, then position).

    ``monotonically_increasing_id`` runs in the JVM (no Python round trip of every row, unlike
    ``rdd.zipWithIndex``) but is only stable for one evaluation: callers checkpoint the result
    before using it twice.
    """
    return df.withColumn(name, F.monotonically_increasing_id())


def write_single_file(df: DataFrame, path: str) -> None:
    """Write ``df`` as exactly one file at ``path`` (CSV with header, or Parquet), not a folder.

    Spark writes one part file into a temporary sibling folder, which is then renamed onto
    ``path`` through the Hadoop FileSystem (local disk or S3 alike). ``coalesce(1)`` is the price:
    the final write runs in one task; the output has three short columns per input row.
    """
    spark = df.sparkSession
    fmt = file_format(path)
    tmp = f"{path.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"
    writer = df.coalesce(1).write.mode("overwrite")
    if fmt == "csv":
        writer = writer.option("header", True).option("escape", '"')
        if path.lower().endswith((".gz", ".gzip")):
            writer = writer.option("compression", "gzip")
        writer.csv(tmp)
    else:
        writer.parquet(tmp)
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path
    fs = hpath(tmp).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    parts = [s.getPath() for s in fs.listStatus(hpath(tmp)) if s.getPath().getName().startswith("part-")]
    if len(parts) != 1:
        raise RuntimeError(f"expected one part file in {tmp}, found {len(parts)}")
    target = hpath(path)
    if fs.exists(target):
        fs.delete(target, True)
    if not fs.rename(parts[0], target):
        raise RuntimeError(f"could not move {parts[0]} to {path}")
    fs.delete(hpath(tmp), True)


def ids_as_given(df: DataFrame, id_col: str) -> DataFrame:
    """Validate that the id column exists; ids are kept with their own type and values."""
    if id_col not in df.columns:
        raise ValueError(f"id column {id_col!r} not in input columns {df.columns}")
    return df.withColumn(id_col, F.col(id_col))
