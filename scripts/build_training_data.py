#!/usr/bin/env python3
"""Build the bundled, MIT-licensed training files in ``data/training/`` from ``../shared/data``.

Sources (all MIT): CrisisLexT26 and CrisisLexT6 (Olteanu et al.), Human Rights First "Blue
Witness" force-rank texts and the 2020PB-cited police tweets. Kaggle's disaster tweets are NOT
bundled (competition rules); training reads them from ``models.extra_training_dir`` instead.

What it does, so the files stay small and clean:

* decodes HTML entities, drops texts that are empty after cleaning;
* deduplicates on a normalised text key (lower case, no ``RT @user:``, URLs, mentions or
  punctuation runs) and resolves conflicting labels by majority, dropping ties;
* maps CrisisLex event types to the ``disaster_type`` labels;
* caps CrisisLexT6 at ``--t6-cap`` rows per (event, label): six events with 10,000 tweets each
  add volume, not variety.

Usage: ``python scripts/build_training_data.py [--src ../shared/data] [--out data/training]``
"""
from __future__ import annotations

import argparse
import html
import re
import sys
import warnings
from pathlib import Path

import pandas as pd

EVENT_TYPE_MAP = {
    # CrisisLexT26 event_type
    "Floods": "flood", "Earthquake": "earthquake", "Wildfire": "wildfire", "Typhoon": "hurricane",
    "Explosion": "explosion", "Derailment": "transport_accident", "Crash": "transport_accident",
    "Bombings": "bombing", "Shootings": "shooting", "Collapse": "building_collapse",
    "Fire": "other", "Haze": "other", "Meteorite": "other",
    # CrisisLexT6 event_type
    "hurricane": "hurricane", "flood": "flood", "bombing": "bombing", "tornado": "tornado",
    "explosion": "explosion",
}
T26_RELEVANCE = {
    "Related and informative": 1, "Related - but not informative": 1, "Not related": 0,
}
# CrisisLexT26 information_type -> the information_type task's labels.
T26_INFORMATION_TYPE = {
    "Affected individuals": "affected_individuals", "Infrastructure and utilities": "infrastructure_and_utilities",
    "Donations and volunteering": "donations_and_volunteering", "Caution and advice": "caution_and_advice",
    "Sympathy and support": "sympathy_and_support", "Other Useful Information": "other_useful_information",
    "Not labeled": "not_humanitarian", "Not applicable": "not_humanitarian",
}
_RT = re.compile(r"^\s*rt\s+@\w+:?\s*", re.I)
_URL = re.compile(r"https?://\S+|www\.\S+", re.I)
_MENTION = re.compile(r"@\w+")
_NONWORD = re.compile(r"[^\w#]+")


def clean_text(text: str) -> str:
    """Decode HTML entities and squeeze whitespace.

    >>> clean_text("Floods &amp; rain\\n now")
    'Floods & rain now'
    """
    return " ".join(html.unescape(str(text)).split())


def dedup_key(text: str) -> str:
    """The key two texts share when they are the same tweet (retweet, other link, other case).

    >>> dedup_key("RT @bob: Flood in Calgary!! http://t.co/x") == dedup_key("flood in calgary")
    True
    """
    t = _RT.sub("", text.lower())
    t = _URL.sub(" ", t)
    t = _MENTION.sub(" ", t)
    return " ".join(_NONWORD.sub(" ", t).split())


def resolve(df: pd.DataFrame, label_col: str, keep_key: bool = False) -> pd.DataFrame:
    """One row per dedup key; the majority label wins, ties are dropped (``keep_key``: keep ``_key``)."""
    df = df.assign(_key=df["text"].map(dedup_key))
    df = df[df["_key"] != ""]
    votes = df.groupby(["_key", label_col]).size().rename("n").reset_index()
    votes = votes.sort_values(["_key", "n"], ascending=[True, False])
    top = votes.groupby("_key").head(2)
    tie = top.groupby("_key")["n"].transform(lambda s: len(s) > 1 and s.iloc[0] == s.iloc[1])
    winners = top[~tie.astype(bool)].groupby("_key").head(1)[["_key", label_col]]
    first = df.drop(columns=[label_col]).drop_duplicates("_key")
    out = first.merge(winners, on="_key", how="inner")
    if not keep_key:
        out = out.drop(columns=["_key"])
    n_tied = int(top.loc[tie.astype(bool), "_key"].nunique())
    print(f"  {label_col}: {len(df)} rows -> {len(out)} unique texts ({n_tied} texts with tied labels dropped)")
    return out


