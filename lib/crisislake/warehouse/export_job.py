"""``crisislake export``: lake tables -> ``exports/<table>/<run_id>/`` Parquet + a COPY manifest.

Each warehouse table of :mod:`crisislake.warehouse.model` is built from the lake (missing
enriched tables count as empty), cast to the model's exact column order and types, and written
as Parquet files of similar size whose number is a multiple of ``warehouse.slice_count`` (so
every Redshift slice loads the same share), with timestamps as INT64 microseconds (UTC) and
decimals as fixed-length byte arrays, which Redshift's Parquet COPY reads without surprises.
Rows that would violate a NOT NULL column go to ``quarantine/warehouse_<table>``.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
from datetime import datetime, timezone
from typing import Dict, Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake import delta_io, fs
from crisislake.config import Config
from crisislake.context import JobContext
from crisislake.runs import run_step
from crisislake.session import temporary_conf
from crisislake.warehouse import model as m
from crisislake.warehouse import transforms as tr
from crisislake.warehouse.manifest import MANIFEST_NAME, SCHEMA_SIDECAR, build_manifest, export_dir, manifest_url_for

log = logging.getLogger(__name__)

PSEUDONYM_KEY_ENV = "WAREHOUSE_PSEUDONYM_KEY"
MB = 1024 * 1024

# Contract schemas of the lake tables read here (used when a table does not exist yet).
TWEETS_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType()), T.StructField("created_at", T.TimestampType()),
    T.StructField("text", T.StringType()), T.StructField("lang", T.StringType()),
    T.StructField("author_id", T.LongType()), T.StructField("author_handle", T.StringType()),
    T.StructField("retweet_of_id", T.LongType()), T.StructField("quote_of_id", T.LongType()),
    T.StructField("reply_to_id", T.LongType()), T.StructField("hashtags", T.ArrayType(T.StringType())),
    T.StructField("urls", T.ArrayType(T.StringType())), T.StructField("mentions", T.ArrayType(T.StringType())),
    T.StructField("place_country", T.StringType()), T.StructField("place_name", T.StringType()),
    T.StructField("lat", T.DoubleType()), T.StructField("lon", T.DoubleType()),
    T.StructField("source_uri", T.StringType()), T.StructField("source_line", T.LongType()),
    T.StructField("ingested_at", T.TimestampType()), T.StructField("run_id", T.StringType()),
])
LABELS_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType()), T.StructField("task", T.StringType()),
    T.StructField("label", T.StringType()), T.StructField("confidence", T.DoubleType()),
    T.StructField("model_version", T.StringType()), T.StructField("run_id", T.StringType()),
    T.StructField("labelled_at", T.TimestampType()),
])
REVIEW_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType()), T.StructField("task", T.StringType()),
    T.StructField("label", T.StringType()), T.StructField("confidence", T.DoubleType()),
    T.StructField("threshold", T.DoubleType()), T.StructField("reason", T.StringType()),
    T.StructField("model_version", T.StringType()), T.StructField("run_id", T.StringType()),
])
CLUSTERS_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType()), T.StructField("cluster_id", T.LongType()),
    T.StructField("is_canonical", T.BooleanType()), T.StructField("cluster_size", T.LongType()),
    T.StructField("similarity_to_canonical", T.DoubleType()), T.StructField("run_id", T.StringType()),
])
INCIDENTS_SCHEMA = T.StructType([
    T.StructField("incident_id", T.StringType()), T.StructField("first_seen", T.TimestampType()),
    T.StructField("last_seen", T.TimestampType()), T.StructField("n_reports", T.LongType()),
    T.StructField("representative_text", T.StringType()), T.StructField("place", T.StringType()),
    T.StructField("labels", T.ArrayType(T.StringType())), T.StructField("run_id", T.StringType()),
    T.StructField("latitude", T.DoubleType()), T.StructField("longitude", T.DoubleType()),
    T.StructField("country_iso3", T.StringType()), T.StructField("admin1_name", T.StringType()),
    T.StructField("admin1_pcode", T.StringType()), T.StructField("admin2_name", T.StringType()),
    T.StructField("admin2_pcode", T.StringType()), T.StructField("place_confidence", T.DoubleType()),
    T.StructField("incident_type", T.StringType()), T.StructField("force_rank", T.ShortType()),
    T.StructField("corroborated", T.BooleanType()), T.StructField("corroboration_score", T.DoubleType()),
    T.StructField("acled_event_ids", T.ArrayType(T.StringType())),
    T.StructField("reported_incident_ids", T.ArrayType(T.StringType())),
])
INCIDENT_TWEETS_SCHEMA = T.StructType([
    T.StructField("incident_id", T.StringType()), T.StructField("tweet_id", T.LongType()),
    T.StructField("tweet_url", T.StringType()), T.StructField("created_at", T.TimestampType()),
    T.StructField("is_canonical", T.BooleanType()), T.StructField("run_id", T.StringType()),
])
INCIDENT_CORROBORATION_SCHEMA = T.StructType([
    T.StructField("incident_id", T.StringType()), T.StructField("source", T.StringType()),
    T.StructField("source_id", T.StringType()), T.StructField("score", T.DoubleType()),
    T.StructField("event_date", T.DateType()), T.StructField("description", T.StringType()),
    T.StructField("url", T.StringType()), T.StructField("run_id", T.StringType()),
])
TWEET_INCIDENTS_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType()), T.StructField("incident_id", T.StringType()),
    T.StructField("run_id", T.StringType()),
])
_ACLED_TEXT = [
    "event_id_cnty", "time_precision", "disorder_type", "event_type", "sub_event_type", "actor1",
    "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting",
    "iso", "region", "country", "admin1", "admin2", "admin3", "location", "geo_precision", "source",
    "source_scale", "notes", "tags",
]
CONFLICT_EVENTS_SCHEMA = T.StructType(
    [T.StructField(c, T.StringType()) for c in _ACLED_TEXT]
    + [
        T.StructField("event_date", T.DateType()), T.StructField("year", T.IntegerType()),
        T.StructField("latitude", T.DoubleType()), T.StructField("longitude", T.DoubleType()),
        T.StructField("fatalities", T.IntegerType()), T.StructField("timestamp", T.LongType()),
        T.StructField("is_deleted", T.BooleanType()), T.StructField("deleted_by_run", T.StringType()),
        T.StructField("source_uri", T.StringType()), T.StructField("source_line", T.LongType()),
        T.StructField("run_id", T.StringType()),
    ]
)
ADMIN_PCODES_SCHEMA = T.StructType([
    T.StructField("p_code", T.StringType()), T.StructField("location_code", T.StringType()),
    T.StructField("admin_level", T.IntegerType()), T.StructField("name", T.StringType()),
    T.StructField("parent_p_code", T.StringType()),
])

SOURCES = {
    # name: (zone, table, schema when missing)
    "tweets": ("curated", "tweets", TWEETS_SCHEMA),
    "conflict_events": ("curated", "conflict_events", CONFLICT_EVENTS_SCHEMA),
    "admin_pcodes": ("curated", "admin_pcodes", ADMIN_PCODES_SCHEMA),
    "tweet_labels": ("enriched", "tweet_labels", LABELS_SCHEMA),
    "review_queue": ("enriched", "review_queue", REVIEW_SCHEMA),
    "tweet_clusters": ("enriched", "tweet_clusters", CLUSTERS_SCHEMA),
    "incidents": ("enriched", "incidents", INCIDENTS_SCHEMA),
    "tweet_incidents": ("enriched", "tweet_incidents", TWEET_INCIDENTS_SCHEMA),
    "incident_tweets": ("enriched", "incident_tweets", INCIDENT_TWEETS_SCHEMA),
    "incident_corroboration": ("enriched", "incident_corroboration", INCIDENT_CORROBORATION_SCHEMA),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", default=None,
                        help=f"comma-separated subset of: {', '.join(t.name for t in m.EXPORTED)}")
    parser.add_argument("--slice-count", type=int, default=None,
                        help="files per table are a multiple of this (default warehouse.slice_count)")
    parser.add_argument("--target-file-mb", type=int, default=None,
                        help="aim for files of about this size (default warehouse.target_file_mb)")


# ---- I/O ----------------------------------------------------------------------------------

def read_lake_table(spark: SparkSession, path: str, schema: T.StructType) -> DataFrame:
    """The Delta table at ``path``, or an empty frame with ``schema`` when it does not exist."""
    if delta_io.is_delta_table(spark, path):
        df = spark.read.format("delta").load(path)
        # Contract columns a producer has not written yet read as NULL.
        for field in schema.fields:
            if field.name not in df.columns:
                df = df.withColumn(field.name, F.lit(None).cast(field.dataType))
        return df
    return spark.createDataFrame([], schema)


def read_sources(spark: SparkSession, config: Config) -> Dict[str, DataFrame]:
    return {name: read_lake_table(spark, config.table(zone, table), schema)
            for name, (zone, table, schema) in SOURCES.items()}


def pseudonym_key(environ=None) -> Optional[bytes]:
    value = (os.environ if environ is None else environ).get(PSEUDONYM_KEY_ENV, "")
    return value.encode("utf-8") if value else None


def build_tables(spark: SparkSession, sources: Dict[str, DataFrame], key: Optional[bytes], run_id: str) -> Dict[str, DataFrame]:
    """All exported warehouse tables, by name, in model order."""
    fact_tweet = tr.build_fact_tweet(
        sources["tweets"], sources["tweet_labels"], sources["review_queue"],
        sources["tweet_clusters"], sources["tweet_incidents"], key, run_id,
    )
    fact_event = tr.build_fact_conflict_event(sources["conflict_events"], run_id)
    fact_incident = tr.build_fact_incident(sources["incidents"], key, run_id)
    disaster_types = spark.createDataFrame(
        list(tr.DISASTER_TYPES), "disaster_type string, category string, description string")
    tables = {
        "dim_date": tr.build_dim_date(tr.all_date_keys([fact_tweet, fact_event, fact_incident])),
        "dim_location": tr.build_dim_location(fact_tweet, fact_event, sources["admin_pcodes"], run_id),
        "dim_disaster_type": tr.build_dim_disaster_type(disaster_types, run_id),
        "dim_event_type": tr.build_dim_event_type(sources["conflict_events"], run_id),
        "fact_tweet": fact_tweet,
        "fact_conflict_event": fact_event,
        "fact_incident": fact_incident,
        "bridge_incident_tweet": tr.build_bridge_incident_tweet(sources["incident_tweets"], sources["tweets"], key, run_id),
        "bridge_incident_corroboration": tr.build_bridge_incident_corroboration(sources["incident_corroboration"], run_id),
        "review_queue": tr.build_review_queue(sources["review_queue"], run_id),
    }
    return {t.name: tables[t.name] for t in m.EXPORTED}


def estimated_row_bytes(table: m.Table) -> int:
    """A rough compressed Parquet row size from the model (text assumed short on average)."""
    fixed = {"bigint": 8, "integer": 4, "smallint": 2, "double": 8, "boolean": 1, "date": 4,
             "timestamptz": 8, "decimal": 8}
    return max(1, sum(fixed.get(c.type.kind, min(c.type.length, 48)) for c in table.columns) // 2)


def file_count(rows: int, row_bytes: int, slice_count: int, target_file_mb: int) -> int:
    """Files for ``rows``: a multiple of ``slice_count`` with each file near ``target_file_mb``.

    >>> file_count(10, 100, 2, 64)
    2
    >>> file_count(2_000_000, 100, 4, 64)   # ~191 MB -> 3 per slice would be ~16 MB files
    4
    >>> file_count(20_000_000, 100, 4, 64)  # ~1.9 GB -> 32 files of ~60 MB
    32
    """
    slice_count = max(1, slice_count)
    total = rows * row_bytes
    per_slice = max(1, math.ceil(total / (slice_count * target_file_mb * MB)))
    return slice_count * per_slice


def write_export(
    spark: SparkSession, df: DataFrame, table: m.Table, out_dir: str, slice_count: int, target_file_mb: int,
    rows: int,
) -> Dict[str, int]:
    """Write ``df`` (``rows`` rows) as Parquet under ``out_dir`` (replacing it) plus ``manifest.json``.

    Round-robin ``repartition(n)`` gives every file the same number of rows, so files have
    similar sizes; sorting within files on the Redshift sort key helps compression. Returns rows,
    files and bytes written.
    """
    n_files = file_count(rows, estimated_row_bytes(table), slice_count, target_file_mb)
    parquet_for_redshift = {
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # never INT96
        "spark.sql.parquet.writeLegacyFormat": "true",  # decimals as FIXED_LEN_BYTE_ARRAY
    }
    with temporary_conf(spark, parquet_for_redshift):
        (df.repartition(n_files).sortWithinPartitions(*table.sortkey)
         .write.mode("overwrite").option("compression", "snappy").parquet(out_dir))
    sizes = fs.file_sizes(out_dir, recursive=False)
    sized = [(manifest_url_for(u), size) for u, size in fs.data_files(sizes).items() if u.endswith(".parquet")]
    manifest = build_manifest(sized)
    fs.write_text(f"{out_dir}/{SCHEMA_SIDECAR}", export_schema_json(table, rows))
    fs.write_text(f"{out_dir}/{MANIFEST_NAME}", json.dumps(manifest, indent=2))
    return {"rows": rows, "files": len(sized), "bytes": sum(s for _, s in sized)}


def export_schema_json(table: m.Table, rows: int, built_at: Optional[datetime] = None) -> str:
    """``_schema.json`` beside an export's files: its columns as the warehouse declares them
    (name, Redshift type, nullable, meaning), natural key, row count and build time. The run
    id is in every row's ``run_id`` column and in the folder name."""
    built_at = built_at or datetime.now(timezone.utc)
    columns = [{"name": c.name, "type": c.type.render("redshift"), "nullable": c.nullable, "comment": c.comment}
               for c in table.columns]
    return json.dumps({"table": table.name, "key": list(table.key), "rows": rows,
                       "built_at": built_at.isoformat(timespec="seconds"), "columns": columns}, indent=2)


