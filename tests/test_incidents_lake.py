"""``incidents`` and ``corroborate`` in lake mode: curated/tweets (with its ``urls`` column) in,
placed incidents with evidence and corroboration out."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from crisislake.config import load_config
from crisislake.dedup.incidents.reported_job import ingest_reported
from crisislake.pipeline import run_as_step
from crisislake.warehouse.export_job import TWEETS_SCHEMA

DENVER = [
    (1266001, "2020-05-30 22:00", "Denver police fire tear gas at protesters near the Colorado State Capitol"),
    (1266002, "2020-05-30 22:10", "Police fire tear gas at protesters near the State Capitol in Denver tonight"),
    (1266003, "2020-05-30 22:25", "Tear gas fired by Denver police at protesters outside the Colorado Capitol"),
]
OTHER = (1266004, "2020-05-30 22:15", "Flash flood warning for Miami Dade county until midnight")


def tweet_row(tweet_id, when, text):
    created = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    return (tweet_id, created, text, "en", 7, "someone", None, None, None, [], ["https://example.org/a"], [],
            None, None, None, None, "raw/x.json", 1, created, "r0")


def test_lake_incidents_are_placed_with_evidence_and_corroborated(spark, tmp_path):
    config = load_config("local", lake_root=str(tmp_path / "lake"), overrides=["spark.shuffle_partitions=2"],
                         environ={})
    rows = [tweet_row(*t) for t in DENVER + [OTHER]]
    spark.createDataFrame(rows, TWEETS_SCHEMA).write.format("delta").save(config.table("curated", "tweets"))
    raw = tmp_path / "reported"
    raw.mkdir()
    (raw / "list.json").write_text(json.dumps({"data": [{
        "id": "co-denver-1", "date": "2020-05-30", "city": "Denver", "state": "Colorado",
        "geolocation": "39.7392, -104.9903", "name": "Tear gas at the Capitol",
        "description": "Police tear gas protesters.", "links": [], "tags": ["tear-gas"]}]}, indent=1))
    ingest_reported(spark, config, "r1", str(raw))

    counts = run_as_step(spark, config, "incidents", "r1")
    corroborated = run_as_step(spark, config, "corroborate", "r1")

    assert counts["tweets"] == 4 and counts["incidents"] == 2, counts
    incidents = spark.read.format("delta").load(config.table("enriched", "incidents"))
    denver = incidents.where("n_reports = 3").collect()
    assert len(denver) == 1, corroborated
    (inc,) = denver
    assert inc.admin1_pcode == "US08" and abs(inc.latitude - 39.74) < 0.1 and abs(inc.longitude + 104.99) < 0.1
    assert inc.corroborated and inc.reported_incident_ids == ["co-denver-1"]
    evidence = spark.read.format("delta").load(config.table("enriched", "incident_tweets")).where(
        f"incident_id = '{inc.incident_id}'").collect()
    assert sorted((e.tweet_id, e.tweet_url) for e in evidence) == [
        (t, f"https://twitter.com/i/web/status/{t}") for t, _, _ in DENVER]
    assert [e.tweet_id for e in evidence if e.is_canonical] == [1266001]
