#!/usr/bin/env python3
"""A realistic near-duplicate set built from real tweets: seeded, reproducible, split by event.

Every tweet of the set belongs to exactly one *source* (a real tweet, or a hard negative made
from real tweets, below); the true pairs are the pairs of tweets with the same source, every other
pair is a negative. How it is built (``docs/dedup.md`` says the same in prose):

1. **Source pools, split by event.** ``tune``: the six CrisisLexT6 events (the set every dedup
   setting was chosen on). ``heldout``: the 22 CrisisLexT26 events that are not T6 events, the
   HRF police tweets of 2020 and the Kaggle disaster tweets (grouped by keyword): other tweets,
   other events, other years. Texts come from ``../shared/data`` (``CRISISLAKE_SHARED_DATA``).
2. **Distinct sources.** Within each event, tweets are taken in a seeded random order and one is
   kept when its *content tokens* (normalised, hashtag signs, punctuation and emoji dropped) number
   at least 5 and, against every source already kept, both sides have at least 3 content tokens,
   and a quarter of their own, that the other lacks (hashtags and mentions do not count). So two kept sources are never one tweet and its edit, retweet or extension
   (such pairs in the raw data are ambiguous and left out), but real tweets that share much text
   and each add their own news stay in: they are the *real hard negatives*.
3. **Constructed hard negatives** (each a new source, made from real texts of the same event):
   ``number`` (a template tweet with other numbers: "4 dead" / "9 dead"), ``span`` (the same
   frame with a quarter of its words, at least three, taken from another tweet), ``comment``
   (the same link and headline under different comments: "<comment> <headline> <url>") and
   ``rt_news`` (many sources retweeted from the same few accounts: "RT @x: <different news>").
4. **Variants** of every source: 0 to 19 more copies (65% of sources get some; geometric, mean
   about 3 when any), each with one to three edits drawn from: retweet prefix (``RT @user:``,
   ``MT @user:``, with Twitter's 140-character cut and "…"), t.co link swapped / added /
   removed, hashtags added / removed / un-hashed, mentions added / removed / ``via @user``, a
   manual truncation of a text of 60+ characters to 50-95% of it (40+ characters) with "..." or "…" (sometimes a link after it), case
   changes (lower, upper, first letter), emoji added / removed, and spacing / exclamation marks.

    .venv/bin/python bench/dedup_variants.py tune /tmp/tune.csv.gz   # id, text, source, event, kind
"""
from __future__ import annotations

import csv
import gzip
import os
import random
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
DATA = Path(os.environ.get("CRISISLAKE_SHARED_DATA", ROOT.parent / "shared" / "data"))

SEED = 20240522
T6_EVENTS_IN_T26 = {"2013_Queensland_floods", "2013_Alberta_floods", "2013_Boston_bombings",
                    "2013_West_Texas_explosion"}
SOURCES_PER_EVENT = {"tune": 700, "heldout": 320}
MIN_TOKENS, MIN_UNIQUE, UNIQUE_SHARE = 5, 3, 0.25
EMOJI = ["🙏", "😢", "💔", "🔥", "❤️", "😱", "🌊", "🚨", "👍", "😡", "🇺🇸", "🙏🏽"]
EMOJI_RE = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\U0001F1E6-\U0001F1FF]")
COMMENTS_MIN_WORDS = 5
MIN_TRUNCATED_FROM, MIN_TRUNCATED_TO = 60, 40  # only texts of 60+ characters are cut, to 40+


# ------------------------------------------------------------------------------------ sources

