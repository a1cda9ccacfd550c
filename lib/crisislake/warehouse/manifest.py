"""COPY manifests: build them for an export, and check a manifest and its files against the model.

A manifest is Redshift's own format, nothing added (COPY rejects unknown keys)::

    {"entries": [{"url": "s3://bucket/lake/exports/fact_tweet/<run>/part-00000-....parquet",
                  "mandatory": true, "meta": {"content_length": 1048576}}, ...]}

Locally the URLs are ``file:///abs/path`` URIs. Files are read through :mod:`crisislake.fs`
(footers only for the checks; record batches for the PostgreSQL bulk load), locally or from S3.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple

from crisislake import fs
from crisislake.errors import CrisislakeError
from crisislake.warehouse.model import Table, arrow_type_matches

MANIFEST_NAME = "manifest.json"
SCHEMA_SIDECAR = "_schema.json"  # beside the files: columns, key, rows, build time


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


def _check_scheme(url: str) -> None:
    if "://" in url and not (url.startswith("file://") or fs.is_s3(url)):
        raise ExportValidationError(f"unsupported URL scheme in {url!r}")


def read_manifest(url: str) -> dict:
    _check_scheme(url)
    try:
        return json.loads(fs.read_text(url))
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


def validate_export(table: Table, manifest_url: str) -> ExportInfo:
    """Check a manifest and every file it lists against ``table`` before anything is loaded.

    Checks: the manifest's shape; every file exists with exactly its ``content_length``; every
    file's Parquet schema has the model's columns in order with matching types. Reads footers
    only. Returns the totals the load audit records.
    """
    import pyarrow.parquet as pq

    manifest = read_manifest(manifest_url)
    entries = validate_manifest_entries(table.name, manifest)
    rows = total = 0
    for url, size in entries:
        _check_scheme(url)
        actual = fs.size_or_none(url)
        if actual is None:
            raise ExportValidationError(f"{table.name}: file {url} listed in the manifest does not exist")
        if actual != size:
            raise ExportValidationError(
                f"{table.name}: file {url} has {actual} bytes, manifest says {size}"
            )
        with fs.open_input_file(url) as handle:
            meta = pq.ParquetFile(handle).metadata
            validate_parquet_schema(table, meta.schema.to_arrow_schema(), url)
            rows += meta.num_rows
        total += size
    return ExportInfo(table.name, manifest_url, [u for u, _ in entries], rows, total)


def iter_csv_chunks(urls: Sequence[str], batch_rows: int = 65536) -> Iterator[bytes]:
    """CSV (PostgreSQL ``COPY ... (FORMAT csv)``) for the files' rows, one record batch at a time.

    Memory stays bounded by ``batch_rows``: files are streamed batch by batch, never loaded whole.
    NULL is an unquoted empty field and an empty string is ``""`` (pyarrow quotes it).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for url in urls:
        with fs.open_input_file(url) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
                sink = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([batch]), sink, options)
                yield sink.getvalue()


def manifest_location(exports_zone: str, table: str, run_id: str) -> str:
    return f"{exports_zone.rstrip('/')}/{table}/{run_id}/{MANIFEST_NAME}"


def export_dir(exports_zone: str, table: str, run_id: str) -> str:
    return f"{exports_zone.rstrip('/')}/{table}/{run_id}"
