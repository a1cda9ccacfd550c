#!/usr/bin/env python3
"""Build ``data/sample/raw/tweets/`` deterministically from real CrisisLex tweet texts (MIT).

Real texts and ids (CrisisLexT26 / T6, Olteanu et al.; github.com/sajao/CrisisLex, MIT) wrapped
in the shapes tweet dumps arrive in: Twitter API v1.1 status lines (plain and gzip), v2 search
responses, a Firehose file (objects concatenated with no separator), a flat CSV export, and a
few deliberately bad records: broken JSON, a status with no id, one with no text, one with an
unparseable date, and a gzip file whose last member is truncated. Authors, places and
coordinates are synthetic (derived from the tweet id), so no real account is named.

    python scripts/make_sample_tweets.py                 # writes data/sample/raw/tweets
    python scripts/make_sample_tweets.py --out /tmp/x    # elsewhere

The status builder (:func:`v1_status`) is also what ``bench/bench_ingest_tweets.py`` uses to
generate a million realistic, multi-KB v1.1 tweets.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "crisislex"
TWITTER_EPOCH_MS = 1288834974657
PLACES = [
    ("US", "United States", "Boulder, CO", 40.015, -105.2705),
    ("US", "United States", "Boston, MA", 42.3601, -71.0589),
    ("PH", "Republic of the Philippines", "Manila, National Capital Region", 14.5995, 120.9842),
    ("AU", "Australia", "Brisbane, Queensland", -27.4698, 153.0251),
    ("GB", "United Kingdom", "London, England", 51.5074, -0.1278),
    ("IT", "Italy", "Modena, Emilia Romagna", 44.6471, 10.9252),
    ("CA", "Canada", "Calgary, Alberta", 51.0447, -114.0719),
    ("VE", "Venezuela", "Caracas, Distrito Capital", 10.4806, -66.9036),
]
SOURCES = [
    '<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>',
    '<a href="http://twitter.com/download/android" rel="nofollow">Twitter for Android</a>',
    '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
]


def twitter_date(tweet_id: int) -> str:
    """The v1.1 ``created_at`` a snowflake id encodes, e.g. ``Wed Oct 10 20:19:24 +0000 2018``."""
    ms = (tweet_id >> 22) + TWITTER_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%a %b %d %H:%M:%S +0000 %Y")


def iso_date(tweet_id: int) -> str:
    ms = (tweet_id >> 22) + TWITTER_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _h(value: object, mod: int) -> int:
    return int(hashlib.sha256(str(value).encode()).hexdigest()[:12], 16) % mod


def fake_user(seed: int) -> Dict[str, object]:
    """A synthetic but complete v1.1 user object (real ones are ~1.5 KB of profile fields)."""
    uid = 10_000_000 + _h(("user", seed), 900_000_000)
    handle = f"crisis_user_{_h(('handle', seed), 100000):05d}"
    return {
        "id": uid, "id_str": str(uid), "name": f"Sample Reporter {seed % 997}", "screen_name": handle,
        "location": PLACES[seed % len(PLACES)][2], "url": None,
        "description": "Synthetic account for crisislake sample data. Posts about weather, "
                       "emergencies and local news. Opinions are not real.",
        "translator_type": "none", "protected": False, "verified": False,
        "followers_count": _h(("f", seed), 50000), "friends_count": _h(("fr", seed), 3000),
        "listed_count": _h(("l", seed), 200), "favourites_count": _h(("fav", seed), 90000),
        "statuses_count": _h(("s", seed), 120000), "created_at": "Mon Mar 02 10:11:12 +0000 2009",
        "utc_offset": None, "time_zone": None, "geo_enabled": True, "lang": None,
        "contributors_enabled": False, "is_translator": False,
        "profile_background_color": "C0DEED",
        "profile_background_image_url": "http://abs.twimg.com/images/themes/theme1/bg.png",
        "profile_background_image_url_https": "https://abs.twimg.com/images/themes/theme1/bg.png",
        "profile_background_tile": False, "profile_link_color": "1DA1F2",
        "profile_sidebar_border_color": "C0DEED", "profile_sidebar_fill_color": "DDEEF6",
        "profile_text_color": "333333", "profile_use_background_image": True,
        "profile_image_url": f"http://pbs.twimg.com/profile_images/{uid}/avatar_normal.jpg",
        "profile_image_url_https": f"https://pbs.twimg.com/profile_images/{uid}/avatar_normal.jpg",
        "profile_banner_url": f"https://pbs.twimg.com/profile_banners/{uid}/1500000000",
        "default_profile": True, "default_profile_image": False,
        "following": None, "follow_request_sent": None, "notifications": None,
    }


def _entities(text: str) -> Dict[str, list]:
    words = text.split()
    hashtags, urls, mentions = [], [], []
    for word in words:
        start = text.find(word)
        if word.startswith("#") and len(word) > 1:
            tag = word[1:].strip(".,:;!?")
            hashtags.append({"text": tag, "indices": [start, start + len(tag) + 1]})
        elif word.startswith("@") and len(word) > 1:
            name = word[1:].strip(".,:;!?")
            mentions.append({"screen_name": name, "name": name, "id": _h(name, 10**9), "id_str": str(_h(name, 10**9)),
                             "indices": [start, start + len(name) + 1]})
        elif word.startswith("http"):
            urls.append({"url": word, "expanded_url": f"https://example.org/story/{_h(word, 10**6)}",
                         "display_url": f"example.org/story/{_h(word, 10**6)}", "indices": [start, start + len(word)]})
    return {"hashtags": hashtags, "urls": urls, "user_mentions": mentions, "symbols": []}


def escape_html(text: str) -> str:
    """Twitter's v1.1/v2 ``text`` escapes ``&``, ``<`` and ``>`` (the ingest job undoes it)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def v1_status(
    tweet_id: int,
    text: str,
    seed: int,
    retweet_of: Optional[Dict[str, object]] = None,
    extended: bool = False,
    with_place: bool = False,
    reply_to: Optional[int] = None,
) -> Dict[str, object]:
    """A realistic v1.1 status object (3-5 KB serialised, like real ones)."""
    user = fake_user(seed)
    body = escape_html(text)
    status: Dict[str, object] = {
        "created_at": twitter_date(tweet_id), "id": tweet_id, "id_str": str(tweet_id),
        "text": body, "source": SOURCES[seed % len(SOURCES)], "truncated": False,
        "in_reply_to_status_id": reply_to, "in_reply_to_status_id_str": str(reply_to) if reply_to else None,
        "in_reply_to_user_id": None, "in_reply_to_user_id_str": None, "in_reply_to_screen_name": None,
        "user": user, "geo": None, "coordinates": None, "place": None, "contributors": None,
        "is_quote_status": False, "quote_count": 0, "reply_count": _h(("r", tweet_id), 20),
        "retweet_count": _h(("rt", tweet_id), 500), "favorite_count": _h(("fv", tweet_id), 900),
        "entities": _entities(text), "favorited": False, "retweeted": False,
        "filter_level": "low", "lang": "en", "timestamp_ms": str((tweet_id >> 22) + TWITTER_EPOCH_MS),
    }
    if extended and len(body) > 60:
        status["truncated"] = True
        status["text"] = body[:60].rstrip() + "\u2026 https://t.co/more"
        status["display_text_range"] = [0, 62]
        status["extended_tweet"] = {"full_text": body, "display_text_range": [0, len(body)],
                                    "entities": _entities(text)}
        status["entities"] = _entities(status["text"])
    if retweet_of is not None:
        status["retweeted_status"] = retweet_of
        rt_text = retweet_of.get("extended_tweet", {}).get("full_text", retweet_of["text"])
        status["text"] = f"RT @{retweet_of['user']['screen_name']}: {rt_text}"[:140]
        status["entities"] = _entities(status["text"])
    if with_place:
        code, country, full_name, lat, lon = PLACES[seed % len(PLACES)]
        status["place"] = {
            "id": hashlib.md5(full_name.encode()).hexdigest()[:16], "url": "https://api.twitter.com/1.1/geo/id/x.json",
            "place_type": "city", "name": full_name.split(",")[0], "full_name": full_name,
            "country_code": code, "country": country,
            "bounding_box": {"type": "Polygon", "coordinates": [[[lon - 0.1, lat - 0.1], [lon + 0.1, lat - 0.1],
                                                                   [lon + 0.1, lat + 0.1], [lon - 0.1, lat + 0.1]]]},
            "attributes": {},
        }
        status["coordinates"] = {"type": "Point", "coordinates": [round(lon + (seed % 7) * 0.01, 5),
                                                                  round(lat + (seed % 5) * 0.01, 5)]}
        status["geo"] = {"type": "Point", "coordinates": status["coordinates"]["coordinates"][::-1]}
    return status


