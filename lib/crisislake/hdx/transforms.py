"""Pure DataFrame -> DataFrame transforms from raw HDX/ACLED string records to curated rows.

Input frames hold every mapped column as a string (``None`` when the file has no such column)
plus lineage: ``source_uri``, ``source_line`` (the CSV record number, header = 1), ``raw_payload``,
``malformed`` (Spark could not split the record), ``scope`` (``<dataset>/<resource_id>``) and
``retrieved_at``. Each ``with_*_validated`` transform adds the typed columns and a ``reason``
(``None`` for valid rows; all failures joined by ``"; "``).
"""
from __future__ import annotations

from typing import Iterable, List, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crisislake.hdx.layout import ACLED_COLUMNS

EVENT_TYPES = {
    "event_id_cnty": T.StringType(),
    "event_date": T.DateType(),
    "year": T.IntegerType(),
    "latitude": T.DoubleType(),
    "longitude": T.DoubleType(),
    "fatalities": T.IntegerType(),
    "timestamp": T.LongType(),
}
LINEAGE_COLUMNS = ("source_uri", "source_line", "run_id")

CONFLICT_EVENTS_SCHEMA = T.StructType(
    [T.StructField(c, EVENT_TYPES.get(c, T.StringType()), True) for c in ACLED_COLUMNS]
    + [
        T.StructField("is_deleted", T.BooleanType(), True),
        T.StructField("deleted_by_run", T.StringType(), True),
        T.StructField("source_uri", T.StringType(), True),
        T.StructField("source_line", T.LongType(), True),
        T.StructField("run_id", T.StringType(), True),
    ]
)
CONFLICT_EVENTS_KEY = ("event_id_cnty",)

CONFLICT_MONTHLY_SCHEMA = T.StructType(
    [
        T.StructField("location_code", T.StringType(), True),
        T.StructField("admin_level", T.IntegerType(), True),
        T.StructField("admin1_code", T.StringType(), True),
        T.StructField("admin1_name", T.StringType(), True),
        T.StructField("admin2_code", T.StringType(), True),
        T.StructField("admin2_name", T.StringType(), True),
        T.StructField("provider_admin1_name", T.StringType(), True),
        T.StructField("provider_admin2_name", T.StringType(), True),
        T.StructField("pcode_matched", T.BooleanType(), True),
        T.StructField("event_type", T.StringType(), True),
        T.StructField("reference_period_start", T.DateType(), True),
        T.StructField("reference_period_end", T.DateType(), True),
        T.StructField("year", T.IntegerType(), True),
        T.StructField("month", T.IntegerType(), True),
        T.StructField("events", T.LongType(), True),
        T.StructField("fatalities", T.LongType(), True),
        T.StructField("has_hrp", T.BooleanType(), True),
        T.StructField("in_gho", T.BooleanType(), True),
        T.StructField("warning", T.StringType(), True),
        T.StructField("dataset_hdx_id", T.StringType(), True),
        T.StructField("resource_hdx_id", T.StringType(), True),
        T.StructField("source_uri", T.StringType(), True),
        T.StructField("source_line", T.LongType(), True),
        T.StructField("run_id", T.StringType(), True),
    ]
)
CONFLICT_MONTHLY_KEY = (
    "location_code", "admin_level", "admin1_code", "admin2_code", "provider_admin1_name",
    "provider_admin2_name", "event_type", "reference_period_start",
)

ADMIN_PCODES_SCHEMA = T.StructType(
    [
        T.StructField("p_code", T.StringType(), True),
        T.StructField("location_code", T.StringType(), True),
        T.StructField("admin_level", T.IntegerType(), True),
        T.StructField("name", T.StringType(), True),
        T.StructField("parent_p_code", T.StringType(), True),
        T.StructField("valid_from", T.DateType(), True),
        T.StructField("source_uri", T.StringType(), True),
        T.StructField("source_line", T.LongType(), True),
        T.StructField("run_id", T.StringType(), True),
    ]
)
ADMIN_PCODES_KEY = ("p_code",)

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
_NULL_CODES = ("nan", "none", "null", "n/a")


# --- column helpers -------------------------------------------------------------------------

def clean_text(c: Column) -> Column:
    """Trim spaces, tabs and no-break spaces (cp1252 0xA0 is common in ACLED); empty becomes null."""
    trimmed = F.regexp_replace(c, r"^[\s\u00a0\ufeff]+|[\s\u00a0]+$", "")
    return F.when(trimmed == "", None).otherwise(trimmed)


def clean_code(c: Column) -> Column:
    """Like :func:`clean_text`, and the ``nan``/``None`` that pandas writes for a missing code is null."""
    cleaned = clean_text(c)
    return F.when(F.lower(cleaned).isin(*_NULL_CODES), None).otherwise(cleaned)


