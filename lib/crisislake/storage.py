"""Small-file I/O on any Hadoop path (local, ``s3://``, ``s3a://``) through the session's FileSystem.

Used for run records, manifests and sidecars so the same code works on disk and on S3 with the
session's S3 settings. Large data goes through DataFrame readers/writers, never through here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession


def _fs_and_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def exists(spark: SparkSession, uri: str) -> bool:
    fs, path = _fs_and_path(spark, uri)
    return bool(fs.exists(path))


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write (overwrite) a small UTF-8 text file."""
    fs, path = _fs_and_path(spark, uri)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def read_text(spark: SparkSession, uri: str) -> str:
    fs, path = _fs_and_path(spark, uri)
    stream = fs.open(path)
    try:
        jvm = spark.sparkContext._jvm
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def list_files(spark: SparkSession, uri: str, recursive: bool = True) -> List[str]:
    """Fully-qualified URIs of the files under ``uri`` (empty if it does not exist)."""
    return sorted(file_sizes(spark, uri, recursive))


def file_sizes(spark: SparkSession, uri: str, recursive: bool = True) -> Dict[str, int]:
    """``{uri: size in bytes}`` of the files under ``uri`` from one listing (on S3, LIST pages
    carry the sizes: no HEAD request per file); empty if ``uri`` does not exist."""
    fs, path = _fs_and_path(spark, uri)
    if not fs.exists(path):
        return {}
    out = {}
    iterator = fs.listFiles(path, recursive)
    while iterator.hasNext():
        status = iterator.next()
        out[str(status.getPath().toString())] = int(status.getLen())
    return out


SKIP_PREFIXES = ("_", ".")  # _SUCCESS, .crc, hidden and temporary files


def data_files(sizes: Mapping[str, int]) -> Dict[str, int]:
    """``sizes`` (``{uri: size}``, e.g. from :func:`file_sizes`) in name order without
    ``_``/``.``-prefixed names (markers, hidden and temporary files).

    >>> data_files({"s3://b/p/b.json": 2, "s3://b/p/_SUCCESS": 0, "s3://b/p/.a.crc": 1, "s3://b/p/a.json": 3})
    {'s3://b/p/a.json': 3, 's3://b/p/b.json': 2}
    """
    return {f: sizes[f] for f in sorted(sizes) if not f.rsplit("/", 1)[-1].startswith(SKIP_PREFIXES)}


def file_size(spark: SparkSession, uri: str) -> int:
    fs, path = _fs_and_path(spark, uri)
    return int(fs.getFileStatus(path).getLen())


def delete(spark: SparkSession, uri: str) -> None:
    """Delete ``uri`` and everything under it (nothing to do if it does not exist)."""
    fs, path = _fs_and_path(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)
