"""The 2020PB-style incident list as a curated source: parse, validate, quarantine.

Input: a JSON file holding ``{"data": [incident, ...]}`` (2020PB's ``all-locations-v2.json``)
or one incident object per line. Each incident has ``id``, ``date`` (``YYYY-MM-DD``), ``city``,
``state``, ``geolocation`` (``"lat, lon"``), ``name``, ``description``, ``links`` (objects with a
``url``, or plain strings) and ``tags``.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake.dedup.incidents.gazetteer import US_STATES

LINK = T.StructType([T.StructField("url", T.StringType()), T.StructField("text", T.StringType())])
INCIDENT = T.StructType([
    T.StructField("id", T.StringType()), T.StructField("date", T.StringType()),
    T.StructField("city", T.StringType()), T.StructField("state", T.StringType()),
    T.StructField("geolocation", T.StringType()), T.StructField("name", T.StringType()),
    T.StructField("description", T.StringType()), T.StructField("links", T.ArrayType(LINK)),
    T.StructField("tags", T.ArrayType(T.StringType())),
])
REPORTED_COLUMNS = ("id", "date", "city", "state", "country", "latitude", "longitude", "name", "description",
                    "links", "tags", "admin1_pcode", "source_uri", "source_line", "run_id")
# 2020PB writes the capital as a state of its own
STATE_NAMES = {name.lower(): abbr for abbr, name, _ in US_STATES} | {"washington dc": "DC"}


def parse_incidents(lines: DataFrame) -> DataFrame:
    """``source_uri, source_line, raw_payload, <INCIDENT fields>`` from ``value, source_uri``
    (one JSON document per row: a whole file, or one line of a JSON-lines file).

    ``source_line`` is the position in the file's ``data`` array (1-based), or the line number.
    A document that is neither yields one row with every field null (and is quarantined).
    """
    doc = F.from_json("value", T.StructType([T.StructField("data", T.ArrayType(T.StringType()))]))
    items = lines.select("source_uri", "line_no", "value", doc.getField("data").alias("data"))
    many = items.where(F.col("data").isNotNull()).select(
        "source_uri", F.posexplode("data").alias("pos", "raw_payload")).select(
        "source_uri", (F.col("pos") + 1).cast("long").alias("source_line"), "raw_payload")
    one = items.where(F.col("data").isNull() & (F.trim("value") != "")).select(
        "source_uri", F.col("line_no").alias("source_line"), F.col("value").alias("raw_payload"))
    both = many.unionByName(one)
    parsed = both.withColumn("p", F.from_json("raw_payload", INCIDENT))
    return parsed.select("source_uri", "source_line", "raw_payload", *[F.col(f"p.{f.name}").alias(f.name) for f in INCIDENT.fields])


def _coord(geo: Column, i: int) -> Column:
    part = F.trim(F.element_at(F.split(geo, ","), i))
    return F.when(part.rlike(r"^-?\d+(\.\d+)?$"), part.cast("double"))


def with_validation(parsed: DataFrame) -> DataFrame:
    """Typed columns plus ``reason`` (null for a good row; reasons joined by ``; ``)."""
    state_key = F.lower(F.trim("state"))
    abbr = F.element_at(F.create_map(*[F.lit(x) for kv in STATE_NAMES.items() for x in kv]), state_key)
    fips = F.create_map(*[F.lit(x) for a, _, f in US_STATES for x in (a, "US" + f)])
    lat, lon = _coord(F.col("geolocation"), 1), _coord(F.col("geolocation"), 2)
    day = F.to_date("date", "yyyy-MM-dd")
    checks = [
        (F.col("id").isNull() | (F.trim("id") == ""), F.lit("missing id")),
        (F.col("date").isNull() | day.isNull(), F.concat(F.lit("unparseable date '"), F.coalesce("date", F.lit("")), F.lit("'"))),
        ((F.coalesce(F.trim("city"), F.lit("")) == "") & abbr.isNull(), F.lit("no city and no known state")),
        (F.col("geolocation").isNotNull() & (F.trim("geolocation") != "")
         & (lat.isNull() | lon.isNull() | (F.abs(lat) > 90) | (F.abs(lon) > 180)),
         F.concat(F.lit("geolocation not 'lat, lon' in range: '"), F.col("geolocation"), F.lit("'"))),
    ]
    reason = F.concat_ws("; ", *[F.when(bad, msg) for bad, msg in checks])
    links = F.filter(F.transform(F.coalesce("links", F.array().cast(T.ArrayType(LINK))), lambda x: x.getField("url")),
                     lambda u: u.isNotNull())
    return parsed.select(
        F.trim("id").alias("id"), day.alias("date"), F.nullif(F.trim("city"), F.lit("")).alias("city"),
        F.trim("state").alias("state"), F.when(abbr.isNotNull(), F.lit("USA")).alias("country"),
        lat.alias("latitude"), lon.alias("longitude"), "name", "description", links.alias("links"),
        F.coalesce("tags", F.array().cast("array<string>")).alias("tags"), fips[abbr].alias("admin1_pcode"),
        "source_uri", "source_line", "raw_payload", F.when(reason != "", reason).alias("reason"))