def parse_flexible_date(c: Column) -> Column:
    """``yyyy-mm-dd[...]``, ACLED's old ``dd/mm/yyyy`` or ``dd Month yyyy`` to a date; else null.

    Built from regex groups and ``make_date`` (null for impossible dates such as 31/02/2016) so no
    date parser policy or locale is involved.
    """
    iso = r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    dmy = r"^(\d{1,2})/(\d{1,2})/(\d{4})$"
    named = r"^(\d{1,2})[ -]([A-Za-z]+)[ -](\d{4})$"
    month_number = F.coalesce(
        *[F.when(F.lower(F.regexp_extract(c, named, 2)).startswith(m[:3]), F.lit(i + 1)) for i, m in enumerate(MONTHS)]
    )

    def part(pattern: str, group: int) -> Column:
        return F.regexp_extract(c, pattern, group).cast("int")

    return (
        F.when(c.rlike(iso), F.make_date(part(iso, 1), part(iso, 2), part(iso, 3)))
        .when(c.rlike(dmy), F.make_date(part(dmy, 3), part(dmy, 2), part(dmy, 1)))
        .when(c.rlike(named), F.make_date(part(named, 3), month_number, part(named, 1)))
    )


def is_non_negative_int(c: Column) -> Column:
    return c.rlike(r"^\+?[0-9]{1,9}$")


def _check(condition: Column, message: Column) -> Column:
    return F.when(condition, message)


def _quote(c: Column) -> Column:
    return F.concat(F.lit("'"), F.coalesce(c, F.lit("")), F.lit("'"))


MALFORMED = "malformed CSV record (field count does not match the header)"


def reasons(*checks: Column) -> Column:
    """Join the non-null failure messages with ``"; "``; null when there are none.

    A record Spark could not split (``malformed``) gets that one reason: its cells are shifted, so
    checks on them would only add noise.
    """
    joined = F.concat_ws("; ", *checks)
    return F.when(F.col("malformed"), F.lit(MALFORMED)).when(joined != "", joined)


def changed_condition(columns: Iterable[str]) -> str:
    """MERGE update condition: some content column differs between target ``t`` and source ``s``.

    A null-safe column-by-column comparison: exact (no hash collisions) and it needs no stored
    hash column. Lineage columns are left out so a re-export with the same content changes nothing.

    >>> changed_condition(["a", "b"])
    'NOT (t.`a` <=> s.`a` AND t.`b` <=> s.`b`)'
    """
    return "NOT (" + " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in columns) + ")"


# --- conflict events -------------------------------------------------------------------------

def with_event_fields_validated(df: DataFrame) -> DataFrame:
    """Type the ACLED columns and add ``reason`` for rows that cannot become curated events."""
    cleaned = df.select(
        *[clean_text(F.col(c)).alias(c) for c in ACLED_COLUMNS],
        *[c for c in df.columns if c not in ACLED_COLUMNS],
    )
    lat, lon = F.col("latitude").cast("double"), F.col("longitude").cast("double")
    date = parse_flexible_date(F.col("event_date"))
    checks = [
        _check(F.col("event_id_cnty").isNull(), F.lit("missing event_id_cnty")),
        _check(date.isNull(), F.concat(F.lit("unparseable event_date "), _quote(F.col("event_date")))),
        _check(lat.isNull() | ~lat.between(-90.0, 90.0),
               F.concat(F.lit("latitude missing, non-numeric or out of [-90, 90]: "), _quote(F.col("latitude")))),
        _check(lon.isNull() | ~lon.between(-180.0, 180.0),
               F.concat(F.lit("longitude missing, non-numeric or out of [-180, 180]: "), _quote(F.col("longitude")))),
        _check(F.col("fatalities").isNotNull() & ~is_non_negative_int(F.col("fatalities")),
               F.concat(F.lit("fatalities negative or not an integer: "), _quote(F.col("fatalities")))),
        _check(F.col("year").isNotNull() & ~F.col("year").rlike(r"^[0-9]{4}$"),
               F.concat(F.lit("year not a 4-digit integer: "), _quote(F.col("year")))),
        _check(F.col("timestamp").isNotNull() & ~F.col("timestamp").rlike(r"^[0-9]{1,18}$"),
               F.concat(F.lit("timestamp not an integer: "), _quote(F.col("timestamp")))),
    ]
    return (
        cleaned.withColumn("reason", reasons(*checks))
        .withColumn("event_date", date)
        .withColumn("year", F.coalesce(F.col("year").cast("int"), F.year(date)))
        .withColumn("latitude", lat)
        .withColumn("longitude", lon)
        .withColumn("fatalities", F.col("fatalities").cast("int"))
        .withColumn("timestamp", F.col("timestamp").cast("long"))
    )


