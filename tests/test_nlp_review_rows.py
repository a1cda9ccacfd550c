"""train and the review loop: reviewer decisions in the lake become training-only labelled rows."""
from __future__ import annotations

import csv
import gzip
from datetime import datetime, timezone

import pandas as pd
import pytest
from crisislake.nlp import review_rows, train_job
from crisislake.nlp.tasks import get_task

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

TWEETS = [
    (1, "Flood water is rising fast in the town centre"),
    (2, "My phone battery died during the concert last night"),
    (3, "Bridge closed after the river burst its banks"),
    (4, "Shelter open at the school for families hit by the storm"),
    (6, "Strong earthquake shook the old city this morning"),
    (7, "Lo siento, no puedo ir a la fiesta esta noche con ustedes"),
]
# (decision_id, tweet_id, task, decision, label, model_label, decided_at hour)
DECISIONS = [
    ("a1", 1, "relevance", "confirm", "0", "0", 9),     # older ...
    ("a2", 1, "relevance", "relabel", "1", "0", 11),    # ... newer wins: 1
    ("b1", 2, "relevance", "reject", "1", "1", 10),     # binary reject of 1: 0
    ("c1", 3, "relevance", "relabel", "1", "0", 10),    # relabel: 1
    ("d1", 4, "relevance", "relabel", "maybe", "0", 10),  # not a relevance label: left out
    ("e1", 5, "relevance", "confirm", "1", "1", 10),    # tweet 5 has no text: left out
    ("f1", 7, "relevance", "confirm", "0", "0", 10),    # Spanish: a row, not trained on
    ("g1", 6, "disaster_type", "reject", "flood", "flood", 10),        # multi-class reject: not used
    ("h1", 3, "disaster_type", "confirm", "flood", "flood", 10),       # flood
    ("h2", 3, "disaster_type", "relabel", "hurricane", "flood", 8),    # older: loses to h1
    ("i1", 4, "disaster_type", "relabel", "blizzard", "flood", 10),    # not a disaster type
]


@pytest.fixture(scope="module")
def review_lake(spark, tmp_path_factory):
    """curated/tweets and enriched/review_decisions as Delta tables in a lake the tests only read."""
    from crisislake.config import load_config
    from crisislake.serve.sync_job import lake_schema

    lake = tmp_path_factory.mktemp("review_lake")
    config = load_config("local", lake_root=str(lake), overrides=["spark.shuffle_partitions=2"], environ={})
    spark.createDataFrame(TWEETS, "tweet_id long, text string").write.format("delta").save(
        config.table("curated", "tweets"))
    rows = [(d, t, task, dec, lab, model, "v1", "alice", T0.replace(hour=h), "run1")
            for d, t, task, dec, lab, model, h in DECISIONS]
    spark.createDataFrame(rows, lake_schema()).write.format("delta").save(config.table("enriched", "review_decisions"))
    return config


def _rows(df):
    return sorted((r["text"], r["label"], r["group"], r["source"]) for r in df.collect())


def test_review_rows_take_the_newest_decision_per_tweet_and_map_reject_for_binary_tasks(spark, review_lake):
    config = review_lake
    rows, counts = review_rows.read_review_rows(spark, config.table("enriched", "review_decisions"),
                                                config.table("curated", "tweets"), get_task("relevance"))

    group = ("review:relevance", "review")
    assert _rows(rows) == sorted([
        ("Flood water is rising fast in the town centre", "1", *group),
        ("My phone battery died during the concert last night", "0", *group),
        ("Bridge closed after the river burst its banks", "1", *group),
        ("Lo siento, no puedo ir a la fiesta esta noche con ustedes", "0", *group),
    ])
    assert counts == {"decisions": 7, "decided_tweets": 6, "rows": 4, "reject_not_usable": 0, "unknown_label": 1,
                      "no_text": 1}