def export_table(
    spark: SparkSession, config: Config, table: m.Table, df: DataFrame, run_id: str, slice_count: int,
    target_file_mb: int,
) -> Dict[str, int]:
    """Quarantine ``df``'s rows that break a NOT NULL column, export the rest.

    ``df`` is persisted because it is used up to three times: one aggregation counts all and bad
    rows (to size the files and skip an empty quarantine MERGE), then the good rows are written
    and the bad ones quarantined. The cache holds one table at a time.
    """
    flagged = tr.with_not_null_violations(df, table).persist()
    try:
        total, bad_rows = flagged.agg(
            F.count(F.lit(1)), F.coalesce(F.sum((F.col(tr.VIOLATION).isNotNull()).cast("long")), F.lit(0))).first()
        good = flagged.filter(F.col(tr.VIOLATION).isNull()).drop(tr.VIOLATION)
        quarantined = 0
        if bad_rows:
            quarantined = _quarantine(spark, config, table, flagged.filter(F.col(tr.VIOLATION).isNotNull()), run_id)
        out_dir = export_dir(config.zone("exports"), table.name, run_id)
        written = write_export(spark, good, table, out_dir, slice_count, target_file_mb, total - bad_rows)
    finally:
        flagged.unpersist()
    written["quarantined"] = quarantined
    written["path"] = out_dir
    return written


