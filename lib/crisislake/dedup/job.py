"""``crisislake dedup``: near-duplicate clusters of tweets.

Lake mode (no ``--input``): reads ``curated/tweets``, clusters the tweets not seen before against
the persisted state (``enriched/text_shingles``, ``enriched/tweet_band_keys``,
``enriched/text_pairs``, ``enriched/tweet_signatures``) and MERGEs ``enriched/tweet_clusters`` and
``enriched/cluster_merges``.

File mode: ``--input FILE --id-col COL --text-col COL [--time-col COL] [--threshold J]
--output FILE`` writes ``id, cluster_id, is_canonical`` (one row per input row) to one CSV /
CSV.gz / Parquet file.
"""
from __future__ import annotations

import argparse
import logging
from typing import Dict, Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake import delta_io
from crisislake.config import Config, ConfigError
from crisislake.context import JobContext, require_table
from crisislake.dedup.cluster import (
    BAND_SCHEMA,
    PAIR_SCHEMA,
    TEXT_SCHEMA,
    DedupResult,
    DedupState,
    cluster_batch,
)
from crisislake.dedup.io import check_columns, check_file_contract, read_table_file, with_row_index, write_single_file
from crisislake.dedup.minhash import LshParams
from crisislake.runs import run_step
from crisislake.snowflake import snowflake_ms

log = logging.getLogger(__name__)

STEP = "dedup"
SIGNATURES_SCHEMA = T.StructType([
    T.StructField("tweet_id", T.LongType(), False),
    T.StructField("norm_hash", T.LongType(), True),
    T.StructField("event_ms", T.LongType(), True),
    T.StructField("run_id", T.StringType(), False),
])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", default=None, metavar="FILE", help="CSV, CSV.gz or Parquet file (file mode)")
    parser.add_argument("--output", default=None, metavar="FILE", help="output file: id, cluster_id, is_canonical")
    parser.add_argument("--id-col", default="id", help="id column of --input (kept as given)")
    parser.add_argument("--text-col", default="text", help="text column of --input")
    parser.add_argument("--time-col", default=None, help="timestamp column of --input (earliest is canonical)")
    parser.add_argument("--threshold", type=float, default=0.6, help="Jaccard threshold (default 0.6)")
    parser.add_argument("--shingle", choices=("char", "word"), default="word",
                        help="shingle type (default word 2-grams; char = character 5-grams)")
    parser.add_argument("--containment", type=float, default=None,
                        help="share of a truncated text's shingles found in another that links them, 0-1 "
                             "(default 0.9; 0 = Jaccard only)")
    parser.add_argument("--link-threshold", type=float, default=None,
                        help="verified Jaccard an edge needs (default: the threshold)")
    parser.add_argument("--min-support", type=float, default=None,
                        help="neighbourhood support an edge needs, 0-1 (default 0.8; 0 = no support test)")


# ------------------------------------------------------------------------------------ file mode

def event_ms_column(df: DataFrame, id_col: str, time_col: Optional[str]) -> F.Column:
    """Epoch ms of each row: the time column when given (timestamps or ISO/Twitter strings),
    else the snowflake time of a numeric id; null when neither is known (then file order decides)."""
    snowflake = F.when(F.col(id_col).cast("long") > 0, snowflake_ms(id_col))
    if not time_col:
        return snowflake
    col = F.col(time_col)
    if dict(df.dtypes)[time_col] == "string":
        parsed = F.coalesce(
            F.to_timestamp(col),
            # Twitter v1.1 "Sat May 30 22:05:00 +0000 2020" (Spark 3 cannot parse the day name)
            F.to_timestamp(F.regexp_replace(col, "^[A-Za-z]{3} ", ""), "MMM dd HH:mm:ss Z yyyy"),
        )
        millis = F.coalesce(F.unix_millis(parsed), F.when(col.cast("long") > 0, col.cast("long")))
    elif dict(df.dtypes)[time_col] in ("timestamp", "timestamp_ntz", "date"):
        millis = F.unix_millis(col.cast("timestamp"))
    else:
        millis = col.cast("long")
    return F.coalesce(millis, snowflake)