def v2_response(tweets: List[Tuple[int, str, int]]) -> Dict[str, object]:
    """A v2 search response: ``data`` + ``includes.users`` + ``meta``; long texts as ``note_tweet``."""
    data, users = [], {}
    for tweet_id, text, seed in tweets:
        user = fake_user(seed)
        users[user["id_str"]] = {"id": user["id_str"], "username": user["screen_name"], "name": user["name"]}
        item = {"id": str(tweet_id), "text": escape_html(text), "created_at": iso_date(tweet_id),
                "author_id": user["id_str"], "lang": "en", "conversation_id": str(tweet_id),
                "edit_history_tweet_ids": [str(tweet_id)],
                "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0}}
        ents = _entities(text)
        item["entities"] = {"hashtags": [{"start": h["indices"][0], "end": h["indices"][1], "tag": h["text"]}
                                         for h in ents["hashtags"]],
                            "mentions": [{"start": m["indices"][0], "end": m["indices"][1], "username": m["screen_name"]}
                                         for m in ents["user_mentions"]],
                            "urls": [{"start": u["indices"][0], "end": u["indices"][1], "url": u["url"],
                                      "expanded_url": u["expanded_url"], "display_url": u["display_url"]}
                                     for u in ents["urls"]]}
        if len(text) > 100:  # a "long post": text cut, full text in note_tweet
            item["text"] = escape_html(text[:100]) + "\u2026"
            item["note_tweet"] = {"text": escape_html(text)}
        data.append(item)
    newest = max(t[0] for t in tweets)
    oldest = min(t[0] for t in tweets)
    return {"data": data, "includes": {"users": list(users.values())},
            "meta": {"newest_id": str(newest), "oldest_id": str(oldest), "result_count": len(data)}}


def load_texts(name: str, limit: int, skip: int = 0) -> List[Tuple[int, str]]:
    """(tweet_id, text) from a CrisisLex CSV, unescaped (the dumps re-escape them)."""
    out: List[Tuple[int, str]] = []
    with gzip.open(SHARED / name, "rt", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i < skip:
                continue
            text = row["tweet_text"].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").strip()
            if not text or not row["tweet_id"].isdigit():
                continue
            out.append((int(row["tweet_id"]), text))
            if len(out) >= limit:
                break
    return out


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def build(out: Path) -> Dict[str, int]:
    """Write the sample files under ``out``; return what each holds (for the README/tests)."""
    rng = random.Random(20130415)
    pool = load_texts("crisislexT26.csv.gz", 720, skip=0)
    rng.shuffle(pool)
    v1_plain, v1_gz, firehose, v2, trunc = pool[:150], pool[150:250], pool[250:350], pool[350:430], pool[430:480]
    csv_rows = load_texts("crisislexT6.csv.gz", 150, skip=1000)
    written: Dict[str, int] = {}

    def statuses(rows: List[Tuple[int, str]], base_seed: int) -> List[Dict[str, object]]:
        result = []
        for i, (tid, text) in enumerate(rows):
            seed = base_seed + i
            retweet = None
            if i % 10 == 3 and i > 0:  # every tenth a retweet of an earlier status in the file
                orig_id, orig_text = rows[i - 1]
                retweet = v1_status(orig_id, orig_text, seed + 5000, extended=True)
            result.append(v1_status(tid, text, seed, retweet_of=retweet, extended=i % 4 == 1,
                                    with_place=i % 5 == 0, reply_to=rows[i - 2][0] if i % 9 == 4 else None))
        return result

    day = out / "2013" / "04" / "15"
    (day / "18").mkdir(parents=True, exist_ok=True)
    (day / "19").mkdir(parents=True, exist_ok=True)
    (day / "20").mkdir(parents=True, exist_ok=True)
    (out / "exports").mkdir(parents=True, exist_ok=True)

    lines = [_dumps(s) for s in statuses(v1_plain, 1)]
    (day / "18" / "v1-statuses.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    written["18/v1-statuses.json"] = len(lines)

    lines = [_dumps(s) for s in statuses(v1_gz, 1000)]
    (day / "19" / "v1-statuses.json.gz").write_bytes(_gzip(("\n".join(lines) + "\n").encode("utf-8")))
    written["19/v1-statuses.json.gz"] = len(lines)

    # Firehose: 4 lines of 25 objects with no separator between objects.
    objs = [_dumps(s) for s in statuses(firehose, 2000)]
    text = "\n".join("".join(objs[i:i + 25]) for i in range(0, len(objs), 25))
    (day / "19" / "firehose-batch.json").write_text(text, encoding="utf-8")
    written["19/firehose-batch.json"] = len(objs)

    # v2: 4 responses of 20 tweets; the first response repeats 20 tweets of v1-statuses.json
    # (same ids) so the same tweet arrives in both API versions.
    pages = [v1_plain[:20]] + [v2[i:i + 20] for i in range(0, 60, 20)]
    lines = [_dumps(v2_response([(tid, txt, 1 + v1_plain.index((tid, txt)) if (tid, txt) in v1_plain else 3000 + j)
                                  for j, (tid, txt) in enumerate(page)])) for page in pages]
    (day / "20" / "v2-search.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    written["20/v2-search.json"] = sum(len(p) for p in pages)

    # A gzip file of two members whose second member is cut short (a crashed writer).
    first = [_dumps(s) for s in statuses(trunc[:30], 4000)]
    second = [_dumps(s) for s in statuses(trunc[30:], 4100)]
    member2 = _gzip(("\n".join(second) + "\n").encode("utf-8"))
    data = _gzip(("\n".join(first) + "\n").encode("utf-8")) + member2[: len(member2) // 2]
    (day / "20" / "firehose-truncated.json.gz").write_bytes(data)
    written["20/firehose-truncated.json.gz (complete lines)"] = 30

    # Deliberately malformed records, one per line.
    good = v1_status(1 << 60, "placeholder", 1)
    no_id = dict(good, text="Flood waters rising on Main St, stay away", id=None, id_str=None)
    no_text = dict(good, id=323470380069203968, id_str="323470380069203968", text=None)
    bad_date = dict(good, id=323470380069203969, id_str="323470380069203969",
                    text="Explosion reported near the finish line", created_at="yesterday at noon")
    broken = _dumps(dict(good, id=323470380069203970, id_str="323470380069203970"))[:180]
    bad = [broken, _dumps(no_id), _dumps(no_text), _dumps(bad_date)]
    (day / "20" / "malformed.json").write_text("\n".join(bad) + "\n", encoding="utf-8")
    written["20/malformed.json"] = len(bad)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["tweet_id", "tweet_text", "label"])
    for tid, text in csv_rows:
        writer.writerow([tid, escape_html(text), "sample"])
    (out / "exports" / "crisislex_t6_sample.csv").write_text(buf.getvalue(), encoding="utf-8")
    written["exports/crisislex_t6_sample.csv"] = len(csv_rows)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "data" / "sample" / "raw" / "tweets"))
    args = parser.parse_args()
    written = build(Path(args.out))
    for name, n in written.items():
        print(f"{n:5d}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