def test_review_rows_of_a_multi_class_task_leave_out_rejects_and_unknown_labels(spark, review_lake):
    config = review_lake
    rows, counts = review_rows.read_review_rows(spark, config.table("enriched", "review_decisions"),
                                                config.table("curated", "tweets"), get_task("disaster_type"))

    assert _rows(rows) == [("Bridge closed after the river burst its banks", "flood", "review:disaster_type", "review")]
    assert counts == {"decisions": 4, "decided_tweets": 3, "rows": 1, "reject_not_usable": 1, "unknown_label": 1,
                      "no_text": 0}


def test_review_rows_are_skipped_when_the_lake_has_no_decisions(spark, config):
    rows, counts = review_rows.read_review_rows(spark, config.table("enriched", "review_decisions"),
                                                config.table("curated", "tweets"), get_task("relevance"))

    assert rows is None and counts == {"skipped": "no enriched/review_decisions table"}


def test_train_rows_add_review_rows_that_replace_the_bundled_copy_of_a_reviewed_text(spark, review_lake, tmp_path):
    bundled = tmp_path / "training"
    bundled.mkdir()
    crisislex = [
        ("RT @news: Bridge closed after the river burst its banks!", "0", "2013_river_floods"),  # reviewed: 1
        ("Sandbags handed out to residents along the river", "1", "2013_river_floods"),
        ("Great pizza at the new place downtown", "0", "2012_north_quake"),
    ]
    with gzip.open(bundled / "crisislex.csv.gz", "wt", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "relevant", "disaster_type", "event", "source"])
        for text, label, event in crisislex:
            writer.writerow([text, label, "flood", event, "crisislex_t26"])

    english, counts, _, resolved = train_job.english_training_rows(
        spark, review_lake, get_task("relevance"), use_extra=False, bundled_dir=bundled, use_reviews=True)
    actual = _rows(english)
    resolved.unpersist()

    review = ("review:relevance", "review")
    assert actual == sorted([
        ("Sandbags handed out to residents along the river", "1", "2013_river_floods", "crisislex_t26"),
        ("Great pizza at the new place downtown", "0", "2012_north_quake", "crisislex_t26"),
        ("Flood water is rising fast in the town centre", "1", *review),
        ("My phone battery died during the concert last night", "0", *review),
        ("Bridge closed after the river burst its banks", "1", *review),
    ])
    assert counts["rows_read"] == 3 and counts["unique_texts"] == 3 and counts["english_texts"] == 5
    assert counts["dropped_non_english"] == 1 and counts["review_rows"] == 3
    assert counts["review"] == {"decisions": 7, "decided_tweets": 6, "rows": 4, "reject_not_usable": 0,
                                "unknown_label": 1, "no_text": 1, "unique_texts": 4, "non_english": 1,
                                "replaced_bundled_texts": 1, "used": 3}


def test_linear_training_never_validates_on_review_rows():
    from crisislake.nlp import linear_training

    words = ["flood", "quake", "storm", "fire", "rescue", "shelter", "damage", "warning"]
    other = ["pizza", "movie", "song", "game", "coffee", "party", "phone", "shoes"]
    rows = []
    for event in ("e1", "e2", "e3"):
        rows += [(f"{w} {event} news today {i}", "1", event, "crisislex_t26") for i, w in enumerate(words)]
        rows += [(f"{w} {event} chat today {i}", "0", event, "crisislex_t26") for i, w in enumerate(other)]
    rows += [(f"reviewed {w} report {i}", "1", "review:relevance", "review") for i, w in enumerate(words)]
    frame = pd.DataFrame(rows, columns=["text", "label", "group", "source"])

    _, metrics = linear_training.train_linear(get_task("relevance"), frame, folds=4, refit=False)

    assert metrics["groups"]["review:relevance"] == -1
    assert sorted(metrics["groups"][g] for g in ("e1", "e2", "e3")) == [0, 1, 2]
    assert metrics["n"] == 16  # fold 0 holds one event's 16 rows; no review row is scored
