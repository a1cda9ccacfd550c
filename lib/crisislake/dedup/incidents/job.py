"""``crisislake incidents``: group tweets into real-world incidents, with place and evidence.

Lake mode (no ``--input``): ``curated/tweets`` (+ ``enriched/tweet_clusters``,
``enriched/tweet_labels`` and ``curated/admin_pcodes`` when present) -> ``enriched/incidents``,
``enriched/incident_tweets`` (the evidence) and ``enriched/tweet_incidents``.
File mode: ``--input FILE --id-col COL --text-col COL [--time-col COL] --output FILE`` writes
``id, incident_id`` (one row per input row).
"""
from __future__ import annotations

import argparse
from typing import Dict, Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crisislake import delta_io
from crisislake.config import Config
from crisislake.context import JobContext, require_table
from crisislake.dedup.incidents.cluster import IncidentParams, assign_incidents, with_incident_features
from crisislake.dedup.incidents.gazetteer import gazetteer_frame
from crisislake.dedup.incidents.places import place_matches, with_places
from crisislake.dedup.incidents.summary import incident_places, incident_type, summarise_incidents
from crisislake.dedup.io import check_columns, check_file_contract, read_table_file, with_row_index, write_single_file
from crisislake.dedup.job import event_ms_column
from crisislake.runs import run_step
from crisislake.snowflake import snowflake_ms

STEP = "incidents"
LABEL_TASKS = ("disaster_type", "police_force", "force_rank")
MAX_URL_SHARE = 50  # a link shared by more reports than this (a news site's front page) links nothing
TWEET_URL = "https://twitter.com/i/web/status/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", default=None, metavar="FILE", help="CSV, CSV.gz or Parquet file (file mode)")
    parser.add_argument("--output", default=None, metavar="FILE", help="output file: id, incident_id")
    parser.add_argument("--id-col", default="id", help="id column of --input (kept as given)")
    parser.add_argument("--text-col", default="text", help="text column of --input")
    parser.add_argument("--time-col", default=None, help="time column (default: snowflake time of numeric ids)")
    parser.add_argument("--place-col", default=None, help="optional place column of --input (e.g. a geotag's name)")
    parser.add_argument("--user-location-col", default=None, help="optional author profile location column")
    parser.add_argument("--threshold", type=float, default=IncidentParams.threshold,
                        help=f"link probability that joins two reports (default {IncidentParams.threshold})")
    parser.add_argument("--window-hours", type=float, default=IncidentParams.window_hours,
                        help=f"max time between linked reports (default {IncidentParams.window_hours:g})")


def with_url_keys(df: DataFrame, urls_col: Optional[str]) -> DataFrame:
    """``urls`` (array<long>): hashed links without query strings, dropping links shared by more
    than MAX_URL_SHARE reports. Empty when there is no such column (file mode)."""
    if not urls_col:
        return df.withColumn("urls", F.array().cast("array<long>"))
    hashed = df.select("node", F.explode(F.array_distinct(F.transform(
        F.coalesce(urls_col, F.array().cast("array<string>")),
        lambda u: F.xxhash64(F.lower(F.regexp_replace(u, r"[?#].*$", "")))))).alias("u"))
    common = hashed.groupBy("u").count().where(F.col("count") > MAX_URL_SHARE).select("u")
    kept = hashed.join(F.broadcast(common), "u", "left_anti").groupBy("node").agg(F.array_sort(F.collect_set("u")).alias("urls"))
    # the hashed keys replace the links (curated/tweets calls its links ``urls`` too)
    return df.drop("urls").join(kept, "node", "left").withColumn("urls", F.coalesce("urls", F.array().cast("array<long>")))


