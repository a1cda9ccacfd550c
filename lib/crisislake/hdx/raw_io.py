"""Reading ``raw/hdx``: find the published resources, sniff each file, parse it with Spark's CSV reader.

Layout written by the scraper (and by ``scripts/make_sample_hdx.py``)::

    raw/hdx/<dataset>/<resource_id>/<retrieved_at>/<filename>
    raw/hdx/<dataset>/<resource_id>/<retrieved_at>/_sidecar.json   # written last = published
    raw/hdx/_state/...                                               # scraper state, not data

Only the newest retrieval of each resource is read: every HDX resource file is a full export, so
older retrievals are superseded (they stay in ``raw/`` untouched, as landed).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from crisislake import fs
from crisislake.hdx.layout import FileLayout, decode_head, detect_encoding, layout_from_head

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SIDECAR_NAME = "_sidecar.json"
STATE_DIR = "_state"
HEAD_BYTES = 256 * 1024
CHUNK_BYTES = 8 * 1024 * 1024


@dataclass
class RawResource:
    """One published retrieval of one HDX resource."""

    data_uri: str
    dataset: str
    resource_id: str
    retrieved_at: str
    sidecar: Dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return f"{self.dataset}/{self.resource_id}"

    @property
    def filename(self) -> str:
        return self.data_uri.rsplit("/", 1)[-1]

    @property
    def is_csv(self) -> bool:
        fmt = str(self.sidecar.get("format") or "").strip().lower()
        return fmt == "csv" or self.filename.lower().endswith(".csv")

    @property
    def full_export(self) -> bool:
        return bool(self.sidecar.get("full_export", True))


@dataclass
class RawListing:
    latest: List[RawResource]
    superseded: int
    unpublished_files: int


def _parts_after_hdx(uri: str) -> Optional[Tuple[str, str, str]]:
    parts = uri.rstrip("/").split("/")
    if len(parts) < 4:
        return None
    dataset, resource_id, retrieved_at = parts[-4], parts[-3], parts[-2]
    return dataset, resource_id, retrieved_at


def list_raw_resources(raw_hdx_uri: str) -> RawListing:
    """The newest published retrieval of every resource under ``raw_hdx_uri``.

    One small read per sidecar (local or S3, :mod:`crisislake.fs`); hidden temp files of an
    interrupted download are not data.
    """
    files = [f for f in fs.data_files(fs.file_sizes(raw_hdx_uri)) if f"/{STATE_DIR}/" not in f]
    files += [f for f in fs.list_files(raw_hdx_uri) if f.endswith("/" + SIDECAR_NAME)]
    sidecars = [f for f in files if f.endswith("/" + SIDECAR_NAME)]
    published_dirs = {s.rsplit("/", 1)[0] for s in sidecars}
    unpublished = sum(
        1 for f in files if not f.endswith("/" + SIDECAR_NAME) and f.rsplit("/", 1)[0] not in published_dirs
    )
    by_scope: Dict[str, List[RawResource]] = {}
    for sidecar_uri in sidecars:
        meta = json.loads(fs.read_text(sidecar_uri))
        parts = _parts_after_hdx(sidecar_uri)
        if parts is None or not meta.get("filename"):
            log.warning("ignoring sidecar %s: unexpected path or no filename", sidecar_uri)
            continue
        dataset, resource_id, retrieved_at = parts
        data_uri = sidecar_uri.rsplit("/", 1)[0] + "/" + meta["filename"]
        res = RawResource(data_uri, dataset, resource_id, retrieved_at, meta)
        by_scope.setdefault(res.scope, []).append(res)
    latest = [sorted(v, key=lambda r: r.retrieved_at)[-1] for v in by_scope.values()]
    superseded = sum(len(v) - 1 for v in by_scope.values())
    return RawListing(sorted(latest, key=lambda r: r.data_uri), superseded, unpublished)


def sniff_layout(uri: str, scan_limit_bytes: int = 0) -> Tuple[FileLayout, Optional[str]]:
    """Detect encoding and column layout; return them with the file's sha256 when it was read whole.

    The encoding scan reads up to ``scan_limit_bytes`` (0 = the whole file, in bounded chunks) on
    the driver before Spark parses anything; the same pass hashes the file so the ingest can
    check it against the sidecar. Raises :class:`crisislake.hdx.layout.LayoutError` for files no
    ingestion path recognises.
    """
    head = b"".join(fs.iter_bytes(uri, chunk_bytes=HEAD_BYTES, limit=HEAD_BYTES))
    digest = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        for chunk in fs.iter_bytes(uri, chunk_bytes=CHUNK_BYTES, limit=scan_limit_bytes):
            digest.update(chunk)
            yield chunk

    chunks = hashed()
    encoding = detect_encoding(chunks)
    for _ in chunks:  # detection stops at the first non-UTF-8 byte; finish the hash
        pass
    layout = layout_from_head(decode_head(head, encoding), encoding)
    return layout, (digest.hexdigest() if scan_limit_bytes <= 0 else None)


def read_records(
    spark: SparkSession, resource: RawResource, layout: FileLayout, target_columns: Sequence[str]
) -> DataFrame:
    """Parse one file with Spark's CSV reader into string ``target_columns`` plus lineage.

    ``multiLine`` keeps quoted newlines (ACLED notes have them) inside their record; it also makes
    the file one partition, which is what lets ``monotonically_increasing_id`` number the records
    0..n-1 in file order (the record number becomes ``source_line``). Big exports therefore parse
    one task per file; parallelism comes from the number of files.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = T.StructType(
        [T.StructField(f"_c{i}", T.StringType(), True) for i in range(layout.n_columns)]
        + [T.StructField("_corrupt_record", T.StringType(), True)]
    )
    df = (
        spark.read.schema(schema)
        .option("header", False)
        .option("encoding", layout.encoding)
        .option("multiLine", True)
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .csv(resource.data_uri)
        .withColumn("_record", F.monotonically_increasing_id())
    )
    by_target = {target: i for i, target in layout.mapping.items()}
    seen_names = set()
    payload_fields = []
    for i, name in enumerate(layout.header):
        if name and name not in seen_names:
            seen_names.add(name)
            payload_fields.append(F.col(f"_c{i}").alias(name))
    payload = F.coalesce(F.col("_corrupt_record"), F.to_json(F.struct(*payload_fields)))
    return df.filter(F.col("_record") >= layout.data_starts_at).select(
        *[
            (F.col(f"_c{by_target[c]}") if c in by_target else F.lit(None).cast("string")).alias(c)
            for c in target_columns
        ],
        F.lit(resource.data_uri).alias("source_uri"),
        (F.col("_record") + 1).alias("source_line"),
        payload.alias("raw_payload"),
        F.col("_corrupt_record").isNotNull().alias("malformed"),
        F.lit(resource.scope).alias("scope"),
        F.lit(resource.retrieved_at).alias("retrieved_at"),
    )
