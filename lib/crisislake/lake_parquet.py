"""Read a (Hive-partitioned) Parquet folder of the lake without Spark: local paths or S3, via pyarrow.

For readers outside Spark (``crisislake serve`` marts, ``crisislake report``). Small data only:
the whole folder becomes one in-memory Arrow table.
"""
from __future__ import annotations

from crisislake.errors import CrisislakeError


class NoParquetFiles(CrisislakeError, LookupError):
    """The folder holds no Parquet file (not written yet)."""


def _filesystem(uri: str, s3_endpoint: str = ""):
    """(pyarrow filesystem, path) for a local path, ``file://``, ``s3://`` or ``s3a://`` URI."""
    from pyarrow import fs as pafs

    if uri.startswith(("s3://", "s3a://")):
        bucket_path = uri.split("://", 1)[1]
        kwargs = {"endpoint_override": s3_endpoint} if s3_endpoint else {}
        if s3_endpoint.startswith("http://"):
            kwargs["scheme"] = "http"
        return pafs.S3FileSystem(**kwargs), bucket_path
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    return pafs.LocalFileSystem(), uri


def read_parquet_dir(uri: str, s3_endpoint: str = ""):
    """``(pyarrow.Table, newest file mtime)`` of a Hive-partitioned Parquet folder, or raise
    :class:`NoParquetFiles` when it holds no Parquet file."""
    import pyarrow.dataset as ds
    from pyarrow import fs as pafs

    fs, path = _filesystem(uri, s3_endpoint)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except (OSError, FileNotFoundError):
        infos = []
    files = [i for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet")
             and not i.base_name.startswith(("_", "."))]
    if not files:
        raise NoParquetFiles(f"no Parquet files under {uri}")
    newest = max(i.mtime_ns or 0 for i in files)
    dataset = ds.dataset([i.path for i in files], filesystem=fs, format="parquet",
                         partitioning=ds.partitioning(flavor="hive"), partition_base_dir=path)
    return dataset.to_table(), newest
