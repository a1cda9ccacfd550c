"""``crisislake ingest-hdx``: raw HDX/ACLED CSVs -> curated conflict tables (Delta).

* ACLED event files (today's lower-case schema, the old upper-case one, or HXL-tagged) ->
  ``curated/conflict_events`` (MERGE on ``event_id_cnty``; changed rows updated; events missing
  from a resource's newest full export flagged ``is_deleted``).
* HDX HAPI conflict aggregates (and the older "conflict events and fatalities" layout) ->
  ``curated/conflict_monthly``, admin names from the P-code list.
* The HDX global P-code list -> ``curated/admin_pcodes``.

Bad rows go to ``quarantine/<table>`` with a reason; files no path recognises (or whose bytes do
not match their sidecar) go to ``quarantine/hdx_files``.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Dict, List, Sequence, Tuple

from crisislake import delta_io
from crisislake.config import Config
from crisislake.context import JobContext, require_input
from crisislake.hdx.layout import ACLED_COLUMNS, EVENTS, MONTHLY, MONTHLY_COLUMNS, PCODE_COLUMNS, PCODES, LayoutError
from crisislake.hdx.raw_io import list_raw_resources, read_records, sniff_layout

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

STEP = "ingest-hdx"
FILE_QUARANTINE = "hdx_files"
TARGET_COLUMNS = {
    EVENTS: list(ACLED_COLUMNS),
    MONTHLY: list(MONTHLY_COLUMNS),
    PCODES: list(PCODE_COLUMNS.values()),
}


@dataclass
class IngestOptions:
    raw_uri: str = ""  # default: <lake>/raw/hdx
    encoding_scan_bytes: int = 0  # 0 = scan whole files
    mark_deletions: bool = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", default="", help="raw HDX folder (default: <lake>/raw/hdx)")
    parser.add_argument(
        "--encoding-scan-mb", type=int, default=0,
        help="bytes of each file read to detect its encoding, in MiB (default 0 = the whole file, "
             "which also verifies the sidecar sha256)",
    )
    parser.add_argument(
        "--no-deletions", action="store_true",
        help="do not flag events missing from a resource's newest export as deleted",
    )


def run(ctx: JobContext) -> dict:
    args = ctx.args
    options = IngestOptions(args.raw, args.encoding_scan_mb * 1024 * 1024, not args.no_deletions)
    raw = options.raw_uri or f"{ctx.config.zone('raw')}/hdx"
    missing = require_input(ctx, raw, "run `crisislake scrape-hdx` or pass --raw FOLDER",
                            skipped=f"no raw HDX files at {raw}")
    if missing:
        return missing
    with ctx.stage("ingest raw HDX resources"):
        return ingest_hdx(ctx.spark, ctx.config, ctx.run_id, options)


# --- orchestration ---------------------------------------------------------------------------

def ingest_hdx(spark: SparkSession, config: Config, run_id: str, options: IngestOptions = None) -> dict:
    """Ingest the newest retrieval of every raw HDX resource; return a short summary."""
    from crisislake.runs import run_step

    options = options or IngestOptions()
    raw_uri = options.raw_uri or f"{config.zone('raw')}/hdx"
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        delta_io.ensure_quarantine(spark, *(config.table("quarantine", t) for t in (*TARGET_COLUMNS, FILE_QUARANTINE)))
        listing = list_raw_resources(raw_uri)
        frames: Dict[str, List[DataFrame]] = {EVENTS: [], MONTHLY: [], PCODES: []}
        full_export_scopes: List[str] = []
        bad_files: List[Tuple[str, str, str]] = []
        skipped: List[str] = []
        for res in listing.latest:
            if not res.is_csv:
                skipped.append(res.data_uri)
                continue
            try:
                layout, sha256 = sniff_layout(res.data_uri, options.encoding_scan_bytes)
            except LayoutError as exc:
                bad_files.append((res.data_uri, str(exc), ""))
                continue
            expected = str(res.sidecar.get("sha256") or "")
            if sha256 and expected and sha256 != expected:
                bad_files.append((res.data_uri, f"sha256 {sha256} does not match sidecar {expected}", ""))
                continue
            log.info("%s: %s, %s, HXL row %s, unmapped %s", res.data_uri, layout.kind, layout.encoding,
                     layout.has_hxl, layout.unmapped)
            frames[layout.kind].append(read_records(spark, res, layout, TARGET_COLUMNS[layout.kind]))
            if layout.kind == EVENTS and res.full_export:
                full_export_scopes.append(res.scope)

        summary: Dict[str, dict] = {}
        summary[PCODES] = ingest_pcodes(spark, config, run_id, frames[PCODES])
        summary[EVENTS] = ingest_events(spark, config, run_id, frames[EVENTS], full_export_scopes,
                                        options.mark_deletions)
        summary[MONTHLY] = ingest_monthly(spark, config, run_id, frames[MONTHLY])
        quarantined_files = quarantine_files(spark, config, run_id, bad_files)

        record.read = {
            "raw": raw_uri,
            "files": len(listing.latest),
            "superseded_retrievals": listing.superseded,
            "files_without_sidecar": listing.unpublished_files,
            "skipped_not_csv": len(skipped),
            "records": {k: v.get("records", 0) for k, v in summary.items()},
        }
        record.wrote = {config.table("curated", k): v.get("merge", {}) for k, v in summary.items() if v.get("merge")}
        record.quarantined = {f"quarantine/{k}": v.get("quarantined", 0) for k, v in summary.items()}
        record.quarantined[f"quarantine/{FILE_QUARANTINE}"] = quarantined_files
        record.counts = {k: {c: n for c, n in v.items() if c != "merge"} for k, v in summary.items()}
        record.counts["files_quarantined"] = len(bad_files)
        record.rows_read = sum(v.get("records", 0) for v in summary.values())
        record.rows_written = sum(v.get("written", 0) for v in summary.values())
        record.rows_duplicate = sum(v.get("duplicates", 0) for v in summary.values())
        record.rows_quarantined = sum(v.get("quarantined", 0) for v in summary.values())
    return {
        "files": len(listing.latest),
        "files_quarantined": len(bad_files),
        "skipped_not_csv": len(skipped),
        **{k: {c: v.get(c, 0) for c in ("records", "written", "duplicates", "quarantined", "inserted", "updated",
                                            "marked_deleted")
               if c in v} for k, v in summary.items()},
    }


def _union(frames: Sequence[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), frames)


def _reconcile(parsed: DataFrame, keys: Sequence[str]) -> Dict[str, int]:
    """One action: records, valid rows and valid distinct keys (duplicates = valid - distinct)."""
    from pyspark.sql import functions as F

    valid = F.col("reason").isNull()
    row = parsed.agg(
        F.count(F.lit(1)).alias("records"),
        F.sum(F.when(valid, 1).otherwise(0)).alias("valid"),
        F.count_distinct(*[F.when(valid, F.coalesce(F.col(k).cast("string"), F.lit("\u0000"))) for k in keys])
        .alias("distinct"),
    ).first()
    records, valid_n, distinct = int(row["records"]), int(row["valid"] or 0), int(row["distinct"] or 0)
    return {
        "records": records,
        "written": distinct,
        "duplicates": valid_n - distinct,
        "quarantined_rows": records - valid_n,
    }


def _write(
    spark: SparkSession, config: Config, run_id: str, table: str, parsed: DataFrame, current: DataFrame,
    keys: Sequence[str], content: Sequence[str],
) -> Dict[str, object]:
    from crisislake import delta_io
    from crisislake.hdx.transforms import changed_condition

    counts: Dict[str, object] = dict(_reconcile(parsed, keys))
    merge = delta_io.merge_into(
        spark, current, config.table("curated", table), list(keys), update_condition=changed_condition(content)
    )
    counts["quarantined"] = 0
    if counts["quarantined_rows"]:  # skip a MERGE (and an empty quarantine table) when nothing failed
        bad = parsed.filter("reason IS NOT NULL")
        counts["quarantined"] = delta_io.write_quarantine(
            spark, delta_io.to_quarantine(bad, run_id), config.table("quarantine", table)
        )
    counts["merge"] = merge
    counts["inserted"], counts["updated"] = merge["inserted"], merge["updated"]
    return counts


def ingest_events(
    spark: SparkSession, config: Config, run_id: str, frames: Sequence[DataFrame],
    full_export_scopes: Sequence[str], mark_deletions: bool = True,
) -> dict:
    from pyspark import StorageLevel

    from crisislake import delta_io
    from crisislake.hdx import transforms as tr

    if not frames:
        return {"records": 0}
    parsed = _union(frames).transform(tr.with_event_fields_validated).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        current = (
            parsed.filter("reason IS NULL")
            .transform(tr.latest_per_key(tr.CONFLICT_EVENTS_KEY))
            .transform(tr.to_conflict_events(run_id))
        )
        path = config.table("curated", EVENTS)
        marked = 0
        if mark_deletions and full_export_scopes and delta_io.is_delta_table(spark, path):
            # Only exports that actually contain rows can delete: an empty re-export is more
            # likely a broken file than ACLED withdrawing a whole region.
            non_empty = {r["scope"] for r in parsed.select("scope").distinct().collect()}  # a few rows
            scopes = sorted(s for s in full_export_scopes if s in non_empty)
            seen = parsed.filter("event_id_cnty IS NOT NULL").select("event_id_cnty")
            deletions = (
                spark.read.format("delta").load(path)
                .transform(tr.events_missing_from_export(seen, scopes, run_id))
                .persist(StorageLevel.MEMORY_AND_DISK)
            )
            marked = deletions.count()  # materialised before the MERGE changes the table it reads
            current = current.unionByName(deletions)
        counts = _write(spark, config, run_id, EVENTS, parsed, current, tr.CONFLICT_EVENTS_KEY,
                        tr.content_columns(tr.CONFLICT_EVENTS_SCHEMA))
        counts["marked_deleted"] = marked
        return counts
    finally:
        parsed.unpersist()


def ingest_monthly(spark: SparkSession, config: Config, run_id: str, frames: Sequence[DataFrame]) -> dict:
    from pyspark import StorageLevel

    from crisislake import delta_io
    from crisislake.hdx import transforms as tr

    if not frames:
        return {"records": 0}
    pcodes_path = config.table("curated", PCODES)
    if delta_io.is_delta_table(spark, pcodes_path):
        pcodes = spark.read.format("delta").load(pcodes_path)
    else:
        pcodes = spark.createDataFrame([], tr.ADMIN_PCODES_SCHEMA)
    parsed = _union(frames).transform(tr.with_monthly_fields_validated).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        current = (
            parsed.filter("reason IS NULL")
            .transform(tr.latest_per_key(tr.CONFLICT_MONTHLY_KEY))
            .transform(tr.with_admin_names(pcodes))
            .transform(tr.to_conflict_monthly(run_id))
        )
        return _write(spark, config, run_id, MONTHLY, parsed, current, tr.CONFLICT_MONTHLY_KEY,
                      tr.content_columns(tr.CONFLICT_MONTHLY_SCHEMA))
    finally:
        parsed.unpersist()


def ingest_pcodes(spark: SparkSession, config: Config, run_id: str, frames: Sequence[DataFrame]) -> dict:
    from pyspark import StorageLevel

    from crisislake.hdx import transforms as tr

    if not frames:
        return {"records": 0}
    parsed = _union(frames).transform(tr.with_pcode_fields_validated).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        current = (
            parsed.filter("reason IS NULL")
            .transform(tr.latest_per_key(tr.ADMIN_PCODES_KEY))
            .transform(tr.to_admin_pcodes(run_id))
        )
        return _write(spark, config, run_id, PCODES, parsed, current, tr.ADMIN_PCODES_KEY,
                      tr.content_columns(tr.ADMIN_PCODES_SCHEMA))
    finally:
        parsed.unpersist()


def quarantine_files(spark: SparkSession, config: Config, run_id: str, bad_files: Sequence[Tuple[str, str, str]]) -> int:
    """Whole files that cannot be ingested -> ``quarantine/hdx_files`` (source_line null)."""
    from pyspark.sql import types as T

    from crisislake import delta_io

    if not bad_files:
        return 0
    schema = T.StructType([
        T.StructField("source_uri", T.StringType()), T.StructField("reason", T.StringType()),
        T.StructField("raw_payload", T.StringType()),
    ])
    rows = spark.createDataFrame([(u, r, p) for u, r, p in bad_files], schema).selectExpr(
        "source_uri", "CAST(NULL AS LONG) AS source_line", "raw_payload", "reason"
    )
    return delta_io.write_quarantine(spark, delta_io.to_quarantine(rows, run_id),
                                     config.table("quarantine", FILE_QUARANTINE))