def export_tables(
    spark: SparkSession,
    config: Config,
    run_id: str,
    tables: Optional[Sequence[str]] = None,
    slice_count: Optional[int] = None,
    target_file_mb: Optional[int] = None,
    environ=None,
) -> dict:
    """Export ``tables`` (default all) for ``run_id``; returns the step summary."""
    wanted = [m.table(n) for n in tables] if tables else list(m.EXPORTED)
    slice_count = slice_count or config.warehouse.slice_count
    target_file_mb = target_file_mb or config.warehouse.target_file_mb
    key = pseudonym_key(environ)
    summary: dict = {"run_id": run_id, "tables": {}}
    if key is None:
        summary["warning"] = f"{PSEUDONYM_KEY_ENV} is not set: fact_tweet.author_pseudonym is NULL"
        log.warning(summary["warning"])
    with run_step(config.zone("_runs"), run_id, "export") as record:
        sources = read_sources(spark, config)
        built = build_tables(spark, sources, key, run_id)
        delta_io.ensure_quarantine(spark, *(config.table("quarantine", f"warehouse_{t.name}") for t in wanted))
        for table in wanted:
            written = export_table(spark, config, table, built[table.name], run_id, slice_count, target_file_mb)
            summary["tables"][table.name] = written
            record.wrote[table.name] = written
            if written["quarantined"]:
                record.quarantined[f"warehouse_{table.name}"] = written["quarantined"]
        record.read = {n: config.table(z, t) for n, (z, t, _) in SOURCES.items()}
        record.counts = {n: {"rows": v["rows"], "quarantined": v["quarantined"]} for n, v in summary["tables"].items()}
        record.rows_written = sum(v["rows"] - v["quarantined"] for v in summary["tables"].values())
        record.rows_quarantined = sum(v["quarantined"] for v in summary["tables"].values())
    return summary


