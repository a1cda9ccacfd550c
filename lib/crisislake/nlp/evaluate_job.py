"""``crisislake evaluate --task TASK --input FILE --text-col COL --label-col COL
[--label-map FILE_OR_JSON] [--model PATH]``: score a model on a labelled file.

The last line on stdout is one JSON object: task, n, skipped, accuracy, macro_f1, weighted_f1, f1, precision,
recall (positive class, binary tasks), per_class, confusion_matrix, threshold, tweets_per_s.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Dict, Mapping, Optional, Tuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crisislake import fs
from crisislake.config import Config
from crisislake.context import JobContext
from crisislake.errors import CrisislakeError
from crisislake.nlp import data, model_store, predict
from crisislake.nlp.metrics import classification_report
from crisislake.nlp.tasks import TASKS, TaskSpec, get_task, normalise_label


class EvaluationInputError(CrisislakeError, ValueError):
    """The labelled file lacks a named column or no row has a usable label."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=list(TASKS))
    parser.add_argument("--input", required=True, help="labelled file: CSV, CSV.gz or Parquet")
    parser.add_argument("--text-col", required=True)
    parser.add_argument("--label-col", required=True)
    parser.add_argument("--label-map", default=None, help="JSON object (inline or a file) from file labels to task labels")
    parser.add_argument("--model", default=None, help="saved PipelineModel path (default: the task's default model)")


def build_gold_mapping(spec: TaskSpec, raw_labels, label_map: Optional[Mapping[str, object]]) -> Dict[str, str]:
    """File label (as a string) -> task label, for the labels that map to something.

    With a label map, a label maps through it (exact, then case-insensitive match); labels it
    does not name map to nothing. Without one, labels must already be task labels (binary tasks
    accept 1/0, true/false).

    >>> build_gold_mapping(TASKS["disaster_type"], ["typhoon", "Flood", "fire"], {"typhoon": "hurricane"})
    {'typhoon': 'hurricane'}
    >>> build_gold_mapping(TASKS["relevance"], ["1", "0", "true", "x"], None)
    {'1': '1', '0': '0', 'true': '1'}
    """
    out: Dict[str, str] = {}
    lowered = {str(k).strip().lower(): v for k, v in (label_map or {}).items()}
    for raw in raw_labels:
        if raw is None:
            continue
        if label_map is not None:
            if raw in label_map:
                target = label_map[raw]
            elif raw.strip().lower() in lowered:
                target = lowered[raw.strip().lower()]
            else:
                continue
        else:
            target = raw
        label = normalise_label(spec, target)
        if label is not None:
            out[raw] = label
    return out


def read_gold(spark: SparkSession, path: str, text_col: str, label_col: str) -> DataFrame:
    """``text, raw_label`` (label as a string; booleans as true/false) from the labelled file."""
    df = data.read_labelled_file(spark, path)
    missing = [c for c in (text_col, label_col) if c not in df.columns]
    if missing:
        raise EvaluationInputError(f"{path} has no column(s) {missing}; columns: {df.columns}")
    label = F.col(label_col)
    if dict(df.dtypes)[label_col] in ("double", "float"):
        label = F.when(label == F.floor(label), label.cast("long")).otherwise(label)
    return df.select(F.col(text_col).cast("string").alias("text"), label.cast("string").alias("raw_label"))


def evaluate(
    spark: SparkSession, spec: TaskSpec, gold: DataFrame, loaded: predict.LoadedModel,
    label_map: Optional[Mapping[str, object]] = None,
) -> Tuple[Dict[str, object], Dict[Tuple[str, str], int]]:
    """Score ``gold`` (``text, raw_label``) and return the JSON result and the pair counts.

    Two small actions reach the driver: the distinct file labels, and one count per
    (gold, predicted) pair.
    """
    raw_labels = [r[0] for r in gold.select("raw_label").distinct().collect()]
    mapping = build_gold_mapping(spec, raw_labels, label_map)
    if mapping:
        lookup = F.create_map(*[F.lit(x) for kv in mapping.items() for x in kv])
        mapped = gold.withColumn("gold", lookup[F.col("raw_label")])
    else:
        mapped = gold.withColumn("gold", F.lit(None).cast("string"))
    usable = mapped.where(F.col("gold").isNotNull())
    started = time.monotonic()
    counted = (usable.transform(predict.score(loaded, spec, "text"))
               .groupBy("gold", "pred_label").count().collect())
    elapsed = time.monotonic() - started
    pairs = {(r["gold"], r["pred_label"]): int(r["count"]) for r in counted}
    n_total = gold.count()
    n = sum(pairs.values())
    report = classification_report(pairs, spec.positive, loaded.labels)
    result = {
        "task": spec.name, "n": n, "skipped": n_total - n,
        "accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "weighted_f1": report["weighted_f1"],
        "f1": report["f1"],
        "precision": report["precision"], "recall": report["recall"],
        "per_class": report["per_class"], "confusion_matrix": report["confusion_matrix"],
        "threshold": loaded.decision_threshold if spec.binary else loaded.review_threshold,
        "review_threshold": loaded.review_threshold,
        "tweets_per_s": round(n / elapsed, 1) if elapsed > 0 and n else 0.0,
        "model": loaded.path,
    }
    return result, pairs


def evaluate_file(spark: SparkSession, config: Config, args: argparse.Namespace) -> Dict[str, object]:
    """The evaluation result for the CLI arguments, on an existing session."""
    spec = get_task(args.task)
    label_map = data.parse_label_map(args.label_map)
    path = args.model
    if not path:
        path = model_store.default_model_path(spark, config.models_root, spec.name)
        if path is None:
            from crisislake.nlp.train_job import ensure_default_models

            print(f"no default {spec.name} model under {config.models_root}; training a quick one "
                  "(run `make models` for the full-quality models)", file=sys.stderr)
            path = ensure_default_models(spark, config, args.run_id, [spec.name])[spec.name]
    loaded = predict.load(spark, path, spec)
    gold = read_gold(spark, args.input, args.text_col, args.label_col)
    result, _ = evaluate(spark, spec, gold, loaded, label_map)
    return result


def run(ctx: JobContext) -> int:
    """Prints the metrics JSON as the last stdout line (the command's product) and returns 0."""
    if not fs.exists(ctx.args.input):
        raise EvaluationInputError(f"input file {ctx.args.input} does not exist")
    try:
        with ctx.stage(f"evaluate {ctx.args.task}"):
            result = evaluate_file(ctx.spark, ctx.config, ctx.args)
    except ValueError as exc:
        if isinstance(exc, CrisislakeError):
            raise
        raise EvaluationInputError(str(exc)) from exc
    sys.stdout.flush()
    print(json.dumps(result))
    return 0
