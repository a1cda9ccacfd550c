#!/usr/bin/env python3
"""Dedup quality and speed (``make bench``); prints its figures and writes them to
``bench/results/dedup.md`` (date, machine, command, load average, numbers).

Quality: the variant set of ``bench/dedup_variants.py`` (real tweets and realistic copies of them:
retweet prefixes, link changes, hashtag and mention edits, truncation, case and emoji changes, with
hard negatives), its ``tune`` side (CrisisLexT6 events: every setting was chosen there) and its
``heldout`` side (other events and datasets, never tuned on). Pairwise precision and recall of
crisislake's clusters and, in the same run, of the datasketch MinHashLSH baseline
(``bench/dedup_baseline.py``).

Speed: N = 1,000,000 tweets (real CrisisLexT6 texts plus generated variants: RT prefixes, swapped
t.co links, added hashtags, truncation with "…"), crisislake file mode end to end (Parquet in,
Parquet out): wall, tweets/s, CPU-seconds and peak memory (RSS of the driver JVM + Python
workers); then the datasketch baseline on the same texts in the same process, and the ratio.

    flock /tmp/crisislake-heavy.lock .venv/bin/python bench/bench_dedup.py   # both parts, published
    BENCH_PARTS=quality BENCH_SPLITS=tune .venv/bin/python bench/bench_dedup.py
    BENCH_SCALE=0.01 BENCH_WRITE=0 .venv/bin/python bench/bench_dedup.py     # quick check, no results
    BENCH_SIZES=100000,1000000                             # crisislake sizes; datasketch runs the largest
    BENCH_LINK_THRESHOLD=0.7 BENCH_MIN_SUPPORT=0           # speed runs with another edge rule
"""
from __future__ import annotations

import csv
import gzip
import os
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from proc_memory import tree_cpu_seconds
from results_md import command_line, write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
DATA = Path(os.environ.get("CRISISLAKE_SHARED_DATA", ROOT.parent / "shared" / "data"))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
PARTS = set(os.environ.get("BENCH_PARTS", "quality,speed").split(","))


def load_texts():
    with gzip.open(DATA / "crisislex" / "crisislexT6.csv.gz", "rt", encoding="utf-8") as fh:
        return [(int(r["tweet_id"]), r["tweet_text"]) for r in csv.DictReader(fh)]


class PeakRss:
    """Peak summed RSS of this process and all its descendants (driver JVM, Python workers)."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> int:
        children = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(pid))
            except (OSError, IndexError, ValueError):
                continue
        total, stack = 0, [os.getpid()]
        while stack:
            pid = stack.pop()
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                pass
            stack.extend(children.get(pid, []))
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(0.5)

    def __enter__(self):
        self.peak = self._tree_rss()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------ quality

def pipeline_clusters(spark, texts, params):
    """Cluster label per text (file order), crisislake's cluster_batch on one batch."""
    from crisislake.dedup.cluster import DedupState, cluster_batch
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("node", T.LongType()), T.StructField("text", T.StringType()),
                           T.StructField("event_ms", T.LongType())])
    df = spark.createDataFrame([(i, t, None) for i, t in enumerate(texts)], schema)
    result = cluster_batch(df, DedupState.empty(spark), params)
    clusters = dict(result.assignments.select("node", "cluster_id").collect())  # bench only
    return [clusters[i] for i in range(len(texts))]


def breakdown(rows, labels):
    """Recall of the true pairs that involve a truncated copy, and clustered pairs across
    sources by the kind of the two sources (the hard negatives)."""
    from collections import Counter, defaultdict

    from dedup_baseline import pair_scores

    cut = [i for i, r in enumerate(rows) if "truncate" in r["edits"] or r["text"].rstrip().endswith(("…", "..."))]
    cut_sources = {rows[i]["source"] for i in cut}
    sub = [i for i, r in enumerate(rows) if r["source"] in cut_sources]
    truncated_recall = pair_scores([labels[i] for i in sub], [rows[i]["source"] for i in sub])["recall"]
    members = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    false_by_kind = Counter()
    for group in members.values():
        if len(group) < 2:
            continue
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                a, b = rows[group[x]], rows[group[y]]
                if a["source"] != b["source"]:
                    false_by_kind["/".join(sorted((a["kind"], b["kind"])))] += 1
    return truncated_recall, false_by_kind


