#!/usr/bin/env python3
"""The Spark classifier's featurisation re-created in scikit-learn, to find in minutes (no Spark
fit) which feature choice separates it from the baseline in ``bench_classify.py``.

Same split as the bench: the deduplicated training rows and fold assignment are read once with
Spark (``--dump``, one JVM, ~1 min) into ``<data-dir>/<task>.parquet`` together with the text as
the pipeline cleans it; every later run is scikit-learn only. Each variant is a JSON object:

* ``"baseline"``: the bench's ``sklearn_baseline()`` itself (``{"baseline": true, "col": "clean"}``
  runs it on the cleaned text);
* otherwise the Spark layout (word 1-2-grams + upper-case char 3-4-grams of the padded cleaned text,
  binary TF, Spark's IDF ``log((n+1)/(df+1))`` with min_doc_freq 2, one L2 norm, LR C = 4,
  balanced class weights, exact vocabulary instead of hashing) changed by the keys
  ``split`` (word and char blocks each L2-normalised, as the baseline's FeatureUnion),
  ``wb`` (char n-grams inside whitespace-split words, as char_wb), ``sizes``, ``tf``
  ("binary" or "sublinear"), ``idf`` ("spark" or "sklearn": + 1), ``C``, ``clean`` (cleaning steps
  to skip: ``{"rt": false}`` keeps the "RT @user:" prefix, also ``mention``, ``link``, ``camel``).

Printed per variant: validation fold 1 (fitted without folds 0-1) F1 at argmax and at its F1-best
threshold, then fold 0 (fitted without fold 0) at argmax and at that fold-1 threshold; choose on
fold 1, report fold 0. ``--by-source`` adds F1 per data source and for retweet / other rows.

Usage::

    PYTHONPATH=lib .venv/bin/python bench/emulate_features.py --dump --data-dir /tmp/emu
    PYTHONPATH=lib .venv/bin/python bench/emulate_features.py --data-dir /tmp/emu baseline '{}' \\
        '{"split": true}' '{"clean": {"rt": false}, "C": 0.5}'
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "bench"))

WORD_SPLIT = re.compile(r"[\W_]+")  # RegexTokenizer's [^\p{L}\p{N}]+
RETWEET = r"^\s*RT\s+@"


def dump_split(tasks, data_dir: Path) -> None:
    """Write each task's deduplicated rows with the bench's folds and the cleaned text (one Spark JVM)."""
    from bench_classify import FOLDS
    from crisislake.config import load_config
    from crisislake.nlp import data
    from crisislake.nlp.tasks import get_task
    from crisislake.nlp.text import clean_text, looks_non_english
    from crisislake.nlp.training import fold_assignment, train_only_sources
    from crisislake.session import build_spark

    config = load_config("local", overrides=["spark.driver_memory=3g", "spark.shuffle_partitions=4"])
    spark = build_spark(config.spark, app_name="emulate-features-dump")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        for task in tasks:
            spec = get_task(task)
            raw, _ = data.load_training_data(spark, spec, config.models.extra_training_dir)
            # English texts only, as `train` keeps (text.looks_non_english).
            pdf = (data.resolve_conflicts(raw).where(~looks_non_english("text"))
                   .select("text", "label", "group", "source").toPandas())
            stats = pdf.groupby("group").agg(n=("label", "size"), n_labels=("label", "nunique"),
                                             label=("label", "first"), source=("source", "min"))
            single = not spec.binary and (stats["n_labels"] == 1).all()
            fold_of = fold_assignment([(g, r.n, r.label, r.source) for g, r in stats.iterrows()], FOLDS, single,
                                      train_only_sources(task))
            pdf["fold"] = pdf["group"].map(fold_of).astype(int)
            # Row order survives createDataFrame -> select -> toPandas (no shuffle).
            pdf["clean"] = spark.createDataFrame(pdf[["text"]]).select(clean_text("text").alias("c")).toPandas()["c"].values
            pdf.to_parquet(data_dir / f"{task}.parquet")
            print(f"{task}: {len(pdf)} rows, folds {pdf['fold'].value_counts().sort_index().to_dict()}")
    finally:
        spark.stop()


def py_clean(text: str, rt: bool = True, mention: bool = True, link: bool = True, camel: bool = True) -> str:
    """``text.CLEAN_STEPS`` in Python; ``False`` skips a step (the dump checks equality with Spark's).

    >>> py_clean("RT @ann: #NepalEarthquake &amp; aid http://t.co/x"), py_clean("RT @ann: flood", rt=False)
    ('nepal earthquake & aid httpurl', 'rt atuser : flood')
    """
    t = re.sub(r"&(gt|lt|quot|#39|apos);", " ", text.replace("&amp;", "&"))
    if rt:
        t = re.sub(r"^\s*RT\s+@\w+:?", " ", t, flags=re.A)
    if link:
        t = re.sub(r"(https?://|www\.)\S+", " httpurl ", t)
    if mention:
        t = re.sub(r"@\w+", " atuser ", t, flags=re.A)
    if camel:
        t = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", t)
    return re.sub(r"\s+", " ", t.replace("#", " ").lower()).strip()


def word_terms(text: str):
    """Words and word bigrams (bigrams joined by a space)."""
    words = [w for w in WORD_SPLIT.split(text) if w]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def char_terms(text: str, sizes=(3, 4), wb: bool = False):
    """Char n-grams of the upper-cased padded text, or (``wb``) of each padded word."""
    pieces = [f" {w} " for w in text.split()] if wb else [f" {text.upper()} "]
    return [p[i:i + n] for p in pieces for n in sizes for i in range(len(p) - n + 1)]


def tfidf_block(train_txt, test_txt, analyzer, tf: str, idf: str):
    import numpy as np
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer

    cv = CountVectorizer(analyzer=analyzer, binary=(tf == "binary"), dtype=np.float64)
    xtr, xts = cv.fit_transform(train_txt), cv.transform(test_txt)
    if tf == "sublinear":
        for x in (xtr, xts):
            x.data = 1 + np.log(x.data)
    dfreq = np.bincount(xtr.indices, minlength=xtr.shape[1])
    w = np.log((xtr.shape[0] + 1) / (dfreq + 1)) + (1.0 if idf == "sklearn" else 0.0)
    w[dfreq < 2] = 0.0  # min_doc_freq 2
    return xtr @ sp.diags(w), xts @ sp.diags(w)


def probabilities(cfg, train, test, col: str):
    """Positive-class probabilities for ``test`` from a model fitted on ``train``."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    if cfg.get("baseline"):
        from bench_classify import sklearn_baseline

        model = sklearn_baseline().fit(train[col], train["label"])
        return model.predict_proba(test[col])[:, list(model.classes_).index("1")]
    sizes, wb = tuple(cfg.get("sizes", (3, 4))), cfg.get("wb", False)
    tf, idf = cfg.get("tf", "binary"), cfg.get("idf", "spark")
    char_an = lambda t: char_terms(t, sizes, wb)  # noqa: E731
    if cfg.get("split"):
        blocks = [tfidf_block(train[col], test[col], an, tf, idf) for an in (word_terms, char_an)]
        xtr = sp.hstack([normalize(b[0]) for b in blocks]).tocsr()
        xts = sp.hstack([normalize(b[1]) for b in blocks]).tocsr()
    else:
        xtr, xts = (normalize(x) for x in tfidf_block(train[col], test[col], lambda t: word_terms(t) + char_an(t), tf, idf))
    lr = LogisticRegression(C=cfg.get("C", 4.0), max_iter=2000, class_weight="balanced")
    lr.fit(xtr, (train["label"] == "1").astype(int))
    return lr.predict_proba(xts)[:, 1]


def f1_at(p, gold, t: float) -> float:
    pred, pos = p >= t, gold == "1"
    tp = (pred & pos).sum()
    prec, rec = tp / max(pred.sum(), 1), tp / max(pos.sum(), 1)
    return 2 * prec * rec / max(prec + rec, 1e-12)


def run_variant(df, name: str, by_source: bool) -> None:
    from crisislake.nlp.metrics import best_f1_threshold

    cfg = {"baseline": True} if name == "baseline" else json.loads(name)
    col = cfg.get("col", "text" if cfg.get("baseline") else "clean")
    if "clean" in cfg:
        col = "custom"
        df = df.assign(custom=[py_clean(t, **cfg["clean"]) for t in df["text"]])
    started = time.process_time()
    val, test = df[df["fold"] == 1], df[df["fold"] == 0]
    pv = probabilities(cfg, df[~df["fold"].isin([0, 1])], val, col)
    thr = best_f1_threshold(list(zip(pv, val["label"] == "1")))
    p0 = probabilities(cfg, df[df["fold"] != 0], test, col)
    gv, g0 = val["label"].values, test["label"].values
    print(f"{name:<48} fold 1: argmax {f1_at(pv, gv, 0.5):.3f}, t {thr:.2f} {f1_at(pv, gv, thr):.3f} | "
          f"fold 0: argmax {f1_at(p0, g0, 0.5):.3f}, at t {f1_at(p0, g0, thr):.3f}  "
          f"({time.process_time() - started:.0f} CPU-s)", flush=True)
    if by_source:
        for tag, part, p in [("fold 1", val, pv), ("fold 0", test, p0)]:
            rt = part["text"].str.match(RETWEET).values
            segments = [(s, (part["source"] == s).values) for s in sorted(part["source"].unique())]
            segments += [("retweets", rt), ("other rows", ~rt)]
            gold = part["label"].values
            print(f"    {tag} argmax / at t: " + ", ".join(
                f"{s} (n {m.sum()}) {f1_at(p[m], gold[m], 0.5):.3f} / {f1_at(p[m], gold[m], thr):.3f}"
                for s, m in segments))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--task", default="relevance", help="a binary task (relevance, police_force)")
    parser.add_argument("--dump", action="store_true", help="read the split with Spark first")
    parser.add_argument("--by-source", action="store_true")
    parser.add_argument("variants", nargs="*")
    args = parser.parse_args()
    import pandas as pd

    if args.dump:
        dump_split([args.task], args.data_dir)
    df = pd.read_parquet(args.data_dir / f"{args.task}.parquet")
    same = (df["text"].map(py_clean) == df["clean"]).mean()
    print(f"{args.task}: {len(df)} rows; Python cleaning equals Spark's on {same:.1%} of them")
    for name in args.variants:
        run_variant(df, name, args.by_source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
