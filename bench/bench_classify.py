#!/usr/bin/env python3
"""Tweet classification speed: train the default models, then score 100,000 tweets for every task.

1. Training: ``crisislake train`` for every task (the default linear models, as ``make run``
   trains them when a lake has none) into a temporary models root; seconds per task.
2. Scoring, as ``classify`` does it: 100,000 tweets (``BENCH_SCALE`` scales it; texts from the
   training data with a counter appended) read from Parquet in 2 partitions; the default models
   loaded once; one shared pass computes every task's probabilities (``predict.shared_features``,
   persisted), then each task's labels, confidence and review flag are written to a ``noop``
   sink. Twice: the first pass includes the Python workers' start and the models' broadcast.
3. Baseline: the scikit-learn TF-IDF + LR (word 1-2 + char_wb 2-5-grams) of the relevance task,
   fitted on the same rows, predicting the same tweets in this Python process.

Results go to ``bench/results/classify.md`` (``BENCH_OUT`` overrides; ``-`` = stdout only) with
the date, the machine and its load average.

Usage: ``PYTHONPATH=lib .venv/bin/python bench/bench_classify.py`` (``BENCH_TASKS`` limits the
tasks; ``BENCH_SCALE=0.05`` for a quick check).
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
N_TWEETS = int(100_000 * SCALE)
TASKS = [t for t in os.environ.get(
    "BENCH_TASKS", "relevance,disaster_type,police_force,force_rank,information_type").split(",") if t]
OUT = os.environ.get("BENCH_OUT", str(ROOT / "bench" / "results" / "classify.md"))
PASSES = int(os.environ.get("BENCH_PASSES", "3"))


def corpus(n: int):
    """``n`` tweet texts: the bundled CrisisLex texts, each repeated with a counter."""
    import pandas as pd

    texts = pd.read_csv(ROOT / "data" / "training" / "crisislex.csv.gz", usecols=["text"])["text"].dropna().tolist()
    reps = n // len(texts) + 1
    return [f"{t} #{i}" for i in range(reps) for t in texts][:n]


def score_all(spark, loaded, tweets):
    """Score every task as ``classify`` does (shared pass persisted, one noop write per task)."""
    from crisislake.nlp import predict
    from crisislake.nlp.tasks import get_task
    from pyspark import StorageLevel

    started = time.monotonic()
    shared = tweets.transform(predict.shared_features({t: m.model for t, m in loaded.items()})).persist(
        StorageLevel.MEMORY_AND_DISK)
    shared.count()
    for task, model in loaded.items():
        (shared.transform(predict.score(model, get_task(task), "text", "lang", featurised=True))
         .select("tweet_id", "pred_label", "confidence", "needs_review").write.format("noop").mode("overwrite").save())
    shared.unpersist()
    return time.monotonic() - started


def main() -> int:
    import pandas as pd
    from crisislake.config import load_config
    from crisislake.nlp import predict, train_job
    from crisislake.nlp.tasks import get_task
    from crisislake.session import build_spark

    lines = [f"# Tweet classification speed\n\nWritten by `bench/bench_classify.py` "
             f"({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}). Command: `PYTHONPATH=lib .venv/bin/python bench/bench_classify.py`"
             f"{f' with BENCH_SCALE={SCALE}' if SCALE != 1.0 else ''}.\n",
             f"Load average at the start: {os.getloadavg()[0]:.1f} (the machine is shared; wall figures fall as "
             "it rises).\n"]
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config("local", overrides=[f"models.root={tmp}/models"])
        spark = build_spark(config.spark, app_name="bench-classify")
        try:
            lines += ["## Training (`crisislake train`, default linear models)\n",
                      "| task | training rows | seconds | held-out score in metrics.json |", "|---|---|---|---|"]
            paths = {}
            for task in TASKS:
                started = time.monotonic()
                summary = train_job.train_and_save(spark, config, task)
                seconds = time.monotonic() - started
                paths[task] = summary["path"]
                score = summary["f1"] if summary["f1"] is not None else summary["macro_f1"]
                lines.append(f"| {task} | {summary['n_train']} | {seconds:.0f} | {score:.3f} |")
                print(lines[-1], flush=True)
            texts = corpus(N_TWEETS)
            path = f"{tmp}/tweets.parquet"
            spark.createDataFrame(pd.DataFrame({"tweet_id": range(len(texts)), "text": texts, "lang": "en"})) \
                .repartition(2).write.parquet(path)
            tweets = spark.read.parquet(path)
            tweets.count()
            loaded = {task: predict.load(spark, p, get_task(task)) for task, p in paths.items()}
            walls, loads = [], []
            for _ in range(PASSES):
                loads.append(os.getloadavg()[0])
                walls.append(score_all(spark, loaded, tweets))
                print(f"scoring pass: {walls[-1]:.1f} s", flush=True)
        finally:
            spark.stop()
    rest = walls[1:] or walls
    lines += [f"\n## Scoring {len(texts):,} tweets, all {len(loaded)} tasks together ({', '.join(loaded)})\n",
              "| pass | wall seconds | tweets/s | load average at its start |", "|---|---|---|---|"]
    lines += [f"| {i + 1} | {w:.1f} | {len(texts) / w:,.0f} | {ld:.1f} |" for i, (w, ld) in enumerate(zip(walls, loads))]
    lines.append(f"\nMedian after the first pass: **{len(texts) / statistics.median(rest):,.0f} tweets/s** "
                 f"(range {len(texts) / max(rest):,.0f}-{len(texts) / min(rest):,.0f}).")
    lines += baseline_lines(texts)
    lines.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.")
    text = "\n".join(lines) + "\n"
    print(text)
    if OUT != "-":
        Path(OUT).parent.mkdir(parents=True, exist_ok=True)
        Path(OUT).write_text(text)
    return 0


def baseline_lines(texts):
    """The scikit-learn TF-IDF + LR relevance baseline predicting the same tweets in one process."""
    import pandas as pd
    from eval_models import baseline_model

    train = pd.read_csv(ROOT / "data" / "training" / "crisislex.csv.gz", usecols=["text", "relevant"]).dropna()
    model = baseline_model().fit(train["text"], train["relevant"].astype(int).astype(str))
    started, cpu = time.monotonic(), time.process_time()
    model.predict_proba(texts)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    return [f"\nBaseline, one task (relevance): scikit-learn TF-IDF + LR in one Python process: "
            f"{len(texts) / wall:,.0f} tweets/s wall, {len(texts) / cpu:,.0f} tweets per CPU-s."]


if __name__ == "__main__":
    sys.exit(main())
