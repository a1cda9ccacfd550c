import json
from pathlib import Path

import pytest
from chispa import assert_df_equality
from crisislake import delta_io
from crisislake.runs import new_run_id, run_step
from pyspark.sql import types as T

SCHEMA = T.StructType([T.StructField("k", T.LongType()), T.StructField("v", T.StringType())])


def test_new_run_id_is_sortable_and_unique():
    a, b = new_run_id(), new_run_id()
    assert a != b
    assert len(a.split("-")[0]) == len("20261127T234500Z")


def test_run_step_writes_one_file_per_run_with_each_step(spark, lake):
    runs = f"{lake}/_runs"
    with run_step(spark, runs, "r1", "first") as rec:
        rec.counts["records_read"] = 3
    with run_step(spark, runs, "r1", "second") as rec:
        rec.wrote["t"] = 2
    doc = json.loads(Path(runs, "r1.json").read_text())
    assert doc["steps"]["first"]["counts"] == {"records_read": 3}
    assert doc["steps"]["first"]["status"] == "succeeded"
    assert doc["steps"]["second"]["wrote"] == {"t": 2}


def test_run_step_records_failure_and_reraises(spark, lake):
    runs = f"{lake}/_runs"
    with pytest.raises(RuntimeError, match="boom"):
        with run_step(spark, runs, "r2", "broken"):
            raise RuntimeError("boom")
    doc = json.loads(Path(runs, "r2.json").read_text())
    assert doc["steps"]["broken"]["status"] == "failed"
    assert "boom" in doc["steps"]["broken"]["error"]


def test_merge_into_twice_inserts_once_and_updates_changed_rows(spark, lake):
    path = f"{lake}/curated/t"
    first = spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA)
    assert delta_io.merge_into(spark, first, path, ["k"])["inserted"] == 2
    again = delta_io.merge_into(spark, first, path, ["k"], update_condition="t.v <> s.v")
    assert (again["inserted"], again["updated"]) == (0, 0)
    revised = spark.createDataFrame([(2, "B"), (3, "c")], SCHEMA)
    stats = delta_io.merge_into(spark, revised, path, ["k"], update_condition="t.v <> s.v")
    assert (stats["inserted"], stats["updated"]) == (1, 1)
    expected_df = spark.createDataFrame([(1, "a"), (2, "B"), (3, "c")], SCHEMA)
    actual_df = spark.read.format("delta").load(path)
    assert_df_equality(actual_df, expected_df, ignore_row_order=True)


def test_write_quarantine_is_idempotent_per_record_and_reason(spark, lake):
    path = f"{lake}/quarantine/t"
    rows = spark.createDataFrame(
        [("f.json", 3, "{bad", "malformed JSON"), ("f.json", 3, "{bad", "malformed JSON"), ("f.json", None, "", "truncated gzip")],
        "source_uri string, source_line long, raw_payload string, reason string",
    )
    assert delta_io.write_quarantine(spark, delta_io.to_quarantine(rows, "r1"), path) == 2
    assert delta_io.write_quarantine(spark, delta_io.to_quarantine(rows, "r2"), path) == 0
    assert spark.read.format("delta").load(path).count() == 2