def dedup_frame(df: DataFrame, id_col: str, text_col: str, time_col: Optional[str], params: LshParams) -> DataFrame:
    """File-mode clustering of a whole frame: ``id, cluster_id, is_canonical`` per input row.

    Rows with the same id are tied together (the same tweet from several sources).
    """
    indexed = with_row_index(df.select(id_col, text_col, *([time_col] if time_col else [])), "node")
    indexed = indexed.withColumn("event_ms", event_ms_column(indexed, id_col, time_col)).localCheckpoint(eager=True)
    # Same id seen twice: link every later row to the first row with that id.
    first_row = indexed.groupBy(id_col).agg(F.min("node").alias("_same_id_node"))
    batch = indexed.join(first_row, id_col).withColumn(
        "_same_id_node", F.when(F.col("_same_id_node") != F.col("node"), F.col("_same_id_node"))
    )
    result = cluster_batch(batch, DedupState.empty(df.sparkSession), params, text_col=text_col, link_col="_same_id_node")
    ids = indexed.select("node", F.col(id_col).alias("id"))
    canon_ids = indexed.select(F.col("node").alias("cluster_id"), F.col(id_col).alias("cluster_key"))
    return (
        result.assignments.join(ids, "node").join(canon_ids, "cluster_id")
        .select("node", "id", F.col("cluster_key").alias("cluster_id"), "is_canonical")
        .orderBy("node").drop("node")
    )


def params_from_args(args: argparse.Namespace) -> LshParams:
    return LshParams.for_threshold(args.threshold, args.shingle, link_threshold=args.link_threshold,
                                   min_support=args.min_support, containment=args.containment)


def run_file_mode(spark: SparkSession, args: argparse.Namespace) -> Dict[str, int]:
    params = params_from_args(args)
    df = read_table_file(spark, args.input)
    check_columns(df, args.input, [args.id_col, args.text_col] + ([args.time_col] if args.time_col else []))
    out = dedup_frame(df, args.id_col, args.text_col, args.time_col, params).localCheckpoint(eager=True)
    write_single_file(out, args.output)
    summary = out.agg(
        F.count(F.lit(1)).alias("rows"), F.sum(F.col("is_canonical").cast("int")).alias("clusters")
    ).first()
    return {"rows": int(summary["rows"]), "clusters": int(summary["clusters"] or 0)}


# ------------------------------------------------------------------------------------ lake mode

