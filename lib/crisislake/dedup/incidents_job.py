"""``crisislake incidents``: group tweets into real-world incidents.

Lake mode (no ``--input``): ``curated/tweets`` (+ ``enriched/tweet_clusters`` and
``enriched/tweet_labels`` when present) -> ``enriched/incidents`` and ``enriched/tweet_incidents``.
File mode: ``--input FILE --id-col COL --text-col COL [--time-col COL] --output FILE`` writes
``id, incident_id`` (one row per input row).
"""
from __future__ import annotations

import argparse
from typing import Dict, Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crisislake import delta_io
from crisislake.config import Config
from crisislake.context import JobContext, require_table
from crisislake.dedup.incidents import IncidentParams, assign_incidents, summarise_incidents, with_incident_features
from crisislake.dedup.io import check_columns, check_file_contract, read_table_file, with_row_index, write_single_file
from crisislake.dedup.job import event_ms_column
from crisislake.runs import run_step
from crisislake.snowflake import snowflake_ms

STEP = "incidents"
LABEL_TASKS = ("disaster_type", "police_force", "force_rank")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", default=None, metavar="FILE", help="CSV, CSV.gz or Parquet file (file mode)")
    parser.add_argument("--output", default=None, metavar="FILE", help="output file: id, incident_id")
    parser.add_argument("--id-col", default="id", help="id column of --input (kept as given)")
    parser.add_argument("--text-col", default="text", help="text column of --input")
    parser.add_argument("--time-col", default=None, help="time column (default: snowflake time of numeric ids)")
    parser.add_argument("--place-col", default=None, help="optional place column of --input")
    parser.add_argument("--min-jaccard", type=float, default=IncidentParams.min_jaccard,
                        help="content-word Jaccard that links two reports (default 0.2)")
    parser.add_argument("--window-hours", type=float, default=IncidentParams.window_hours,
                        help="max time between linked reports (default 3)")


def incidents_frame(df: DataFrame, id_col: str, text_col: str, time_col: Optional[str],
                    params: IncidentParams, place_col: Optional[str] = None) -> DataFrame:
    """File mode: ``id, incident_id`` per input row; incident id = ``inc-`` + the id of its
    earliest row. Rows with the same id are the same report."""
    cols = [id_col, text_col] + [c for c in (time_col, place_col) if c]
    indexed = with_row_index(df.select(*dict.fromkeys(cols)), "node")
    indexed = indexed.withColumn("event_ms", event_ms_column(indexed, id_col, time_col))
    tweets = indexed.transform(with_incident_features(text_col, place_col)).localCheckpoint(eager=True)
    same_id = tweets.groupBy(id_col).agg(F.min("node").alias("dst")).join(tweets.select(id_col, F.col("node").alias("src")), id_col)
    components = assign_incidents(tweets, params, same_id.select("src", "dst"))
    first = tweets.select("node", "event_ms").join(components, "node")
    order = F.struct(F.col("event_ms").isNull(), "event_ms", "node")
    earliest = first.groupBy("component").agg(F.min(order).getField("node").alias("first_node"))
    ids = tweets.select(F.col("node").alias("first_node"), F.col(id_col).cast("string").alias("first_id"))
    return (
        components.join(earliest, "component").join(ids, "first_node")
        .join(tweets.select("node", F.col(id_col).alias("id")), "node")
        .select("node", "id", F.concat(F.lit("inc-"), F.col("first_id")).alias("incident_id"))
        .orderBy("node").drop("node")
    )


def read_lake_inputs(spark: SparkSession, config: Config) -> Dict[str, Optional[DataFrame]]:
    out: Dict[str, Optional[DataFrame]] = {"tweets": spark.read.format("delta").load(config.table("curated", "tweets"))}
    for name in ("tweet_clusters", "tweet_labels"):
        path = config.table("enriched", name)
        out[name] = spark.read.format("delta").load(path) if delta_io.is_delta_table(spark, path) else None
    return out


def label_sets(labels: Optional[DataFrame]) -> Optional[DataFrame]:
    """``tweet_id, labels``: disaster type, and police force / force rank when present."""
    if labels is None:
        return None
    kept = labels.where(F.col("task").isin(*LABEL_TASKS) & ~F.col("label").isin("unknown", "0"))
    return kept.groupBy("tweet_id").agg(
        F.collect_set(F.when(F.col("task") == "disaster_type", F.col("label"))
                      .otherwise(F.concat_ws(":", "task", "label"))).alias("labels")
    )