def latest_per_key(keys: Sequence[str]):
    """Keep one row per key: the latest retrieval, then the last record of the file.

    Rows must carry ``retrieved_at``, ``source_uri`` and ``source_line``. The window shuffles on
    the key; that is the one shuffle of the ingest besides the MERGE itself.
    """

    def _latest(df: DataFrame) -> DataFrame:
        order = [F.col("retrieved_at").desc(), F.col("source_uri").desc(), F.col("source_line").desc()]
        window = Window.partitionBy(*[F.col(k) for k in keys]).orderBy(*order)
        return df.withColumn("_rank", F.row_number().over(window)).filter(F.col("_rank") == 1).drop("_rank")

    return _latest


def to_conflict_events(run_id: str):
    """Select the curated/conflict_events columns (current, not deleted) from validated rows."""

    def _select(df: DataFrame) -> DataFrame:
        return df.select(
            *[F.col(c).cast(EVENT_TYPES.get(c, T.StringType())).alias(c) for c in ACLED_COLUMNS],
            F.lit(False).alias("is_deleted"),
            F.lit(None).cast("string").alias("deleted_by_run"),
            F.col("source_uri").cast("string"),
            F.col("source_line").cast("long"),
            F.lit(run_id).alias("run_id"),
        )

    return _select


def with_scope(df: DataFrame) -> DataFrame:
    """``scope`` = ``<dataset>/<resource_id>`` parsed from a ``.../raw/hdx/<dataset>/<resource>/<at>/<file>`` URI."""
    return df.withColumn(
        "scope", F.regexp_extract(F.col("source_uri"), r"/hdx/([^/]+/[^/]+)/[^/]+/[^/]+$", 1)
    )


def events_missing_from_export(seen_ids: DataFrame, scopes: Sequence[str], run_id: str):
    """Current events of the re-exported ``scopes`` that the new export no longer contains, flagged deleted.

    ``seen_ids`` holds every ``event_id_cnty`` present in the new exports (valid or quarantined, so
    an event whose new row failed validation is not mistaken for a deletion).
    """

    def _missing(current: DataFrame) -> DataFrame:
        in_scope = with_scope(current).filter(~F.col("is_deleted") & F.col("scope").isin(list(scopes))).drop("scope")
        return (
            in_scope.join(seen_ids.select("event_id_cnty").distinct(), "event_id_cnty", "left_anti")
            .withColumn("is_deleted", F.lit(True))
            .withColumn("deleted_by_run", F.lit(run_id))
            .select(*CONFLICT_EVENTS_SCHEMA.fieldNames())
        )

    return _missing


# --- HDX HAPI monthly aggregates -------------------------------------------------------------

def with_monthly_fields_validated(df: DataFrame) -> DataFrame:
    """Type HAPI / older HDX conflict aggregates and add ``reason`` for invalid rows.

    Files without provider name columns (the older format) keep their own admin names there, so
    the natural key stays unique for areas that have no P-code.
    """
    code_cols = ("location_code", "admin1_code", "admin2_code")
    text_cols = ("provider_admin1_name", "provider_admin2_name", "admin1_name", "admin2_name", "event_type",
                 "warning", "dataset_hdx_id", "resource_hdx_id", "admin_level", "events", "fatalities",
                 "reference_period_start", "reference_period_end", "has_hrp", "in_gho")
    out = df
    for c in code_cols:
        out = out.withColumn(c, clean_code(F.col(c)))
    for c in text_cols:
        out = out.withColumn(c, clean_text(F.col(c)))
    start = parse_flexible_date(F.col("reference_period_start"))
    derived_level = (
        F.when(F.col("admin2_code").isNotNull() | F.col("admin2_name").isNotNull(), 2)
        .when(F.col("admin1_code").isNotNull() | F.col("admin1_name").isNotNull(), 1)
        .otherwise(0)
    )
    checks = [
        _check(F.col("location_code").isNull(), F.lit("missing location_code")),
        _check(F.col("event_type").isNull(), F.lit("missing event_type")),
        _check(start.isNull(),
               F.concat(F.lit("unparseable reference_period_start "), _quote(F.col("reference_period_start")))),
        _check(~F.coalesce(is_non_negative_int(F.col("events")), F.lit(False)),
               F.concat(F.lit("events missing, negative or not an integer: "), _quote(F.col("events")))),
        _check(F.col("fatalities").isNotNull() & ~is_non_negative_int(F.col("fatalities")),
               F.concat(F.lit("fatalities negative or not an integer: "), _quote(F.col("fatalities")))),
        _check(F.col("admin_level").isNotNull() & ~F.col("admin_level").isin("0", "1", "2"),
               F.concat(F.lit("admin_level not 0, 1 or 2: "), _quote(F.col("admin_level")))),
    ]
    yes_no = {"y": True, "yes": True, "true": True, "n": False, "no": False, "false": False}
    mapping = F.create_map(*[x for k, v in yes_no.items() for x in (F.lit(k), F.lit(v))])
    return (
        out.withColumn("reason", reasons(*checks))
        .withColumn("provider_admin1_name", F.coalesce(F.col("provider_admin1_name"), F.col("admin1_name")))
        .withColumn("provider_admin2_name", F.coalesce(F.col("provider_admin2_name"), F.col("admin2_name")))
        .withColumn("admin_level", F.coalesce(F.col("admin_level").cast("int"), derived_level))
        .withColumn("reference_period_start", start)
        .withColumn("reference_period_end", parse_flexible_date(F.col("reference_period_end")))
        .withColumn("events", F.col("events").cast("long"))
        .withColumn("fatalities", F.col("fatalities").cast("long"))
        .withColumn("has_hrp", mapping[F.lower(F.col("has_hrp"))])
        .withColumn("in_gho", mapping[F.lower(F.col("in_gho"))])
    )