def prepare_reports(df: DataFrame, gazetteer: DataFrame, text_col: str, given_cols: Sequence[str] = (),
                    user_col: Optional[str] = None, urls_col: Optional[str] = None):
    """(reports with every clustering feature, their place matches), both checkpointed.

    ``df`` has ``node`` and ``event_ms``; ``author_id``, ``reply_to_id``, ``quote_of_id`` are
    added as nulls when missing. The checkpoint cuts the plan: the features feed the candidate
    blocks, the pair features and the summary.
    """
    for col in ("author_id", "reply_to_id", "quote_of_id"):
        if col not in df.columns:
            df = df.withColumn(col, F.lit(None).cast("long"))
    matches = place_matches(df, gazetteer, text_col, given_cols, user_col).localCheckpoint(eager=True)
    reports = with_places(with_url_keys(df, urls_col), matches).transform(with_incident_features(text_col)).localCheckpoint(eager=True)
    return reports, matches


def incidents_frame(df: DataFrame, id_col: str, text_col: str, time_col: Optional[str],
                    params: IncidentParams, place_col: Optional[str] = None,
                    user_location_col: Optional[str] = None) -> DataFrame:
    """File mode: ``id, incident_id`` per input row; incident id = ``inc-`` + the id of its
    earliest row. Rows with the same id are the same report."""
    cols = [id_col, text_col] + [c for c in (time_col, place_col, user_location_col) if c]
    indexed = with_row_index(df.select(*dict.fromkeys(cols)), "node")
    indexed = indexed.withColumn("event_ms", event_ms_column(indexed, id_col, time_col))
    tweets, _ = prepare_reports(indexed, gazetteer_frame(df.sparkSession), text_col,
                                [place_col] if place_col else [], user_location_col)
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
    for zone, name in (("enriched", "tweet_clusters"), ("enriched", "tweet_labels"), ("curated", "admin_pcodes")):
        path = config.table(zone, name)
        out[name] = spark.read.format("delta").load(path) if delta_io.is_delta_table(spark, path) else None
    return out


def latest_labels(labels: Optional[DataFrame]) -> Optional[DataFrame]:
    """``tweet_id, labels, police_force, force_rank, disaster_type``: the latest label per task."""
    if labels is None:
        return None
    from pyspark.sql import Window

    order = Window.partitionBy("tweet_id", "task").orderBy(F.col("labelled_at").desc_nulls_last(),
                                                          F.col("model_version").desc_nulls_last())
    latest = labels.where(F.col("task").isin(*LABEL_TASKS)).withColumn("r", F.row_number().over(order)).where("r = 1")
    kept = ~F.col("label").isin("unknown", "0")
    tag = F.when(F.col("task") == "disaster_type", F.col("label")).otherwise(F.concat_ws(":", "task", "label"))
    return latest.groupBy("tweet_id").agg(
        F.collect_set(F.when(kept, tag)).alias("labels"),
        *[F.max(F.when(F.col("task") == t, F.col("label"))).alias(t) for t in LABEL_TASKS])


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


def lake_reports(spark: SparkSession, inputs: Dict[str, Optional[DataFrame]]):
    """The curated tweets as reports (``node`` = tweet id) with features, and their place matches.

    The geotag's place name is the given place; ``user_location`` counts when curated/tweets has
    such a column (the tweets contract does not carry it yet)."""
    raw = inputs["tweets"]
    user_col = "user_location" if "user_location" in raw.columns else None
    tweets = raw.select(
        F.col("tweet_id").alias("node"), "text", "place_name", "lat", "lon", "urls", "author_id", "reply_to_id",
        "quote_of_id", "created_at", *([user_col] if user_col else []),
        F.coalesce(F.unix_millis("created_at"), snowflake_ms("tweet_id")).alias("event_ms"),
    )
    gazetteer = gazetteer_frame(spark, inputs["admin_pcodes"])
    reports, matches = prepare_reports(tweets, gazetteer, "text", ["place_name"], user_col, "urls")
    return reports, matches, gazetteer