def variant_quality(spark, split):
    """crisislake and the datasketch baseline on one side of the variant set, same run."""
    from crisislake.dedup.minhash import LshParams
    from dedup_baseline import datasketch_clusters, pair_scores
    from dedup_variants import build

    rows = build(split)
    texts, truth = [r["text"] for r in rows], [r["source"] for r in rows]
    n_sources = len(set(truth))
    lines = [f"**{split}** ({SPLIT_NAMES[split]}): {len(rows):,} tweets from {n_sources:,} sources "
             f"({sum(1 for r in rows if r['kind'] != 'real' and r['edits'] == 'original'):,} of them constructed "
             "hard negatives)", "",
             "| method | precision | recall | clustered pairs | true pairs | time |", "|---|---|---|---|---|---|"]
    methods = [("crisislake dedup (defaults)", lambda: pipeline_clusters(spark, texts, LshParams.for_threshold())),
               ("datasketch MinHashLSH baseline (char 5-grams, threshold 0.7, 128 perms)",
                lambda: datasketch_clusters(texts))]
    notes = []
    for name, run in methods:
        t0 = time.time()
        labels = run()
        took = time.time() - t0
        sc = pair_scores(labels, truth)
        lines.append(f"| {name} | {sc['precision']:.4f} | {sc['recall']:.4f} | {sc['predicted_pairs']:,} | "
                     f"{sc['true_pairs']:,} | {took:.0f} s |")
        truncated_recall, false_by_kind = breakdown(rows, labels)
        notes.append(f"- {name}: recall over the sources with a truncated copy {truncated_recall:.4f}; "
                     f"false pairs by the kinds of their two sources: "
                     f"{', '.join(f'{k} {v}' for k, v in false_by_kind.most_common()) or 'none'}")
        print(lines[-1], flush=True)
    return lines + [""] + notes


SPLIT_NAMES = {"tune": "the six CrisisLexT6 events; every setting was chosen here",
               "heldout": "22 other CrisisLexT26 events, HRF police tweets 2020, Kaggle disaster tweets; "
                          "scored, never tuned on"}


def quality(spark):
    out = []
    for split in os.environ.get("BENCH_SPLITS", "tune,heldout").split(","):
        print(f"\n-- quality: variant set, {split}", flush=True)
        out += variant_quality(spark, split) + [""]
    return out


# ------------------------------------------------------------------------------ speed

def make_variants(all_texts, n, seed=11):
    """n tweets: real texts and generated variants (RT prefix, swapped link, hashtags, truncation)."""
    rng = random.Random(seed)
    tags = ["#breaking", "#news", "#prayers", "#help", "#update", "#sandy", "#bostonstrong", "#yycflood"]
    out = []
    base_id = 400000000000000000
    for i in range(n):
        _, text = all_texts[i % len(all_texts)] if i < len(all_texts) else rng.choice(all_texts)
        kind = 0 if i < len(all_texts) else rng.randrange(5)
        if kind == 1:
            text = f"RT @user{rng.randrange(10000)}: {text}"
        elif kind == 2:
            text = f"{text} http://t.co/{rng.randrange(36 ** 8):08x}"
        elif kind == 3:
            text = f"{text} {' '.join(rng.sample(tags, rng.randint(1, 3)))}"
        elif kind == 4 and len(text) > 40:
            text = text[: rng.randint(int(len(text) * 0.75), len(text) - 1)] + "…"
        out.append((str(base_id + i * 4194304), text))
    return out


def write_parquet(rows, path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}), path)


