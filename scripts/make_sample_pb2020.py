#!/usr/bin/env python3
"""Build the sample's US 2020 slice from ``../shared/data`` (MIT, 2020PB and Human Rights First).

- ``data/sample/raw/reported_incidents/pb2020/all-locations-sample.json``: the 2020PB incidents
  of STATES, in 2020PB's own ``{"data": [...]}`` shape, plus its one "Unknown Location" incident
  (no city, no state: the ingest quarantines it).
- ``data/sample/raw/tweets/2020/05/29/00/pb2020-police-statuses.json``: the police tweets of
  ``hrf_police/police_tweets_2020.csv`` that those incidents cite (their ids and texts), as
  v1.1 statuses: ``created_at`` from the snowflake id, synthetic authors (no real handles).
  The incident list is not read to build the tweets beyond choosing which ids to include.

Rebuilding gives identical bytes: ``python scripts/make_sample_pb2020.py``.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SAMPLE = ROOT / "data" / "sample"
STATES = ("Colorado", "Ohio", "Florida")
TWITTER_EPOCH_MS = 1288834974657


def created_at(tweet_id: int) -> str:
    ms = (tweet_id >> 22) + TWITTER_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%a %b %d %H:%M:%S +0000 %Y")


def status(tweet_id: int, text: str) -> dict:
    author = int(hashlib.sha256(str(tweet_id).encode()).hexdigest()[:12], 16)
    return {"created_at": created_at(tweet_id), "id": tweet_id, "id_str": str(tweet_id), "text": text,
            "truncated": False, "lang": "en", "in_reply_to_status_id": None,
            "user": {"id": author, "id_str": str(author), "screen_name": f"pb_user_{author % 100000}",
                     "name": "Sample account", "location": None},
            "entities": {"hashtags": [{"text": h} for h in re.findall(r"#(\w+)", text)], "urls": [],
                         "user_mentions": [{"screen_name": m} for m in re.findall(r"@(\w+)", text)]},
            "place": None, "coordinates": None}


def main() -> int:
    incidents = json.loads((DATA / "pb2020" / "all-locations-v2.json").read_text(encoding="utf-8"))["data"]
    kept = [i for i in incidents if i["state"] in STATES or i["state"] == "Unknown Location"]
    texts = {r["ids"]: r["text"] for r in csv.DictReader(open(DATA / "hrf_police" / "police_tweets_2020.csv", encoding="utf-8"))}
    cited = sorted({m.group(1) for i in kept for link in i["links"]
                    for m in [re.search(r"twitter\.com/[^/]+/status(?:es)?/(\d+)", link["url"])] if m and m.group(1) in texts},
                   key=int)
    out = SAMPLE / "raw" / "reported_incidents" / "pb2020" / "all-locations-sample.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"data": kept}, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    tweets = SAMPLE / "raw" / "tweets" / "2020" / "05" / "29" / "00" / "pb2020-police-statuses.json"
    tweets.parent.mkdir(parents=True, exist_ok=True)
    tweets.write_text("".join(json.dumps(status(int(t), texts[t]), ensure_ascii=False) + "\n" for t in cited), encoding="utf-8")
    for src, name in ((DATA / "pb2020" / "LICENSE", "LICENSE-2020PB"), (DATA / "hrf_police" / "LICENSE", "LICENSE-HumanRightsFirst")):
        (SAMPLE / name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"{len(kept)} incidents -> {out}\n{len(cited)} tweets -> {tweets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