def read_tweets(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


# Table property of ``tweet_signatures`` naming the normalisation, shingles, banding and pair rule
# the persisted state was built with; state from before the property existed was built with
# character 5-grams, state named without "-pairs" has no ``text_pairs`` (the neighbourhoods the
# edge rule needs), and state without "-n2" has the first normalisation (other text hashes, no
# truncation flags or numbers).
STATE_PROPERTY = "crisislake.dedup.state"
LEGACY_STATE = "char5-b20-r5"
NORMALISATION = "n2"


class DedupStateError(ConfigError):
    """The persisted dedup state was built with other shingles or banding than this run's."""


def state_fingerprint(params: LshParams) -> str:
    """What the persisted text hashes, shingles, band keys and verified pairs depend on.

    >>> state_fingerprint(LshParams.for_threshold(0.6))
    'n2-word2-b31-r4-p4x3-pairs0.6-c0.9'
    """
    return (f"{NORMALISATION}-{params.shingle}{params.ngram}-b{params.num_bands}-r{params.rows_per_band}"
            f"-p{params.prefix_words}x{params.prefix_offsets}-pairs{params.threshold:g}-c{params.containment:g}")


def check_state(spark: SparkSession, config: Config, params: LshParams) -> None:
    """Refuse to mix new signatures with state built another way (candidates would be silently
    missed): say what the state was built with and how to rebuild it."""
    from delta.tables import DeltaTable

    paths = state_paths(config)
    if not delta_io.is_delta_table(spark, paths["signatures"]):
        return
    props = DeltaTable.forPath(spark, paths["signatures"]).detail().select("properties").first()[0] or {}
    built = props.get(STATE_PROPERTY, LEGACY_STATE)
    wanted = state_fingerprint(params)
    if built != wanted:
        tables = ", ".join(
            config.table("enriched", t) for t in ("tweet_signatures", "text_shingles", "tweet_band_keys", "text_pairs")
        )
        raise DedupStateError(
            f"the dedup state was built with {built} and this run uses {wanted}: run with the same "
            f"--shingle, --threshold and --containment, or delete {tables} to re-cluster every tweet with {wanted}"
        )


def read_state(spark: SparkSession, config: Config) -> DedupState:
    """Persisted state, restricted to what a completed run committed (``tweet_signatures`` is
    written last, so rows a failed run left in the other tables are ignored and redone)."""
    paths = state_paths(config)
    if not delta_io.is_delta_table(spark, paths["signatures"]):
        return DedupState.empty(spark)
    sigs = spark.read.format("delta").load(paths["signatures"])
    clusters = spark.read.format("delta").load(paths["clusters"]).select(
        F.col("tweet_id").alias("node"), "cluster_id"
    )
    tweets = sigs.select(F.col("tweet_id").alias("node"), "norm_hash", "event_ms").join(clusters, "node")
    committed_reps = sigs.select(F.col("tweet_id").alias("rep_node"))
    texts = spark.read.format("delta").load(paths["texts"]).select(*TEXT_SCHEMA.fieldNames()).join(
        committed_reps, "rep_node", "left_semi"
    )
    bands = spark.read.format("delta").load(paths["bands"]).select(*BAND_SCHEMA.fieldNames()).join(
        texts.select("norm_hash"), "norm_hash", "left_semi"
    )
    committed = texts.select("norm_hash")
    pairs = (
        spark.read.format("delta").load(paths["pairs"]).select(*PAIR_SCHEMA.fieldNames())
        .join(committed.withColumnRenamed("norm_hash", "a"), "a", "left_semi")
        .join(committed.withColumnRenamed("norm_hash", "b"), "b", "left_semi")
    )
    return DedupState(texts=texts, bands=bands, tweets=tweets, pairs=pairs)


def state_paths(config: Config) -> Dict[str, str]:
    return {
        "tweets": config.table("curated", "tweets"),
        "clusters": config.table("enriched", "tweet_clusters"),
        "signatures": config.table("enriched", "tweet_signatures"),
        "texts": config.table("enriched", "text_shingles"),
        "bands": config.table("enriched", "tweet_band_keys"),
        "pairs": config.table("enriched", "text_pairs"),
        "merges": config.table("enriched", "cluster_merges"),
    }


def new_tweets_batch(tweets: DataFrame, state: DedupState) -> DataFrame:
    """Tweets not clustered before, with ``node`` and ``event_ms`` (created_at, else snowflake)."""
    return tweets.select(
        F.col("tweet_id").alias("node"), "text", "retweet_of_id",
        F.coalesce(F.unix_millis("created_at"), snowflake_ms("tweet_id")).alias("event_ms"),
    ).join(state.tweets.select("node"), "node", "left_anti")


def write_result(
    spark: SparkSession, result: DedupResult, config: Config, run_id: str, fingerprint: str
) -> Dict[str, Dict[str, int]]:
    """MERGE every output; ``tweet_signatures`` last, as the marker of committed tweets (created
    with the state ``fingerprint`` as a table property)."""
    paths = state_paths(config)
    stamp = F.lit(run_id)
    wrote = {}
    wrote["text_shingles"] = delta_io.merge_into(spark, result.new_texts, paths["texts"], ["norm_hash"], update=False)
    wrote["tweet_band_keys"] = delta_io.merge_into(
        spark, result.new_bands.dropDuplicates(["band", "band_key", "norm_hash"]), paths["bands"],
        ["band", "band_key", "norm_hash"], update=False, partition_by=["band"],
    )
    wrote["text_pairs"] = delta_io.merge_into(spark, result.new_pairs, paths["pairs"], ["a", "b"], update=False)
    clusters = result.assignments.select(
        F.col("node").alias("tweet_id"), "cluster_id", "is_canonical", "cluster_size",
        "similarity_to_canonical", stamp.alias("run_id"),
    )
    wrote["tweet_clusters"] = delta_io.merge_into(spark, clusters, paths["clusters"], ["tweet_id"])
    merges = result.merges.select(
        "cluster_id", "merged_into", "reason", stamp.alias("run_id"), F.current_timestamp().alias("merged_at")
    )
    wrote["cluster_merges"] = delta_io.merge_into(spark, merges, paths["merges"], ["cluster_id", "merged_into", "run_id"], update=False)
    sigs = result.new_tweets.select(F.col("node").alias("tweet_id"), "norm_hash", "event_ms", stamp.alias("run_id"))
    delta_io.ensure_table(spark, paths["signatures"], sigs.schema, properties={STATE_PROPERTY: fingerprint})
    wrote["tweet_signatures"] = delta_io.merge_into(spark, sigs, paths["signatures"], ["tweet_id"], update=False)
    return wrote


def dedup_lake(spark: SparkSession, config: Config, run_id: str, params: Optional[LshParams] = None) -> dict:
    """Cluster the curated tweets not seen before; returns the step summary."""
    params = params or LshParams.for_threshold()
    paths = state_paths(config)
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        check_state(spark, config, params)
        state = read_state(spark, config)
        batch = new_tweets_batch(read_tweets(spark, paths["tweets"]), state).localCheckpoint(eager=True)
        n_batch = batch.count()
        record.read = {paths["tweets"]: n_batch}
        if n_batch == 0:
            record.counts = {"new_tweets": 0}
            record.rows_read = record.rows_written = 0
            return {"new_tweets": 0}
        result = cluster_batch(batch, state, params, text_col="text", link_col="retweet_of_id")
        result.assignments = result.assignments.localCheckpoint(eager=True)
        result.merges = result.merges.localCheckpoint(eager=True)
        wrote = write_result(spark, result, config, run_id, state_fingerprint(params))
        new_rows = result.assignments.join(batch.select("node"), "node", "left_semi")
        stats = new_rows.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.col("is_canonical").cast("int")).alias("canonical"),
        ).first()
        counts = {
            "new_tweets": n_batch,
            "new_canonical": int(stats["canonical"] or 0),
            "new_duplicates": n_batch - int(stats["canonical"] or 0),
            "rows_rewritten": int(result.assignments.count()),
            "merges": int(result.merges.count()),
            "verified_text_pairs": int(result.new_pairs.count()),
            "text_edges": int(result.text_edges.count()),
            "params": {"threshold": params.threshold, "link_threshold": params.link_threshold,
                       "min_support": params.min_support, "containment": params.containment,
                       "bands": params.num_bands, "rows": params.rows_per_band,
                       "shingle": f"{params.shingle}{params.ngram}"},
        }
        # Reconciliation: every new tweet has exactly one clusters row (nothing dropped).
        if int(stats["rows"]) != n_batch:
            raise RuntimeError(f"dedup lost rows: {n_batch} new tweets but {stats['rows']} assignments")
        record.wrote = {k: v for k, v in wrote.items()}
        record.counts = counts
        record.rows_read = n_batch
        record.rows_written = n_batch
        record.rows_duplicate = counts["new_duplicates"]
        record.quarantined = {}
        return counts


def run(ctx: JobContext) -> dict:
    args = ctx.args
    if args.input:
        check_file_contract(args.input, args.output)
        with ctx.stage("cluster file"):
            summary = run_file_mode(ctx.spark, args)
        return {"file_mode": True, "rows_read": summary["rows"], "rows_written": summary["rows"],
                "clusters": summary["clusters"], "output": args.output}
    missing = require_table(ctx, ctx.config.table("curated", "tweets"), "run `crisislake ingest-tweets` first")
    if missing:
        return missing
    with ctx.stage("cluster new tweets"):
        return dedup_lake(ctx.spark, ctx.config, ctx.run_id, params_from_args(args))
