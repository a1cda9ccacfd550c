"""``crisislake corroborate``: which incidents an independent source confirms (after ``incidents``).

Reads ``enriched/incidents`` and whichever of ``curated/conflict_events`` (ACLED) and
``curated/reported_incidents`` exist; writes ``enriched/incident_corroboration`` (one row per
matching record) and sets ``corroborated``, ``corroboration_score``, ``acled_event_ids`` and
``reported_incident_ids`` on ``enriched/incidents``. Both are synchronised with one MERGE each,
so a re-run changes nothing.
"""
from __future__ import annotations

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crisislake import delta_io
from crisislake.config import Config
from crisislake.context import JobContext, require_table
from crisislake.dedup.incidents.corroborate import (
    MATCH_COLUMNS,
    CorroborationParams,
    corroboration_summary,
    match_acled,
    match_reported,
)
from crisislake.dedup.incidents.job import sync_table
from crisislake.runs import run_step

STEP = "corroborate"
SUMMARY_COLUMNS = ("corroborated", "corroboration_score", "acled_event_ids", "reported_incident_ids")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--window-days", type=int, default=CorroborationParams.window_days,
                        help="days before the first and after the last report a record may fall (default 1)")


def corroborate(spark: SparkSession, config: Config, run_id: str, params: CorroborationParams = None) -> dict:
    params = params or CorroborationParams()
    incidents_path = config.table("enriched", "incidents")
    with run_step(config.zone("_runs"), run_id, STEP) as record:
        if not delta_io.is_delta_table(spark, incidents_path):
            record.counts = {"skipped": "no enriched/incidents"}
            return {"skipped": "no enriched/incidents: run `crisislake incidents` first"}
        incidents = spark.read.format("delta").load(incidents_path)
        parts, read = [], {}
        for table, match in ((("curated", "conflict_events"), match_acled),
                             (("curated", "reported_incidents"), match_reported)):
            path = config.table(*table)
            if delta_io.is_delta_table(spark, path):
                parts.append(match(incidents, spark.read.format("delta").load(path), params))
                read[path] = True
        if not parts:
            record.counts = {"skipped": "no curated event source"}
            return {"skipped": "no curated/conflict_events or curated/reported_incidents"}
        matches = parts[0]
        for part in parts[1:]:
            matches = matches.unionByName(part)
        matches = matches.select(*MATCH_COLUMNS).withColumn("run_id", F.lit(run_id)).localCheckpoint(eager=True)
        summary = corroboration_summary(matches)
        empty = F.array().cast("array<string>")
        updated = (incidents.drop(*SUMMARY_COLUMNS).join(summary, "incident_id", "left")
                   .withColumn("corroborated", F.coalesce("corroborated", F.lit(False)))
                   .withColumn("acled_event_ids", F.coalesce("acled_event_ids", empty))
                   .withColumn("reported_incident_ids", F.coalesce("reported_incident_ids", empty))
                   .select(*incidents.columns))
        wrote = {
            "incident_corroboration": sync_table(spark, matches, config.table("enriched", "incident_corroboration"),
                                                 ["incident_id", "source", "source_id"]),
            "incidents": sync_table(spark, updated.localCheckpoint(eager=True), incidents_path, ["incident_id"]),
        }
        counts = {"matches": matches.count(), "corroborated_incidents": summary.count(),
                  "incidents": incidents.count(),
                  "by_source": {r["source"]: r["count"] for r in matches.groupBy("source").count().collect()}}
        record.read = read
        record.wrote = wrote
        record.counts = counts
        record.rows_read = counts["incidents"]
        record.rows_written = counts["matches"]
        return counts


def run(ctx: JobContext) -> dict:
    missing = require_table(ctx, ctx.config.table("enriched", "incidents"), "run `crisislake incidents` first")
    if missing:
        return missing
    with ctx.stage("match incidents to event records"):
        return corroborate(ctx.spark, ctx.config, ctx.run_id, CorroborationParams(window_days=ctx.args.window_days))
