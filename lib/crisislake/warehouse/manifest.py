"""COPY manifests: build them for an export, and check a manifest and its files against the model.

A manifest is Redshift's own format, nothing added (COPY rejects unknown keys)::

    {"entries": [{"url": "s3://bucket/lake/exports/fact_tweet/<run>/part-00000-....parquet",
                  "mandatory": true, "meta": {"content_length": 1048576}}, ...]}

Locally the URLs are ``file:///abs/path`` URIs. Files are read with pyarrow (footers only for the
checks; record batches for the PostgreSQL bulk load), locally or from S3.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple
from urllib.parse import unquote, urlparse

from crisislake.errors import CrisislakeError
from crisislake.warehouse.model import Table, arrow_type_matches

MANIFEST_NAME = "manifest.json"


class ExportValidationError(CrisislakeError, ValueError):
    """A manifest or one of its files does not match the model; names the table and column."""


@dataclass
class ExportInfo:
    table: str
    manifest_url: str
    urls: List[str]
    rows: int
    bytes: int


def manifest_url_for(uri: str) -> str:
    """The URL a manifest lists for a file Spark/Hadoop reports as ``uri``.

    >>> manifest_url_for("s3a://bucket/lake/exports/t/r/part-0.parquet")
    's3://bucket/lake/exports/t/r/part-0.parquet'
    >>> manifest_url_for("file:/tmp/lake/exports/t/r/part-0.parquet")
    'file:///tmp/lake/exports/t/r/part-0.parquet'
    >>> manifest_url_for("/tmp/lake/x.parquet")
    'file:///tmp/lake/x.parquet'
    """
    for prefix in ("s3a://", "s3n://"):
        if uri.startswith(prefix):
            return "s3://" + uri[len(prefix):]
    if uri.startswith("s3://") or uri.startswith("file:///"):
        return uri
    if uri.startswith("file:"):
        return "file:///" + uri[len("file:"):].lstrip("/")
    if uri.startswith("/"):
        return "file://" + uri
    raise ValueError(f"cannot turn {uri!r} into a manifest URL (expected an absolute path, file: or s3 URI)")


def build_manifest(files: Sequence[Tuple[str, int]]) -> dict:
    """A Redshift COPY manifest for ``(url, size_in_bytes)`` pairs.

    >>> build_manifest([("s3://b/x/part-0.parquet", 10)])
    {'entries': [{'url': 's3://b/x/part-0.parquet', 'mandatory': True, 'meta': {'content_length': 10}}]}
    """
    return {
        "entries": [
            {"url": url, "mandatory": True, "meta": {"content_length": int(size)}}
            for url, size in files
        ]
    }


def _filesystem(url: str, s3_endpoint: str = ""):
    """(pyarrow filesystem, path) for a ``file://``/absolute or ``s3://``/``s3a://`` URL."""
    from pyarrow import fs as pafs

    parsed = urlparse(url)
    if parsed.scheme in ("s3", "s3a"):
        kwargs = {}
        if s3_endpoint:
            endpoint = urlparse(s3_endpoint)
            kwargs = {"endpoint_override": endpoint.netloc, "scheme": endpoint.scheme or "https"}
        return pafs.S3FileSystem(**kwargs), f"{parsed.netloc}{parsed.path}"
    if parsed.scheme == "file":
        return pafs.LocalFileSystem(), unquote(parsed.path)
    if parsed.scheme == "":
        return pafs.LocalFileSystem(), os.path.abspath(url)
    raise ExportValidationError(f"unsupported URL scheme in {url!r}")


def read_bytes(url: str, s3_endpoint: str = "") -> bytes:
    fs, path = _filesystem(url, s3_endpoint)
    with fs.open_input_stream(path) as stream:
        return stream.read()


