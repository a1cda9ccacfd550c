#!/usr/bin/env python3
"""Incidents on 2020PB: pairwise precision/recall of ``crisislake incidents`` (file contract path).

Ground truth: 2020PB incidents (``pb2020/all-locations-v2.json``) cite evidence tweet URLs; two
tweets citing one incident belong together. Tweet texts come from
``hrf_police/police_tweets_2020.csv`` by id (no created_at: the snowflake id gives the time).
All 6,059 tweets of that file go through the clustering (the uncited ones are distractors);
pairs are scored among the cited tweets only.

    .venv/bin/python bench/bench_incidents.py          # BENCH_SCALE is ignored: the data is small
"""
from __future__ import annotations

import collections
import csv
import itertools
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
DATA = Path(os.environ.get("CRISISLAKE_SHARED_DATA", ROOT.parent / "shared" / "data"))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def ground_truth():
    texts = {r["ids"]: r["text"] for r in csv.DictReader(open(DATA / "hrf_police" / "police_tweets_2020.csv", encoding="utf-8"))}
    incidents = json.loads((DATA / "pb2020" / "all-locations-v2.json").read_text(encoding="utf-8"))["data"]
    tweet_incidents = collections.defaultdict(set)
    for incident in incidents:
        for link in incident["links"]:
            m = re.search(r"twitter\.com/[^/]+/status(?:es)?/(\d+)", link["url"])
            if m and m.group(1) in texts:
                tweet_incidents[m.group(1)].add(incident["id"])
    cited = sorted(tweet_incidents)
    truth = {(a, b) for a, b in itertools.combinations(cited, 2) if tweet_incidents[a] & tweet_incidents[b]}
    return texts, cited, truth


def score(assigned: dict, cited: list, truth: set):
    predicted = {(a, b) for a, b in itertools.combinations(cited, 2) if assigned[a] == assigned[b]}
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    return precision, recall, len(predicted), tp


def main() -> int:
    from crisislake.config import load_config
    from crisislake.dedup.incidents import IncidentParams
    from crisislake.dedup.incidents_job import incidents_frame
    from crisislake.dedup.io import read_table_file
    from crisislake.session import build_spark

    texts, cited, truth = ground_truth()
    print(f"2020PB: {len(cited)} cited tweets with text, {len(truth)} true same-incident pairs, "
          f"{len(texts)} tweets clustered")
    config = load_config("local", overrides=["spark.driver_memory=3g", "spark.shuffle_partitions=4"])
    spark = build_spark(config.spark, app_name="bench-incidents")
    settings = [(0.2, 3.0), (0.15, 1.0), (0.1, 3.0)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "tweets.csv"
            with open(src, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["id", "text"])
                w.writerows(texts.items())
            df = read_table_file(spark, str(src)).cache()
            for min_j, hours in settings:
                start = time.time()
                out = incidents_frame(df, "id", "text", None, IncidentParams(min_jaccard=min_j, window_hours=hours))
                assigned = dict(out.collect())  # bench only: 6k rows
                took = time.time() - start
                p, r, n_pred, tp = score(assigned, cited, truth)
                default = " (default)" if (min_j, hours) == (IncidentParams.min_jaccard, IncidentParams.window_hours) else ""
                print(f"min_jaccard={min_j} window={hours}h{default}: pairwise precision {p:.3f} recall {r:.3f} "
                      f"({tp}/{n_pred} predicted pairs correct), {len(set(assigned.values()))} incidents, {took:.1f}s")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