def _quarantine(spark: SparkSession, config: Config, table: m.Table, bad: DataFrame, run_id: str) -> int:
    """Rows the warehouse would refuse go to ``quarantine/warehouse_<table>`` (payload as JSON)."""
    source = F.col("source_uri") if "source_uri" in bad.columns else F.lit(f"warehouse:{table.name}")
    line = F.col("source_line") if "source_line" in bad.columns else F.lit(None).cast("long")
    payload_cols = [c for c in bad.columns if c != tr.VIOLATION]
    shaped = bad.select(
        F.coalesce(source, F.lit(f"warehouse:{table.name}")).alias("source_uri"), line.alias("source_line"),
        F.to_json(F.struct(*payload_cols)).alias("raw_payload"), F.col(tr.VIOLATION).alias("reason"),
    )
    rows = delta_io.to_quarantine(shaped, run_id)
    return delta_io.write_quarantine(spark, rows, config.table("quarantine", f"warehouse_{table.name}"))


# ---- Job entry points ---------------------------------------------------------------------

def run(ctx: JobContext) -> dict:
    args = ctx.args
    tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
    with ctx.stage("export warehouse tables"):
        summary = export_tables(ctx.spark, ctx.config, ctx.run_id, tables, args.slice_count, args.target_file_mb)
    out = {"tables": {name: f"{v['rows']} rows / {v['files']} files" for name, v in summary["tables"].items()}}
    if "warning" in summary:
        out["warning"] = summary["warning"]
    return out
