"""`crisislake sync-reviews`: warehouse decisions copied into enriched/review_decisions, exactly once."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from serve_fixtures import Warehouse

pytest.importorskip("psycopg")
UTC = timezone.utc

DECISIONS = [
    ("d1", 104, "relevance", "confirm", "1", "1", "v2", "alice", datetime(2026, 2, 1, 10, 0, tzinfo=UTC)),
    ("d2", 106, "disaster_type", "relabel", "hurricane", "flood", "v2", "bob", datetime(2026, 2, 1, 11, 0, tzinfo=UTC)),
]


@pytest.fixture()
def wh(pg_url):
    warehouse = Warehouse(pg_url)
    yield warehouse
    warehouse.drop()


def insert(wh, rows):
    for row in rows:
        wh.query("INSERT INTO {s}.review_decisions VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)", row)


def lake_rows(spark, config):
    df = spark.read.format("delta").load(config.table("enriched", "review_decisions"))
    return sorted((r.decision_id, r.tweet_id, r.task, r.decision, r.label, r.reviewer,
                   r.decided_at.replace(tzinfo=UTC)) for r in df.collect())


def test_sync_copies_decisions_once_and_then_only_new_ones(spark, lake, pg_url, wh):
    from crisislake.config import load_config
    from crisislake.serve.sync_job import sync_reviews

    config = load_config("local", lake_root=lake, environ={}, overrides=[
        f"warehouse.postgres_url={pg_url}", f"warehouse.schema={wh.schema}", "spark.shuffle_partitions=2"])
    insert(wh, DECISIONS)

    first = sync_reviews(spark, config, "run-1")
    insert(wh, [("d3", 105, "police_force", "reject", "1", "1", "v2", "alice",
                 datetime(2026, 2, 1, 10, 30, tzinfo=UTC))])  # committed later, decided earlier
    later = sync_reviews(spark, config, "run-2")

    assert (first["read"], first["inserted"], first["since"]) == (2, 2, "all")
    # the window starts an hour before the newest decision in the lake: d1 and d2 again (not
    # duplicated) and d3, decided before d2 but committed after the first sync
    assert (later["read"], later["inserted"], later["since"]) == (3, 1, "2026-02-01T10:00:00+00:00")
    assert lake_rows(spark, config) == [
        ("d1", 104, "relevance", "confirm", "1", "alice", datetime(2026, 2, 1, 10, 0, tzinfo=UTC)),
        ("d2", 106, "disaster_type", "relabel", "hurricane", "bob", datetime(2026, 2, 1, 11, 0, tzinfo=UTC)),
        ("d3", 105, "police_force", "reject", "1", "alice", datetime(2026, 2, 1, 10, 30, tzinfo=UTC)),
    ]


def test_sync_without_a_warehouse_url_is_skipped(spark, config):
    from crisislake.serve.sync_job import sync_reviews

    assert "skipped" in sync_reviews(spark, config, "run-1")
