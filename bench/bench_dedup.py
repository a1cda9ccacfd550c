#!/usr/bin/env python3
"""Dedup quality and speed (``make bench``; prints its figures).

Quality: 20,000 real CrisisLexT6 tweets; the true pairs (exact Jaccard >= 0.7 of the shingle sets
of the normalised texts, texts that normalise to "" left out) by brute force (blocked sparse
matrix products, every pair checked); recall/precision of the pairs the pipeline puts in one
cluster. The truth always uses the shingles of the run it scores. Measured: the default (word
3-grams, edges at J >= 0.7 with neighbourhood support >= 0.75), the previous default (word 3-grams,
edges at J >= 0.76, no support test), word 3-grams linked at 0.7 without the support test,
character 5-grams likewise (``BENCH_QUALITY=N`` runs only the first N of these).

Speed: N = 1,000,000 tweets (real CrisisLexT6 texts plus generated variants: RT prefixes, swapped
t.co links, added hashtags, truncation with "…"), file mode end to end (Parquet in, Parquet out):
tweets/s and peak memory (RSS of the driver JVM + Python workers). On 100,000 tweets also
datasketch MinHashLSH (single process) and Spark ML MinHashLSH.approxSimilarityJoin, and the ratios.

    .venv/bin/python bench/bench_dedup.py                  # full scale
    BENCH_SCALE=0.01 .venv/bin/python bench/bench_dedup.py # 10k / 1k / 200 quick check
    BENCH_PARTS=quality,speed,compare                      # a subset
    BENCH_SIZES=100000,1000000                             # speed sizes (before BENCH_SCALE)
    BENCH_LINK_THRESHOLD=0.76 BENCH_MIN_SUPPORT=0          # speed runs with another edge rule
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
DATA = Path(os.environ.get("CRISISLAKE_SHARED_DATA", ROOT.parent / "shared" / "data"))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
PARTS = set(os.environ.get("BENCH_PARTS", "quality,speed,compare").split(","))
THRESHOLD = 0.7


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

def true_pairs(texts, shingle, ngram):
    """All pairs with exact Jaccard >= THRESHOLD (indices i < j), brute force in blocks."""
    from crisislake.dedup.normalize import normalize_py
    from dedup_link_sweep import similar_pairs

    i, j, _ = similar_pairs([normalize_py(t) for t in texts], shingle, ngram, floor=THRESHOLD - 1e-9)
    return set(zip(i.tolist(), j.tolist()))


def pipeline_clusters(spark, texts, params):
    from crisislake.dedup.cluster import DedupState, cluster_batch
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("node", T.LongType()), T.StructField("text", T.StringType()),
                           T.StructField("event_ms", T.LongType())])
    df = spark.createDataFrame([(i, t, None) for i, t in enumerate(texts)], schema)
    result = cluster_batch(df, DedupState.empty(spark), params)
    return dict(result.assignments.select("node", "cluster_id").collect())  # bench only


QUALITY_CONFIGS = (  # (shingle, n, link threshold, min support): the default first, then alternatives
    ("word", 3, None, None),
    ("word", 3, 0.76, 0.0),
    ("word", 3, THRESHOLD, 0.0),
    ("char", 5, THRESHOLD, 0.0),
)[: int(os.environ.get("BENCH_QUALITY", "4"))]


def false_pair_examples(texts, clusters, shingle, ngram, k=3):
    """A few clustered pairs whose own Jaccard is below THRESHOLD (chaining), for the reader."""
    from crisislake.dedup.minhash import jaccard_py, shingle_sets
    from crisislake.dedup.normalize import normalize_py

    members = {}
    for node, cid in clusters.items():
        members.setdefault(cid, []).append(node)
    out = []
    for group in sorted(members.values(), key=len, reverse=True):
        norm = [normalize_py(texts[i]) for i in group]
        values, offsets = shingle_sets(norm, shingle, ngram)
        sets = [values[offsets[i]:offsets[i + 1]].tolist() for i in range(len(group))]
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                sim = jaccard_py(sets[x], sets[y])
                if sets[x] and sets[y] and sim < THRESHOLD:
                    out.append((sim, norm[x], norm[y]))
                    break
            if len(out) >= k or (out and out[-1][1] == norm[x]):
                break
        if len(out) >= k:
            break
    return out


def quality(spark, all_texts):
    from crisislake.dedup.minhash import LshParams

    n = max(int(20000 * SCALE), 500)
    rng = random.Random(7)
    texts = [t for _, t in rng.sample(all_texts, n)]
    print(f"\n-- quality: {n} CrisisLexT6 tweets, threshold {THRESHOLD}")
    print(f"truth: every pair whose exact Jaccard >= {THRESHOLD} over the same normalisation (normalize_py) and the "
          "same shingles as the pipeline run it is compared with (so each shingle type has its own truth); "
          "precision counts every pair put in one cluster")
    for shingle, ngram, link, support in QUALITY_CONFIGS:
        t0 = time.time()
        truth = true_pairs(texts, shingle, ngram)
        brute = time.time() - t0
        params = LshParams.for_threshold(THRESHOLD, shingle, ngram, link_threshold=link, min_support=support)
        t0 = time.time()
        clusters = pipeline_clusters(spark, texts, params)
        took = time.time() - t0
        members = {}
        for node, cid in clusters.items():
            members.setdefault(cid, []).append(node)
        predicted = sum(len(m) * (len(m) - 1) // 2 for m in members.values())
        tp = sum(1 for i, j in truth if clusters[i] == clusters[j])
        recall = tp / len(truth) if truth else 1.0
        precision = tp / predicted if predicted else 1.0
        print(f"{shingle}{ngram}-grams, edges at J >= {params.link_threshold} with support >= {params.min_support} "
              f"(b={params.num_bands}, "
              f"r={params.rows_per_band}): {len(truth)} true pairs (brute force {brute:.1f}s); pipeline {predicted} "
              f"clustered pairs, recall {recall:.4f}, precision {precision:.4f}, {len(members)} clusters, {took:.1f}s")
        for sim, left, right in false_pair_examples(texts, clusters, shingle, ngram):
            print(f"    clustered but J={sim:.3f}: {left[:90]!r} ~ {right[:90]!r}")


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
    the previous rule, ``BENCH_LINK_THRESHOLD=0.76 BENCH_MIN_SUPPORT=0``)."""
    from crisislake.dedup.minhash import LshParams

    link, support = os.environ.get("BENCH_LINK_THRESHOLD"), os.environ.get("BENCH_MIN_SUPPORT")
    return LshParams.for_threshold(THRESHOLD, link_threshold=float(link) if link else None,
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
    results = {}
    sizes = [int(x) for x in os.environ.get("BENCH_SIZES", "100000,1000000").split(",")]
    for n in (int(size * SCALE) for size in sizes):
        rows = make_variants(all_texts, n)
        path = os.path.join(tmp, f"tweets_{n}.parquet")
        write_parquet(rows, path)
        took, peak, cpu = speed_run(spark, path, os.path.join(tmp, f"out_{n}.parquet"))
        results[n] = took
        print(f"crisislake dedup (Spark, file mode, Parquet in/out), {n} tweets: {took:.1f}s, "
              f"{n / took:,.0f} tweets/s, {cpu:.1f} CPU-s, peak RSS {peak / 2**30:.2f} GiB, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    if len(results) < 2:
        return results.get(int(100000 * SCALE))
    small, large = sorted(results)[0], sorted(results)[-1]
    print(f"growth {small} -> {large} tweets: time x{results[large] / results[small]:.2f} for x{large / small:.0f} data")
    return results[small]


def shingle_strings(norm: str, shingle: str, ngram: int) -> set:
    """The pipeline's shingles of a normalised text as strings (for datasketch)."""
    if not norm:
        return set()
    if shingle == "char":
        return {norm[k:k + ngram] for k in range(max(len(norm) - ngram + 1, 1))}
    words = norm.split()
    return {" ".join(words[k:k + ngram]) for k in range(max(len(words) - ngram + 1, 1))}


def datasketch_time(texts, shingle="word", ngram=3):
    """datasketch on the pipeline's normalisation and shingles (default: the pipeline default)."""
    from crisislake.dedup.normalize import normalize_py
    from datasketch import MinHash, MinHashLSH

    t0 = time.time()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=100)
    sigs = []
    for key, text in texts:
        norm = normalize_py(text)
        m = MinHash(num_perm=100)
        grams = shingle_strings(norm, shingle, ngram)
        if grams:
            m.update_batch([g.encode("utf-8") for g in grams])
        sigs.append((key, m))
        lsh.insert(key, m, check_duplication=False)
    candidates = 0
    for _key, m in sigs:
        candidates += len(lsh.query(m)) - 1
    return time.time() - t0, candidates // 2


def spark_ml_time(spark, path, limit_s):
    """Seconds and verified pairs of Spark ML's self-join; (seconds, None) when cancelled at limit_s."""
    from crisislake.dedup.normalize import normalize_text
    from pyspark.ml.feature import HashingTF, MinHashLSH
    from pyspark.sql import functions as F

    df = spark.read.parquet(path)
    t0 = time.time()
    grams = df.withColumn("norm", normalize_text(F.col("text"))).withColumn(
        "grams", F.expr("transform(sequence(1, greatest(length(norm) - 4, 1)), i -> substring(norm, i, 5))")
    ).where(F.length("norm") > 0)
    feats = HashingTF(inputCol="grams", outputCol="features", numFeatures=1 << 20, binary=True).transform(grams)
    model = MinHashLSH(inputCol="features", outputCol="hashes", numHashTables=20, seed=1).fit(feats)
    hashed = model.transform(feats).cache()
    sc = spark.sparkContext
    sc.setJobGroup("bench-spark-ml", "Spark ML approxSimilarityJoin", interruptOnCancel=True)
    timer = threading.Timer(limit_s, lambda: sc.cancelJobGroup("bench-spark-ml"))
    timer.start()
    try:
        pairs = model.approxSimilarityJoin(hashed, hashed, 1 - THRESHOLD, distCol="dist").where(
            F.col("datasetA.id") < F.col("datasetB.id")
        ).count()
    except Exception:  # noqa: BLE001 - the cancellation surfaces as a Py4J/Spark error
        return time.time() - t0, None
    finally:
        timer.cancel()
        hashed.unpersist()
        sc.setLocalProperty("spark.jobGroup.id", None)
    return time.time() - t0, pairs


def compare(spark, all_texts, tmp, ours_100k):
    n = int(100000 * SCALE)
    rows = make_variants(all_texts, n)
    path = os.path.join(tmp, f"tweets_{n}.parquet")
    if not os.path.exists(path):
        write_parquet(rows, path)
    if ours_100k is None:
        ours_100k, peak, cpu = speed_run(spark, path, os.path.join(tmp, "out_cmp.parquet"))
        print(f"crisislake dedup (Spark, file mode, Parquet in/out), {n} tweets: {ours_100k:.1f}s, "
              f"{n / ours_100k:,.0f} tweets/s, {cpu:.1f} CPU-s, peak RSS {peak / 2**30:.2f} GiB", flush=True)
    c0 = time.process_time()
    ds, ds_pairs = datasketch_time(rows)
    print(f"datasketch MinHashLSH (single process, 100 perms, word 3-grams, candidates only), {n} tweets: {ds:.1f}s, "
          f"{time.process_time() - c0:.1f} CPU-s ({ds_pairs} candidate pairs), load average {os.getloadavg()[0]:.1f}",
          flush=True)
    limit = float(os.environ.get("BENCH_ML_TIMEOUT", "1200"))
    c0 = tree_cpu_seconds(os.getpid())
    ml, ml_pairs = spark_ml_time(spark, path, limit)
    ml_cpu = tree_cpu_seconds(os.getpid()) - c0
    if ml_pairs is None:
        print(f"Spark ML MinHashLSH.approxSimilarityJoin (20 tables), {n} tweets: cancelled unfinished after "
              f"{ml:.1f}s ({ml_cpu:.1f} CPU-s); ratio Spark ML / crisislake > {ml / ours_100k:.2f}x")
    else:
        print(f"Spark ML MinHashLSH.approxSimilarityJoin (20 tables), {n} tweets: {ml:.1f}s, {ml_cpu:.1f} CPU-s "
              f"({ml_pairs} pairs); ratio Spark ML / crisislake = {ml / ours_100k:.2f}x")
    print(f"ratio at {n}: datasketch / crisislake = {ds / ours_100k:.2f}x (wall time)")


def main() -> int:
    from crisislake.config import load_config
    from crisislake.session import build_spark

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"BENCH_SCALE={SCALE}")
    all_texts = load_texts()
    config = load_config("local", overrides=["spark.driver_memory=3g", "spark.shuffle_partitions=8"])
    spark = build_spark(config.spark, app_name="bench-dedup")
    ours = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if "quality" in PARTS:
                quality(spark, all_texts)
            if "speed" in PARTS:
                print("\n-- speed")
                ours = speed(spark, all_texts, tmp)
            if "compare" in PARTS:
                print("\n-- comparison at 100,000")
                compare(spark, all_texts, tmp, ours)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