def _read_csv(path: Path, text_col: str, group) -> Iterator[Tuple[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            yield group(row), row[text_col]


def source_pool(split: str) -> Dict[str, List[str]]:
    """Raw texts per event for one side of the split (never the same event on both sides)."""
    groups: Dict[str, List[str]] = defaultdict(list)
    if split == "tune":
        rows = _read_csv(DATA / "crisislex" / "crisislexT6.csv.gz", "tweet_text", lambda r: "t6:" + r["event"])
    elif split == "heldout":
        t26 = [(e, t) for e, t in _read_csv(DATA / "crisislex" / "crisislexT26.csv.gz", "tweet_text",
                                            lambda r: r["event"]) if e not in T6_EVENTS_IN_T26]
        police = _read_csv(DATA / "hrf_police" / "police_tweets_2020.csv", "text", lambda r: "hrf_police_2020")
        kaggle = _read_csv(DATA / "kaggle_disaster" / "train.csv", "text",
                           lambda r: "kaggle:" + (r["keyword"] or "none").split("%20")[0][:4])
        rows = [("t26:" + e, t) for e, t in t26] + list(police) + list(kaggle)
    else:
        raise ValueError(f"split must be tune or heldout, got {split!r}")
    for event, text in rows:
        if text and text.strip():
            groups[event].append(text)
    return dict(groups)


def content_tokens(text: str) -> List[str]:
    """Words that carry the news: normalised (no links, mentions, retweet prefix), no hashtags,
    punctuation or emoji."""
    from crisislake.dedup.normalize import normalize_py

    return [t for t in re.split(r"[^0-9a-zà-ÿ]+", re.sub(r"#\S+", " ", normalize_py(text))) if t]


def _unique_enough(own: int, shared: int) -> bool:
    """At least MIN_UNIQUE content tokens and a quarter of them not in the other text."""
    return own - shared >= max(MIN_UNIQUE, UNIQUE_SHARE * own)


class SourceIndex:
    """The sources kept so far (over a whole side of the split, every event): a text is *distinct*
    when, against each of them, both sides keep enough content tokens of their own."""

    def __init__(self):
        self.tokens: List[set] = []
        self.index: Dict[str, List[int]] = defaultdict(list)

    def distinct(self, text: str) -> bool:
        tokens = set(content_tokens(text))
        if len(tokens) < MIN_TOKENS:
            return False
        shared: Dict[int, int] = defaultdict(int)
        for tok in tokens:
            for k in self.index[tok]:
                shared[k] += 1
        return all(_unique_enough(len(tokens), n) and _unique_enough(len(self.tokens[k]), n)
                   for k, n in shared.items())

    def add(self, text: str) -> None:
        tokens = set(content_tokens(text))
        for tok in tokens:
            self.index[tok].append(len(self.tokens))
        self.tokens.append(tokens)

    def take(self, text: str) -> bool:
        """Add ``text`` when it is distinct; whether it was."""
        if not self.distinct(text):
            return False
        self.add(text)
        return True


def distinct_sources(texts: Sequence[str], limit: int, rng: random.Random, kept: SourceIndex) -> List[str]:
    """Up to ``limit`` texts, in a seeded random order, each distinct from every source kept."""
    order = list(range(len(texts)))
    rng.shuffle(order)
    out: List[str] = []
    for i in order:
        if kept.take(texts[i]):
            out.append(texts[i])
            if len(out) >= limit:
                break
    return out


# ------------------------------------------------------------------------------ hard negatives

_NUM = re.compile(r"(?<![\w/#@.])\d+(?![\w/])")


def number_sibling(text: str, rng: random.Random) -> str:
    """The same template with other numbers ("4 dead" -> "9 dead"); "" when it has none."""
    if not _NUM.search(text):
        return ""
    return _NUM.sub(lambda m: str(int(m.group()) + rng.randint(1, 9) * (1 if rng.random() < 0.7 else 10)), text)


def span_sibling(text: str, donor: str, rng: random.Random) -> str:
    """``text`` with a quarter of its words (>= 3) replaced by words of ``donor``; "" if too short."""
    words, other = text.split(), [w for w in donor.split() if not w.startswith(("http", "@", "RT"))]
    k = max(3, round(len(words) * 0.25))
    if len(words) < 10 or len(other) < k:
        return ""
    # in the first 60% of the text, so that a truncated copy still shows the difference
    at, take = rng.randrange(0, max(int(len(words) * 0.6) - k, 0) + 1), rng.randrange(0, len(other) - k + 1)
    return " ".join(words[:at] + other[take:take + k] + words[at + k:])


def strip_links(text: str) -> str:
    return re.sub(r"\s*https?://\S+", "", text).strip()


def comment_family(headline: str, comments: Sequence[str], rng: random.Random) -> List[str]:
    """Different comments over the same headline and link: "<comment>: <headline> <url>"."""
    words = strip_links(headline).split()
    title = " ".join(words[: rng.randint(8, 14)])
    url = _tco(rng)
    out = []
    for c in comments:
        cw = strip_links(c).split()
        if len(cw) >= COMMENTS_MIN_WORDS:
            out.append(f"{' '.join(cw[:rng.randint(COMMENTS_MIN_WORDS, 9)])}: {title} {url}")
    return out if len(out) >= 2 else []


# ------------------------------------------------------------------------------------ variants

def _tco(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    scheme = "https" if rng.random() < 0.6 else "http"
    return f"{scheme}://t.co/{''.join(rng.choice(alphabet) for _ in range(10 if scheme == 'https' else 8))}"


def _handle(rng: random.Random) -> str:
    stems = ["news", "weather", "alert", "daily", "info", "report", "updates", "live", "wire", "now"]
    return f"@{rng.choice(['', 'the', 'my', 'real'])}{rng.choice(stems)}{rng.randrange(1, 999)}"


def _truncate(text: str, keep: float, mark: str) -> str:
    cut = max(1, int(len(text) * keep))
    return text[:cut].rstrip() + mark


def _retweet(text: str, handles: Sequence[str], rng: random.Random) -> str:
    prefix = "MT" if rng.random() < 0.1 else "RT"
    out = f"{prefix} {rng.choice(handles)}: {text}"
    return out if len(out) <= 140 else out[:139].rstrip() + "…"


def _hashtags(text: str, tags: Sequence[str], rng: random.Random) -> str:
    mode = rng.random()
    existing = re.findall(r"#\w+", text)
    if mode < 0.5 or not existing:
        added = " ".join(rng.sample(list(tags), min(len(tags), rng.randint(1, 3))))
        return f"{added} {text}" if rng.random() < 0.15 else f"{text} {added}"
    if mode < 0.75:
        return re.sub(r"\s*" + re.escape(rng.choice(existing)) + r"\b", "", text, count=1).strip()
    return text.replace("#", "", 1)


def _mentions(text: str, handles: Sequence[str], rng: random.Random) -> str:
    mode = rng.random()
    if mode < 0.4:
        return f"{rng.choice(handles)} {text}"
    if mode < 0.7:
        return f"{text} via {rng.choice(handles)}"
    if re.search(r"@\w+", text):
        return re.sub(r"\s*@\w+:?", "", text, count=1).strip()
    return f"{text} {rng.choice(handles)}"


def _links(text: str, rng: random.Random) -> str:
    links = re.findall(r"https?://\S+", text)
    if links and rng.random() < 0.6:
        return text.replace(rng.choice(links), _tco(rng))
    if links and rng.random() < 0.5:
        return strip_links(text)
    return f"{text} {_tco(rng)}"


def _case_emoji(text: str, rng: random.Random) -> str:
    mode = rng.random()
    if mode < 0.2:
        return text.upper()
    if mode < 0.35:
        return text.lower()
    if mode < 0.45:
        return text[:1].swapcase() + text[1:]
    if mode < 0.6 and EMOJI_RE.search(text):
        return EMOJI_RE.sub("", text)
    emoji = "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3)))
    return f"{emoji} {text}" if rng.random() < 0.3 else (f"{text} {emoji}" if rng.random() < 0.6 else f"{text}{emoji}")


def _spacing(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return re.sub(" ", "  ", text, count=rng.randint(1, 3))
    return text.rstrip(".!") + rng.choice(["!", "!!", "!!!", " !"])


EDITS = ("retweet", "link", "hashtag", "mention", "truncate", "case_emoji", "spacing")
EDIT_WEIGHTS = (0.30, 0.22, 0.18, 0.10, 0.16, 0.14, 0.05)


def variant(text: str, tags: Sequence[str], handles: Sequence[str], rng: random.Random) -> Tuple[str, str]:
    """One edited copy of ``text`` and the names of its edits (retweet last, as on Twitter)."""
    edits = set(rng.choices(EDITS, weights=EDIT_WEIGHTS, k=rng.choice((1, 1, 2, 2, 3))))
    out = text
    for edit in EDITS:
        if edit not in edits or edit == "retweet":
            continue
        if edit == "link":
            out = _links(out, rng)
        elif edit == "hashtag":
            out = _hashtags(out, tags, rng)
        elif edit == "mention":
            out = _mentions(out, handles, rng)
        elif edit == "truncate":
            body = strip_links(out)
            if len(body) >= MIN_TRUNCATED_FROM:
                keep = max(rng.uniform(0.5, 0.95), MIN_TRUNCATED_TO / len(body))
                out = _truncate(body, keep, rng.choice(["...", "…", "…"]))
                if rng.random() < 0.5:
                    out += " " + _tco(rng)
        elif edit == "case_emoji":
            out = _case_emoji(out, rng)
        elif edit == "spacing":
            out = _spacing(out, rng)
    if "retweet" in edits:
        out = _retweet(out, handles, rng)
    return out, "+".join(sorted(edits))


def n_variants(rng: random.Random) -> int:
    """Copies of a source besides itself: none for 35%, else geometric (mean ~3), at most 19."""
    if rng.random() < 0.35:
        return 0
    n = 1
    while n < 19 and rng.random() < 0.67:
        n += 1
    return n


# --------------------------------------------------------------------------------- the set

def event_tags(texts: Sequence[str]) -> List[str]:
    counts: Dict[str, int] = defaultdict(int)
    for t in texts:
        for tag in re.findall(r"#\w+", t):
            counts[tag.lower()] += 1
    top = sorted(counts, key=lambda k: -counts[k])[:12]
    return top or ["#breaking", "#news", "#update"]


def event_sources(texts: Sequence[str], limit: int, rng: random.Random, kept: SourceIndex) -> List[Tuple[str, str]]:
    """(text, kind) sources of one event: distinct real tweets and the constructed hard negatives
    (each distinct from every source too, except a number sibling from its own original)."""
    real = distinct_sources(texts, limit, rng, kept)
    out = [(t, "real") for t in real]
    news_handles = [_handle(rng) for _ in range(3)]
    for i, text in enumerate(real):
        roll = rng.random()
        if roll < 0.08:
            sibling = number_sibling(text, rng)
            if sibling and sibling != text:
                kept.add(sibling)
                out.append((sibling, "number"))
        elif roll < 0.14:
            sibling = span_sibling(text, real[(i + 1) % len(real)], rng)
            if sibling and kept.take(sibling):
                out.append((sibling, "span"))
        elif roll < 0.18 and len(real) > 4:
            out.extend((c, "comment") for c in comment_family(text, rng.sample(real, 3), rng) if kept.take(c))
        elif roll < 0.28:
            out[i] = (f"RT {rng.choice(news_handles)}: {text}", "rt_news")
    return out


def build(split: str, seed: int = SEED) -> List[Dict[str, str]]:
    """Rows ``id, text, source, event, kind, edits`` of one side of the split (a source's
    original first, then its variants; ids are strings in set order)."""
    rows: List[Dict[str, str]] = []
    pool = source_pool(split)
    kept = SourceIndex()
    for event in sorted(pool):
        rng = random.Random(f"{seed}:{split}:{event}")
        texts = pool[event]
        tags = event_tags(texts)
        handles = [_handle(rng) for _ in range(40)]
        for s, (text, kind) in enumerate(event_sources(texts, SOURCES_PER_EVENT[split], rng, kept)):
            source = f"{event}/{s}"
            copies = [(text, "original")] + [variant(text, tags, handles, rng) for _ in range(n_variants(rng))]
            for vtext, edits in copies:
                rows.append({"id": f"{split}-{len(rows)}", "text": vtext, "source": source, "event": event,
                             "kind": kind, "edits": edits})
    return rows


def main(argv: Sequence[str]) -> int:
    split, out = argv[1], argv[2]
    rows = build(split)
    with gzip.open(out, "wt", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "text", "source", "event", "kind", "edits"])
        w.writeheader()
        w.writerows(rows)
    n_sources = len({r["source"] for r in rows})
    print(f"{split}: {len(rows)} tweets, {n_sources} sources -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