def _members(reports: DataFrame, components: DataFrame, labels: Optional[DataFrame]) -> DataFrame:
    members = reports.join(components, "node").withColumn(
        "incident_id", F.concat(F.lit("inc-"), F.col("component").cast("string")))
    if labels is None:
        return members.select("*", *[F.lit(None).cast("string").alias(t) for t in LABEL_TASKS],
                              F.lit(None).cast("array<string>").alias("labels"))
    return members.join(labels.withColumnRenamed("tweet_id", "node"), "node", "left")


def incident_outputs(reports: DataFrame, matches: DataFrame, gazetteer: DataFrame, components: DataFrame,
                     labels: Optional[DataFrame], run_id: str) -> Dict[str, DataFrame]:
    """The three enriched tables from the clustered reports."""
    members = _members(reports, components, labels).localCheckpoint(eager=True)
    incidents = summarise_incidents(members, incident_places(members, matches, gazetteer), incident_type(members))
    earliest = members.groupBy("incident_id").agg(
        F.min(F.struct(F.col("event_ms").isNull(), "event_ms", "node")).getField("node").alias("canonical"))
    evidence = members.join(earliest, "incident_id").select(
        "incident_id", F.col("node").alias("tweet_id"),
        F.concat(F.lit(TWEET_URL), F.col("node").cast("string")).alias("tweet_url"),
        F.coalesce("created_at", F.timestamp_millis("event_ms")).alias("created_at"),
        (F.col("node") == F.col("canonical")).alias("is_canonical"), F.lit(run_id).alias("run_id"))
    mapping = members.select(F.col("node").alias("tweet_id"), "incident_id", F.lit(run_id).alias("run_id"))
    return {"incidents": incidents.withColumn("run_id", F.lit(run_id)), "incident_tweets": evidence,
            "tweet_incidents": mapping}


def incidents_lake(spark: SparkSession, config: Config, run_id: str, params: Optional[IncidentParams] = None) -> dict:
    params = params or IncidentParams()
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        inputs = read_lake_inputs(spark, config)
        reports, matches, gazetteer = lake_reports(spark, inputs)
        n_tweets = reports.count()
        record.read = {config.table("curated", "tweets"): n_tweets}
        extra = None
        if inputs["tweet_clusters"] is not None:
            extra = inputs["tweet_clusters"].where(~F.col("is_canonical")).select(
                F.col("tweet_id").alias("src"), F.col("cluster_id").alias("dst"))
        components = assign_incidents(reports, params, extra).localCheckpoint(eager=True)
        outputs = incident_outputs(reports, matches, gazetteer, components, latest_labels(inputs["tweet_labels"]), run_id)
        keys = {"incidents": ["incident_id"], "incident_tweets": ["incident_id", "tweet_id"], "tweet_incidents": ["tweet_id"]}
        record.wrote = {name: sync_table(spark, df, config.table("enriched", name), keys[name])
                        for name, df in outputs.items()}
        sizes = components.groupBy("component").count()
        placed = spark.read.format("delta").load(config.table("enriched", "incidents")).where(
            F.col("latitude").isNotNull()).count()
        counts = {"tweets": n_tweets, "incidents": sizes.count(),
                  "multi_report_incidents": sizes.where("count > 1").count(), "placed_incidents": placed}
        record.counts = counts
        record.rows_read = n_tweets
        record.rows_written = counts["incidents"]
        return counts


def run(ctx: JobContext) -> dict:
    args = ctx.args
    params = IncidentParams(threshold=args.threshold, window_hours=args.window_hours)
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
    check_columns(df, args.input, [args.id_col, args.text_col] + [
        c for c in (args.time_col, args.place_col, args.user_location_col) if c])
    out = incidents_frame(df, args.id_col, args.text_col, args.time_col, params, args.place_col,
                          args.user_location_col).localCheckpoint(eager=True)
    write_single_file(out, args.output)
    rows = out.count()
    return {"file_mode": True, "rows_read": rows, "rows_written": rows,
            "incidents": out.select("incident_id").distinct().count(), "output": args.output}
