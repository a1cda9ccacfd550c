"""File I/O for the file contract (CSV, CSV.gz, Parquet by extension; one output file) and the
lake tables of dedup/incidents."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crisislake import fs
from crisislake.errors import CrisislakeError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession


class UnsupportedFileError(CrisislakeError, ValueError):
    """The file's extension is not .csv, .csv.gz or .parquet."""


class InputFileError(CrisislakeError, ValueError):
    """The file contract's arguments do not fit: no input file, no --output, a missing column."""


def check_file_contract(input_path: str, output_path: str) -> None:
    """Before Spark starts: the input exists, an output is named, and both have known formats."""
    if not output_path:
        raise InputFileError("--output FILE is required with --input")
    if not fs.exists(input_path):
        raise InputFileError(f"input file {input_path} does not exist")
    file_format(input_path)
    file_format(output_path)


def check_columns(df: DataFrame, path: str, columns) -> None:
    """Raise :class:`InputFileError` naming the first of ``columns`` that ``df`` lacks."""
    for col in columns:
        if col not in df.columns:
            raise InputFileError(f"column {col!r} not in {path} (columns: {', '.join(df.columns)})")


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
    parts = [f for f in fs.list_files(tmp, recursive=False) if f.rsplit("/", 1)[-1].startswith("part-")]
    if len(parts) != 1:
        raise RuntimeError(f"expected one part file in {tmp}, found {len(parts)}")
    fs.delete(path)
    fs.move(parts[0], path)
    fs.delete(tmp)


def ids_as_given(df: DataFrame, id_col: str) -> DataFrame:
    """Validate that the id column exists; ids are kept with their own type and values."""
    if id_col not in df.columns:
        raise ValueError(f"id column {id_col!r} not in input columns {df.columns}")
    return df.withColumn(id_col, F.col(id_col))