def speed_params():
    """Default settings, or the edge rule from BENCH_LINK_THRESHOLD / BENCH_MIN_SUPPORT (to time
    no support test, ``BENCH_MIN_SUPPORT=0``)."""
    from crisislake.dedup.minhash import LshParams

    link, support = os.environ.get("BENCH_LINK_THRESHOLD"), os.environ.get("BENCH_MIN_SUPPORT")
    return LshParams.for_threshold(link_threshold=float(link) if link else None,
                                   min_support=float(support) if support else None)


def speed_run(spark, path, out):
    from crisislake.dedup.io import read_table_file, write_single_file
    from crisislake.dedup.job import dedup_frame

    df = read_table_file(spark, path)
    with PeakRss() as rss:
        t0, c0 = time.time(), tree_cpu_seconds(os.getpid())
        write_single_file(dedup_frame(df, "id", "text", None, speed_params()), out)
        took, cpu = time.time() - t0, tree_cpu_seconds(os.getpid()) - c0
    return took, rss.peak, cpu


def speed(spark, all_texts, tmp):
    """crisislake file mode at each size, then the datasketch baseline on the largest, one run."""
    from dedup_baseline import datasketch_clusters

    lines = ["| run | tweets | wall | tweets/s | CPU-s (process tree) | peak RSS | load average after |",
             "|---|---|---|---|---|---|---|"]
    sizes = [int(int(x) * SCALE) for x in os.environ.get("BENCH_SIZES", "1000000").split(",")]
    ours = {}
    for n in sizes:
        rows = make_variants(all_texts, n)
        path = os.path.join(tmp, f"tweets_{n}.parquet")
        write_parquet(rows, path)
        took, peak, cpu = speed_run(spark, path, os.path.join(tmp, f"out_{n}.parquet"))
        ours[n] = took
        lines.append(f"| crisislake dedup, file mode, Parquet in/out | {n:,} | {took:.1f} s | {n / took:,.0f} | "
                     f"{cpu:.1f} | {peak / 2**30:.2f} GiB | {os.getloadavg()[0]:.1f} |")
        print(lines[-1], flush=True)
    n = max(sizes)
    texts = [t for _, t in make_variants(all_texts, n)]
    with PeakRss() as rss:
        t0, c0 = time.time(), time.process_time()
        datasketch_clusters(texts)
        took, cpu = time.time() - t0, time.process_time() - c0
    lines.append(f"| datasketch baseline (bench/dedup_baseline.py, single process) | {n:,} | {took:.1f} s | "
                 f"{n / took:,.0f} | {cpu:.1f} | {rss.peak / 2**30:.2f} GiB | {os.getloadavg()[0]:.1f} |")
    print(lines[-1], flush=True)
    lines += ["", f"Ratio at {n:,} tweets: datasketch / crisislake = **{took / ours[n]:.2f}x** (wall time)."]
    return lines


def write_results(sections, command):
    """Replace this run's sections of bench/results/dedup.md, keep the others."""
    for name, lines in sections.items():
        write_section("dedup", "Dedup benchmark (bench/bench_dedup.py)", name, TITLES[name], lines, command)


TITLES = {"quality": "Quality: the variant set (pairwise precision / recall)",
          "speed": "Speed: crisislake and the datasketch baseline in one run"}


def main() -> int:
    from crisislake.config import load_config
    from crisislake.session import build_spark

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"BENCH_SCALE={SCALE}")
    config = load_config("local", overrides=["spark.driver_memory=3g", "spark.shuffle_partitions=8"])
    spark = build_spark(config.spark, app_name="bench-dedup")
    command = command_line("bench_dedup.py", ("BENCH_PARTS", "BENCH_SIZES", "BENCH_SPLITS", "BENCH_SCALE"))
    write = os.environ.get("BENCH_WRITE", "1") == "1"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if "quality" in PARTS:
                lines = quality(spark)
                if write:
                    write_results({"quality": lines}, command)
            if "speed" in PARTS:
                print("\n-- speed", flush=True)
                lines = speed(spark, load_texts(), tmp)
                if write:
                    write_results({"speed": lines}, command)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