def sync_table(spark: SparkSession, source: DataFrame, path: str, keys: list) -> Dict[str, int]:
    """Make the Delta table at ``path`` equal ``source`` with one MERGE (insert, update changed,
    delete rows no longer produced), so a re-run on the same input changes nothing."""
    from delta.tables import DeltaTable

    delta_io.ensure_table(spark, path, source.schema)
    target = DeltaTable.forPath(spark, path)
    cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in source.columns if c not in keys and c != "run_id")
    (target.alias("t").merge(source.alias("s"), cond)
     .whenMatchedUpdateAll(condition=changed or None)
     .whenNotMatchedInsertAll()
     .whenNotMatchedBySourceDelete()
     .execute())
    metrics = target.history(1).select("operationMetrics").first()[0] or {}
    return {k: int(metrics.get(m, 0)) for k, m in (("inserted", "numTargetRowsInserted"),
                                                   ("updated", "numTargetRowsUpdated"),
                                                   ("deleted", "numTargetRowsDeleted"))}


def incidents_lake(spark: SparkSession, config: Config, run_id: str, params: Optional[IncidentParams] = None) -> dict:
    params = params or IncidentParams()
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        inputs = read_lake_inputs(spark, config)
        tweets = inputs["tweets"].select(
            F.col("tweet_id").alias("node"), "text", "place_name",
            F.coalesce(F.unix_millis("created_at"), snowflake_ms("tweet_id")).alias("event_ms"),
        ).transform(with_incident_features("text", "place_name")).localCheckpoint(eager=True)
        n_tweets = tweets.count()
        record.read = {config.table("curated", "tweets"): n_tweets}
        extra = None
        if inputs["tweet_clusters"] is not None:
            extra = inputs["tweet_clusters"].where(~F.col("is_canonical")).select(
                F.col("tweet_id").alias("src"), F.col("cluster_id").alias("dst"))
        components = assign_incidents(tweets, params, extra).localCheckpoint(eager=True)
        members = tweets.join(components, "node").withColumn(
            "incident_id", F.concat(F.lit("inc-"), F.col("component").cast("string"))
        )
        labels = label_sets(inputs["tweet_labels"])
        members = members.join(labels.withColumnRenamed("tweet_id", "node"), "node", "left") if labels is not None \
            else members.withColumn("labels", F.lit(None).cast("array<string>"))
        incidents = summarise_incidents(members).withColumn("run_id", F.lit(run_id))
        mapping = members.select(F.col("node").alias("tweet_id"), "incident_id", F.lit(run_id).alias("run_id"))
        wrote = {
            "incidents": sync_table(spark, incidents, config.table("enriched", "incidents"), ["incident_id"]),
            "tweet_incidents": sync_table(spark, mapping, config.table("enriched", "tweet_incidents"), ["tweet_id"]),
        }
        n_incidents = components.select("component").distinct().count()
        counts = {"tweets": n_tweets, "incidents": n_incidents, "multi_report_incidents": int(
            components.groupBy("component").count().where("count > 1").count())}
        record.wrote = wrote
        record.counts = counts
        record.rows_read = n_tweets
        record.rows_written = n_incidents
        return counts


def run(ctx: JobContext) -> dict:
    args = ctx.args
    params = IncidentParams(min_jaccard=args.min_jaccard, window_hours=args.window_hours)
    if args.input:
        check_file_contract(args.input, args.output)
        with ctx.stage("group file rows into incidents"):
            return run_file_mode(ctx.spark, args, params)
    missing = require_table(ctx, ctx.config.table("curated", "tweets"), "run `crisislake ingest-tweets` first")
    if missing:
        return missing
    with ctx.stage("group tweets into incidents"):
        return incidents_lake(ctx.spark, ctx.config, ctx.run_id, params)


def run_file_mode(spark: SparkSession, args: argparse.Namespace, params: IncidentParams) -> dict:
    df = read_table_file(spark, args.input)
    check_columns(df, args.input, [args.id_col, args.text_col] + [c for c in (args.time_col, args.place_col) if c])
    out = incidents_frame(df, args.id_col, args.text_col, args.time_col, params, args.place_col)
    out = out.localCheckpoint(eager=True)
    write_single_file(out, args.output)
    rows = out.count()
    return {"file_mode": True, "rows_read": rows, "rows_written": rows,
            "incidents": out.select("incident_id").distinct().count(), "output": args.output}
