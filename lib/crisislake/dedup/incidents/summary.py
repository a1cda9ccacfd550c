"""One row per incident: time span, representative report, place on the map, force rank, labels.

Place of an incident: the city named by most of its reports (ties: the name), else the admin-1
area named most. Coordinates are the mean of the reports' geotags when any has one, else the
gazetteer's. ``place_confidence`` = (reports naming the chosen place or a place inside it /
reports naming any place) x the trust of the best source that named it (a geotag or given
place 1.0, the text 0.8, the author's profile 0.5) x 0.7 when only an admin-1 area is known.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crisislake.dedup.incidents.places import SOURCE_WEIGHT

ADMIN1_ONLY = 0.7
INCIDENT_COLUMNS = (
    "incident_id", "first_seen", "last_seen", "n_reports", "representative_text", "place", "latitude", "longitude",
    "country_iso3", "admin1_name", "admin1_pcode", "admin2_name", "admin2_pcode", "place_confidence",
    "incident_type", "force_rank", "labels", "corroborated", "corroboration_score", "acled_event_ids",
    "reported_incident_ids",
)


def incident_places(members: DataFrame, matches: DataFrame, gazetteer: DataFrame) -> DataFrame:
    """``incident_id`` + the place columns, from ``members`` (``incident_id, node, lat, lon``) and the
    reports' place ``matches`` (:func:`crisislake.dedup.incidents.places.place_matches`)."""
    weight = F.create_map(*[x for k, v in SOURCE_WEIGHT.items() for x in (F.lit(k), F.lit(v))])
    m = matches.join(members.select("incident_id", "node"), "node").withColumn("w", weight[F.col("source")])
    named = m.groupBy("incident_id").agg(F.countDistinct("node").alias("n_named"))
    per_place = m.groupBy("incident_id", "place_id", "level", "admin1_pcode").agg(
        F.countDistinct("node").alias("n"), F.max("w").alias("w"))
    best = Window.partitionBy("incident_id").orderBy(F.desc("level"), F.desc("n"), "place_id")
    chosen = per_place.withColumn("r", F.row_number().over(best)).where("r = 1").drop("r")
    # an admin-1 choice is supported by every report naming a city inside it, too
    # (own column names: both sides derive from ``m``, and Spark resolves a self-join's
    # ``chosen.incident_id == in_state.incident_id`` to one side, which dropped every row)
    in_state = m.where(F.col("level") == 2).groupBy(
        F.col("incident_id").alias("in_incident"), F.col("admin1_pcode").alias("in_state")).agg(
        F.countDistinct("node").alias("n_inside"))
    chosen = chosen.join(in_state, (F.col("incident_id") == F.col("in_incident"))
                         & (F.col("place_id") == F.col("in_state")) & (F.col("level") == 1), "left"
                         ).drop("in_incident", "in_state")
    gaz = gazetteer.groupBy("place_id").agg(*[F.first(c, ignorenulls=True).alias(c) for c in (
        "place", "country_iso3", "admin1_name", "admin1_pcode", "admin2_name", "admin2_pcode", "latitude", "longitude")])
    geotags = members.where(F.col("lat").isNotNull() & F.col("lon").isNotNull()).groupBy("incident_id").agg(
        F.avg("lat").alias("geo_lat"), F.avg("lon").alias("geo_lon"))
    share = (F.col("n") + F.coalesce("n_inside", F.lit(0))) / F.col("n_named")
    confidence = F.least(F.lit(1.0), share) * F.col("w") * F.when(F.col("level") == 1, ADMIN1_ONLY).otherwise(1.0)
    return (chosen.drop("admin1_pcode").join(named, "incident_id").join(gaz, "place_id", "left")
            .join(geotags, "incident_id", "full")
            .select("incident_id", "place", F.coalesce("geo_lat", "latitude").alias("latitude"),
                    F.coalesce("geo_lon", "longitude").alias("longitude"), "country_iso3", "admin1_name",
                    "admin1_pcode", "admin2_name", "admin2_pcode",
                    F.when(F.col("place_id").isNotNull(), F.round(confidence, 3))
                    .when(F.col("geo_lat").isNotNull(), F.lit(1.0)).alias("place_confidence")))


def incident_type(labels: DataFrame) -> DataFrame:
    """``incident_id, incident_type, force_rank`` from the members' latest labels
    (``incident_id, node, police_force, force_rank, disaster_type``).

    ``police_violence`` when a report is labelled police force or has a force rank >= 2
    (force used), else the most common disaster type other than ``unknown``.
    """
    rank = F.col("force_rank").cast("int")
    police = (F.col("police_force") == "1") | (rank >= 2)
    agg = labels.groupBy("incident_id").agg(
        F.max(rank).cast("smallint").alias("force_rank"), F.max(police.cast("int")).alias("police"))
    disaster = labels.where(F.col("disaster_type").isNotNull() & (F.col("disaster_type") != "unknown")).groupBy(
        "incident_id", "disaster_type").count()
    top = disaster.withColumn("r", F.row_number().over(
        Window.partitionBy("incident_id").orderBy(F.desc("count"), "disaster_type"))).where("r = 1")
    return agg.join(top.select("incident_id", "disaster_type"), "incident_id", "left").select(
        "incident_id", F.when(F.col("police") == 1, F.lit("police_violence")).otherwise(F.col("disaster_type"))
        .alias("incident_type"), "force_rank")


def summarise_incidents(members: DataFrame, places: DataFrame, types: DataFrame) -> DataFrame:
    """One row per incident (:data:`INCIDENT_COLUMNS`) from ``members`` (``incident_id, node,
    event_ms, text, labels``), :func:`incident_places` and :func:`incident_type`. Corroboration
    columns start empty; ``crisislake corroborate`` fills them."""
    earliest = Window.partitionBy("incident_id").orderBy(F.col("event_ms").asc_nulls_last(), "node")
    empty = F.array().cast("array<string>")
    base = (
        members.withColumn("representative_text", F.first("text").over(earliest))
        .groupBy("incident_id")
        .agg(
            F.timestamp_millis(F.min("event_ms")).alias("first_seen"),
            F.timestamp_millis(F.max("event_ms")).alias("last_seen"),
            F.count(F.lit(1)).cast("long").alias("n_reports"),
            F.first("representative_text").alias("representative_text"),
            F.array_sort(F.array_distinct(F.flatten(F.collect_list(F.coalesce("labels", empty))))).alias("labels"),
        )
    )
    return (base.join(places, "incident_id", "left").join(types, "incident_id", "left")
            .withColumn("corroborated", F.lit(False)).withColumn("corroboration_score", F.lit(None).cast("double"))
            .withColumn("acled_event_ids", empty).withColumn("reported_incident_ids", empty)
            .select(*INCIDENT_COLUMNS))
