"""Normalisation of tweet text before shingling (Spark column and its Python twin agree)."""
import pytest
from chispa import assert_column_equality
from crisislake.dedup.normalize import normalize_py, normalize_text
from pyspark.sql import functions as F
from pyspark.sql import types as T

CASES = [
    ("RT @user_1: Flood warning for Houston", "flood warning for houston"),
    ("RT @a: RT @b: Quake!", "quake"),
    ("Fire &amp; smoke &gt; 10km &quot;huge&quot;", "fire smoke 10km huge"),
    ("Bridge collapsed https://t.co/AbC123 see www.example.org/x", "bridge collapsed see"),
    ("@cnn @bbc   tornado   touched\n\ndown", "tornado touched down"),
    # truncated: the cut word goes, the marker " …" stays
    ("Police fire tear gas at protesters in downt… https://t.co/abc", "police fire tear gas at protesters in …"),
    ("Water rising fast...", "water rising …"),
    ("   ", ""),
    (None, ""),
    ("…", ""),
    ("#PrayForBoston Explosions at the marathon", "prayforboston explosions at the marathon"),
    ("MT @x: Roads CLOSED via @cbc \U0001F64F\U0001F64F", "roads closed"),
    ("Death toll: 5.5% of 1,200 at 10:30!!!", "death toll 5.5 of 1,200 at 10:30"),
    ("Flooding in #Calgary\u2764\ufe0f downtown", "flooding in calgary downtown"),
]


@pytest.mark.parametrize("raw,expected", CASES)
def test_normalize_py_case(raw, expected):
    assert normalize_py(raw) == expected


def test_normalize_text_column_matches_hand_written_expectations(spark):
    schema = T.StructType([T.StructField("text", T.StringType()), T.StructField("expected", T.StringType())])
    source_df = spark.createDataFrame(CASES, schema)
    actual_df = source_df.withColumn("actual", normalize_text(F.col("text")))
    assert_column_equality(actual_df, "actual", "expected")
