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


def test_run_step_writes_one_file_per_run_with_each_step(lake):
    runs = f"{lake}/_runs"
    with run_step(runs, "r1", "first") as rec:
        rec.counts["records_read"] = 3
    with run_step(runs, "r1", "second") as rec:
        rec.wrote["t"] = 2
    doc = json.loads(Path(runs, "r1.json").read_text())
    assert doc["steps"]["first"]["counts"] == {"records_read": 3}
    assert doc["steps"]["first"]["status"] == "succeeded"
    assert doc["steps"]["second"]["wrote"] == {"t": 2}


def test_run_step_records_failure_and_reraises(lake):
    runs = f"{lake}/_runs"
    with pytest.raises(RuntimeError, match="boom"):
        with run_step(runs, "r2", "broken"):
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


def test_create_with_rows_creates_once_with_nullable_schema_and_properties_then_declines(spark, lake):
    from pyspark.sql import functions as F

    path = f"{lake}/t_created"
    rows = spark.createDataFrame([(1, "a"), (2, "b")], "k long, v string").withColumn("src", F.lit("x"))
    assert rows.schema["src"].nullable is False
    props = {"delta.dataSkippingStatsColumns": "k"}
    assert delta_io.create_with_rows(spark, rows, path, props) == 2
    table = spark.read.format("delta").load(path)
    assert [(f.name, f.nullable) for f in table.schema.fields] == [("k", True), ("v", True), ("src", True)]
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    assert detail.properties["delta.dataSkippingStatsColumns"] == "k"
    # a table is there now: nothing is written, the caller MERGEs instead
    assert delta_io.create_with_rows(spark, rows.withColumn("k", F.col("k") + 10), path, props) is None
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version", "operation").collect()
    assert [(h.version, h.operation) for h in history] == [(0, "WRITE")]
    assert sorted(r.k for r in table.collect()) == [1, 2]
    with pytest.raises(ValueError, match="only delta"):
        delta_io.create_with_rows(spark, rows, f"{lake}/t_other", {"owner": "me"})


def killed_creation(path: Path) -> None:
    """What a run killed while committing version 0 leaves: a log folder with the temporary
    commit file (and its checksum) that was never renamed into place."""
    log = path / "_delta_log"
    log.mkdir(parents=True)
    (log / ".00000000000000000000.json.0f6d2c1e-tmp").write_text('{"commitInfo":{}}\n')
    (log / "..00000000000000000000.json.0f6d2c1e-tmp.crc").write_bytes(b"\x00")


def test_a_table_whose_creation_was_killed_is_no_table_and_is_created_again(spark, lake, monkeypatch):
    monkeypatch.setattr(delta_io, "CREATION_WAIT_S", 2.0)  # the wait for a concurrent creator's commit
    path = Path(lake) / "quarantine" / "t"
    killed_creation(path)

    assert not delta_io.is_delta_table(spark, str(path))
    delta_io.ensure_quarantine(spark, str(path))

    assert delta_io.is_delta_table(spark, str(path))
    assert spark.read.format("delta").load(str(path)).count() == 0
    assert not (path / "_delta_log" / ".00000000000000000000.json.0f6d2c1e-tmp").exists()


def test_a_first_load_over_a_killed_creation_writes_version_0(spark, lake):
    path = Path(lake) / "curated" / "t"
    killed_creation(path)
    rows = spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string")

    assert delta_io.create_with_rows(spark, rows, str(path)) == 2
    assert delta_io.is_delta_table(spark, str(path))