def read_manifest(url: str, s3_endpoint: str = "") -> dict:
    try:
        return json.loads(read_bytes(url, s3_endpoint).decode("utf-8"))
    except FileNotFoundError as exc:
        raise ExportValidationError(f"manifest {url} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise ExportValidationError(f"manifest {url} cannot be read: {exc}") from exc


def validate_manifest_entries(table: str, manifest: dict) -> List[Tuple[str, int]]:
    entries = manifest.get("entries") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ExportValidationError(f"{table}: manifest has no entries")
    out = []
    for i, entry in enumerate(entries):
        try:
            url, mandatory, size = entry["url"], entry["mandatory"], entry["meta"]["content_length"]
        except (KeyError, TypeError) as exc:
            raise ExportValidationError(f"{table}: manifest entry {i} lacks {exc}") from None
        if mandatory is not True or not isinstance(size, int):
            raise ExportValidationError(f"{table}: manifest entry {i} must be mandatory with an integer content_length")
        out.append((url, size))
    return out


def validate_parquet_schema(table: Table, arrow_schema, where: str) -> None:
    """Raise :class:`ExportValidationError` unless ``arrow_schema`` is exactly ``table``'s columns."""
    expected = table.column_names
    actual = list(arrow_schema.names)
    for i, name in enumerate(expected):
        if i >= len(actual):
            raise ExportValidationError(
                f"{table.name}: column {name} is missing from {where} ({len(actual)} columns, expected {len(expected)})"
            )
        if actual[i] != name:
            raise ExportValidationError(
                f"{table.name}: column {i + 1} of {where} is {actual[i]!r}, expected {name!r} (schema drift)"
            )
        column = table.column(name)
        arrow_type = arrow_schema.field(i).type
        if not arrow_type_matches(column.type, arrow_type):
            raise ExportValidationError(
                f"{table.name}: column {name} of {where} is {arrow_type}, expected {column.type.render('redshift')}"
            )
    if len(actual) > len(expected):
        raise ExportValidationError(
            f"{table.name}: column {actual[len(expected)]} of {where} is not in the model "
            f"({len(actual)} columns, expected {len(expected)}; schema drift)"
        )


def validate_export(table: Table, manifest_url: str, s3_endpoint: str = "") -> ExportInfo:
    """Check a manifest and every file it lists against ``table`` before anything is loaded.

    Checks: the manifest's shape; every file exists with exactly its ``content_length``; every
    file's Parquet schema has the model's columns in order with matching types. Reads footers
    only. Returns the totals the load audit records.
    """
    import pyarrow.parquet as pq

    manifest = read_manifest(manifest_url, s3_endpoint)
    entries = validate_manifest_entries(table.name, manifest)
    rows = total = 0
    for url, size in entries:
        fs, path = _filesystem(url, s3_endpoint)
        info = fs.get_file_info(path)
        if info.size is None:
            raise ExportValidationError(f"{table.name}: file {url} listed in the manifest does not exist")
        if info.size != size:
            raise ExportValidationError(
                f"{table.name}: file {url} has {info.size} bytes, manifest says {size}"
            )
        with fs.open_input_file(path) as handle:
            meta = pq.ParquetFile(handle).metadata
            validate_parquet_schema(table, meta.schema.to_arrow_schema(), url)
            rows += meta.num_rows
        total += size
    return ExportInfo(table.name, manifest_url, [u for u, _ in entries], rows, total)


def iter_csv_chunks(urls: Sequence[str], batch_rows: int = 65536, s3_endpoint: str = "") -> Iterator[bytes]:
    """CSV (PostgreSQL ``COPY ... (FORMAT csv)``) for the files' rows, one record batch at a time.

    Memory stays bounded by ``batch_rows``: files are streamed batch by batch, never loaded whole.
    NULL is an unquoted empty field and an empty string is ``""`` (pyarrow quotes it).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for url in urls:
        fs, path = _filesystem(url, s3_endpoint)
        with fs.open_input_file(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
                sink = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([batch]), sink, options)
                yield sink.getvalue()


def manifest_location(exports_zone: str, table: str, run_id: str) -> str:
    return f"{exports_zone.rstrip('/')}/{table}/{run_id}/{MANIFEST_NAME}"


def export_dir(exports_zone: str, table: str, run_id: str) -> str:
    return f"{exports_zone.rstrip('/')}/{table}/{run_id}"
