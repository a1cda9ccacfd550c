"""The star schema is declared once; the checked-in DDL is exactly its rendering."""
from __future__ import annotations

from pathlib import Path

import pytest
from crisislake.warehouse import model as m

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(m.sql_files()))
def test_checked_in_sql_equals_the_rendering_of_the_model(name):
    checked_in = (ROOT / "sql" / name).read_text(encoding="utf-8")
    assert checked_in == m.sql_files()[name], f"sql/{name} is stale: run `python -m crisislake.warehouse.model sql`"


def test_redshift_dimension_is_replicated_to_every_node():
    assert m.render_table(m.DIM_DISASTER_TYPE, "redshift", "crisislake") == (
        "-- eleven rows: a full copy per node\n"
        "CREATE TABLE IF NOT EXISTS crisislake.dim_disaster_type (\n"
        "    disaster_type VARCHAR(32) NOT NULL,\n"
        "    category      VARCHAR(16) NOT NULL,\n"
        "    description   VARCHAR(256) NOT NULL,\n"
        "    run_id        VARCHAR(64) NOT NULL,\n"
        "    PRIMARY KEY (disaster_type)\n"
        ")\n"
        "DISTSTYLE ALL\n"
        "COMPOUND SORTKEY (disaster_type)\n"
        "ENCODE AUTO;\n"
    )


def test_redshift_fact_is_distributed_on_its_key_and_sorted_by_time():
    ddl = m.render_table(m.FACT_TWEET, "redshift", "crisislake")
    assert ddl.endswith(")\nDISTSTYLE KEY\nDISTKEY (tweet_id)\nCOMPOUND SORTKEY (created_at)\nENCODE AUTO;\n")
    assert "    created_at                  TIMESTAMPTZ NOT NULL,\n" in ddl
    assert "    relevance_confidence        DECIMAL(6,5),\n" in ddl
    assert "    information_type_confidence DECIMAL(6,5),\n" in ddl


def test_postgres_ddl_has_the_same_columns_without_redshift_attributes():
    ddl = m.render_table(m.DIM_EVENT_TYPE, "postgres", "wh")
    assert ddl == (
        "-- ACLED's ~25 event/sub-event types: a full copy per node\n"
        "CREATE TABLE IF NOT EXISTS wh.dim_event_type (\n"
        "    event_type     VARCHAR(128) NOT NULL,\n"
        "    sub_event_type VARCHAR(128) NOT NULL,\n"
        "    disorder_type  VARCHAR(128),\n"
        "    run_id         VARCHAR(64) NOT NULL,\n"
        "    PRIMARY KEY (event_type, sub_event_type)\n"
        ");\n"
    )


def test_model_refuses_a_key_that_is_not_a_column():
    with pytest.raises(m.ModelError, match="'nope' is not a column"):
        m.Table("t", (m.Column("a", m.BIGINT),), key=("nope",), diststyle="ALL", sortkey=("a",))


def test_model_refuses_an_unsafe_schema_name():
    with pytest.raises(m.ModelError, match="unsafe SQL identifier 'wh\"; drop'"):
        m.render_ddl("postgres", 'wh"; drop')


def test_spark_schema_follows_model_order_and_types():
    schema = m.spark_schema(m.DIM_EVENT_TYPE)
    assert [(f.name, f.dataType.simpleString(), f.nullable) for f in schema.fields] == [
        ("event_type", "string", False), ("sub_event_type", "string", False),
        ("disorder_type", "string", True), ("run_id", "string", False)]


def test_load_audit_is_not_exported():
    assert [t.name for t in m.EXPORTED] == [
        "dim_date", "dim_location", "dim_disaster_type", "dim_event_type",
        "fact_tweet", "fact_conflict_event", "fact_incident", "bridge_incident_tweet",
        "bridge_incident_corroboration", "review_queue"]