def with_admin_names(pcodes: DataFrame):
    """Admin names from the P-code list (the file's own name where the code is unknown).

    ``pcode_matched`` is true when the row's own admin level has a code found in the list
    (always true at admin level 0). The P-code
    list is small (tens of thousands of rows), so it is broadcast instead of shuffled.
    """

    def _join(df: DataFrame) -> DataFrame:
        lookup = F.broadcast(pcodes.select(F.col("p_code"), F.col("name")))
        a1 = lookup.select(F.col("p_code").alias("_p1"), F.col("name").alias("_n1"))
        a2 = lookup.select(F.col("p_code").alias("_p2"), F.col("name").alias("_n2"))
        joined = (
            df.join(a1, df["admin1_code"] == a1["_p1"], "left")
            .join(a2, df["admin2_code"] == a2["_p2"], "left")
        )
        level = F.col("admin_level")
        matched = (
            (level == 0)
            | ((level == 1) & F.col("_p1").isNotNull())
            | ((level == 2) & F.col("_p2").isNotNull() & (F.col("admin1_code").isNull() | F.col("_p1").isNotNull()))
        )
        return (
            joined.withColumn("admin1_name", F.coalesce(F.col("_n1"), F.col("admin1_name")))
            .withColumn("admin2_name", F.coalesce(F.col("_n2"), F.col("admin2_name")))
            .withColumn("pcode_matched", matched)
            .drop("_p1", "_n1", "_p2", "_n2")
        )

    return _join


def to_conflict_monthly(run_id: str):
    def _select(df: DataFrame) -> DataFrame:
        with_parts = df.withColumn("year", F.year("reference_period_start")).withColumn(
            "month", F.month("reference_period_start")
        ).withColumn("run_id", F.lit(run_id))
        return with_parts.select(
            *[F.col(f.name).cast(f.dataType).alias(f.name) for f in CONFLICT_MONTHLY_SCHEMA.fields]
        )

    return _select


# --- P-codes ---------------------------------------------------------------------------------

def with_pcode_fields_validated(df: DataFrame) -> DataFrame:
    out = df
    for c in ("p_code", "location_code", "name", "parent_p_code", "admin_level", "valid_from"):
        out = out.withColumn(c, clean_text(F.col(c)))
    checks = [
        _check(F.col("p_code").isNull(), F.lit("missing p_code")),
        _check(F.col("admin_level").isNull() | ~F.col("admin_level").rlike(r"^[0-9]$"),
               F.concat(F.lit("admin_level not a digit: "), _quote(F.col("admin_level")))),
    ]
    return (
        out.withColumn("reason", reasons(*checks))
        .withColumn("admin_level", F.col("admin_level").cast("int"))
        .withColumn("valid_from", parse_flexible_date(F.col("valid_from")))
    )


def to_admin_pcodes(run_id: str):
    def _select(df: DataFrame) -> DataFrame:
        return df.withColumn("run_id", F.lit(run_id)).select(
            *[F.col(f.name).cast(f.dataType).alias(f.name) for f in ADMIN_PCODES_SCHEMA.fields]
        )

    return _select


def content_columns(schema: T.StructType, exclude: Sequence[str] = LINEAGE_COLUMNS) -> List[str]:
    return [f.name for f in schema.fields if f.name not in exclude]