def build_crisislex(src: Path, t6_cap: int, seed: int) -> pd.DataFrame:
    t26 = pd.read_csv(src / "crisislex" / "crisislexT26.csv.gz", dtype=str)
    t26 = pd.DataFrame({
        "text": t26["tweet_text"].map(clean_text), "event": t26["event"],
        "disaster_type": t26["event_type"].map(EVENT_TYPE_MAP),
        "relevant": t26["informativeness"].map(T26_RELEVANCE), "source": "crisislex_t26",
        "information_type": t26["information_type"].map(T26_INFORMATION_TYPE),
    })
    assert t26["information_type"].notna().all(), "unmapped CrisisLexT26 information type"
    # Information types come from T26 alone, resolved on their own key by majority; they
    # include the rows whose informativeness is "Not applicable" (no relevance label).
    t26_text = t26[t26["text"].str.strip() != ""]
    info = resolve(t26_text, "information_type", keep_key=True)
    t26 = t26[t26["relevant"].notna()].drop(columns=["information_type"])
    t6 = pd.read_csv(src / "crisislex" / "crisislexT6.csv.gz", dtype=str)
    with warnings.catch_warnings():  # pandas 2.2 warns that apply sees the grouping columns
        warnings.simplefilter("ignore", DeprecationWarning)
        t6 = t6.groupby(["event", "label"], group_keys=False).apply(
            lambda g: g.sample(n=min(len(g), t6_cap), random_state=seed))
    t6 = pd.DataFrame({
        "text": t6["tweet_text"].map(clean_text), "event": t6["event"],
        "disaster_type": t6["event_type"].map(EVENT_TYPE_MAP),
        "relevant": (t6["label"] == "on-topic").astype(int), "source": "crisislex_t6",
    })
    both = pd.concat([t26, t6], ignore_index=True)
    both = both[both["text"].str.strip() != ""]
    assert both["disaster_type"].notna().all(), "unmapped CrisisLex event type"
    # The relevance label decides the dedup; an event keeps the type its first copy came from.
    rel = resolve(both, "relevant", keep_key=True)
    rel["relevant"] = rel["relevant"].astype(int).astype(str)
    # A text with an information type but no relevance row (only "Not applicable" copies) is
    # added with an empty relevance; the relevance and disaster_type tasks skip it.
    extra = info[~info["_key"].isin(rel["_key"])].assign(relevant=None)
    out = pd.concat([rel.merge(info[["_key", "information_type"]], on="_key", how="left"), extra],
                    ignore_index=True)
    return out[["text", "relevant", "disaster_type", "event", "source", "information_type"]]


def build_blue_witness(src: Path) -> pd.DataFrame:
    bw = pd.read_csv(src / "hrf_police" / "force_rank_training.csv", dtype={"labels": int})
    bw = pd.DataFrame({"text": bw["tweets"].map(clean_text), "force_rank": bw["labels"],
                       "source": "blue_witness"})
    return resolve(bw[bw["text"] != ""], "force_rank")[["text", "force_rank", "source"]]


def build_pb2020_cited(src: Path) -> pd.DataFrame:
    pt = pd.read_csv(src / "hrf_police" / "police_tweets_2020.csv", dtype=str)
    pt = pt[pt["reddit"] == "1"]  # reddit=0 is a keyword-search hit, not a verified negative
    pt = pd.DataFrame({"text": pt["text"].map(clean_text), "cited": 1, "source": "pb2020_cited"})
    return resolve(pt[pt["text"] != ""], "cited")[["text", "source"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "data" / "training"))
    parser.add_argument("--t6-cap", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    src, out = Path(args.src), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("crisislex.csv.gz", build_crisislex(src, args.t6_cap, args.seed)),
        ("blue_witness.csv.gz", build_blue_witness(src)),
        ("pb2020_cited.csv.gz", build_pb2020_cited(src)),
    ):
        frame.to_csv(out / name, index=False, compression={"method": "gzip", "mtime": 0})
        print(f"wrote {out / name}: {len(frame)} rows, {(out / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
