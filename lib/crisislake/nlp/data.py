"""Training and labelled data: reading the bundled files, extra labelled files and eval files.

Every training set has the columns ``text, label, group, source``: ``group`` is the event (or
another unit that must not be split across train and validation), ``label`` the task's label.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from crisislake.nlp.tasks import TaskSpec

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
BUNDLED_DIR = REPO_ROOT / "data" / "training"
KAGGLE_FILE = Path("kaggle_disaster") / "train.csv"
EXTRA_TASK_DIR = "crisislake_training"  # <extra>/crisislake_training/<task>/*.csv: text,label[,group]

# Kaggle keywords (URL-decoded) that name one disaster type; only target=1 rows are used for
# disaster_type, as weak labels from many events. Chosen conservatively, after reading the
# target=1 tweets of each candidate: a keyword is here only when those tweets are about that
# type. Left out on purpose: bomb/bombed/exploded/explode (mostly Hiroshima anniversaries, drone
# strikes, figurative "exploded"), twister/whirlwind (mostly figurative), structural failure
# (Virgin Galactic / Falcon 9 crashes, not buildings), inundated (mostly "inundated with
# requests"), fire/blaze/burning (house fires, arson), collapse/rubble, crash/collision/wreck,
# storm/rainstorm/windstorm, aftershock (no target=1 rows), attack/terrorism.
KAGGLE_KEYWORD_TYPES = {
    "earthquake": "earthquake", "seismic": "earthquake",
    "flood": "flood", "flooding": "flood", "floods": "flood",
    "hurricane": "hurricane", "typhoon": "hurricane", "cyclone": "hurricane",
    "wildfire": "wildfire", "wild fires": "wildfire", "bush fires": "wildfire",
    "forest fire": "wildfire", "forest fires": "wildfire",
    "tornado": "tornado",
    "explosion": "explosion",
    "bombing": "bombing", "suicide bomb": "bombing", "suicide bomber": "bombing", "suicide bombing": "bombing",
    "derail": "transport_accident", "derailed": "transport_accident", "derailment": "transport_accident",
    "train accident": "transport_accident", "airplane accident": "transport_accident",
}


def kaggle_keyword_type(keyword: Optional[str]) -> Optional[str]:
    """The disaster type a Kaggle ``keyword`` names, or ``None`` (Kaggle writes spaces as %20).

    >>> kaggle_keyword_type("suicide%20bomber"), kaggle_keyword_type("Forest%20Fires"), kaggle_keyword_type("fire")
    ('bombing', 'wildfire', None)
    """
    if keyword is None:
        return None
    return KAGGLE_KEYWORD_TYPES.get(keyword.replace("%20", " ").strip().lower())


def with_kaggle_keyword_type(keyword_col: str = "keyword", out_col: str = "label"):
    """Transform: add ``out_col`` = the type the keyword names (null when it names none);
    the Column form of :func:`kaggle_keyword_type`."""
    mapping = F.create_map(*[F.lit(x) for kv in sorted(KAGGLE_KEYWORD_TYPES.items()) for x in kv])

    def _apply(df: DataFrame) -> DataFrame:
        key = F.lower(F.trim(F.regexp_replace(F.col(keyword_col), "%20", " ")))
        return df.withColumn(out_col, mapping[key])
    return _apply


TRAINING_COLUMNS = ["text", "label", "group", "source"]


def read_csv(spark: SparkSession, path: str) -> DataFrame:
    """A CSV (or .csv.gz) with a header; quoted fields may span lines."""
    return (spark.read.option("header", True).option("multiLine", True).option("escape", '"')
            .option("mode", "PERMISSIVE").csv(path))


def resolve_extra_dir(extra_dir: str) -> Optional[Path]:
    """The extra training folder, relative to the working directory or else to the repo root."""
    if not extra_dir:
        return None
    path = Path(extra_dir)
    for candidate in ([path] if path.is_absolute() else [Path.cwd() / path, REPO_ROOT / path]):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def _crisislex(spark: SparkSession, bundled: Path) -> DataFrame:
    return read_csv(spark, str(bundled / "crisislex.csv.gz"))


def _blue_witness(spark: SparkSession, bundled: Path) -> DataFrame:
    return read_csv(spark, str(bundled / "blue_witness.csv.gz"))


def _kaggle(spark: SparkSession, extra: Optional[Path]) -> Optional[DataFrame]:
    if extra is None or not (extra / KAGGLE_FILE).is_file():
        return None
    return read_csv(spark, str(extra / KAGGLE_FILE)).where(F.col("target").isin("0", "1"))


def _event_group(event: Column) -> Column:
    """The event as a group: T26 and T6 spell five shared events differently
    (``2013_Boston_Bombings`` / ``2013_Boston_bombings``); as two groups they leaked one event
    across the validation split."""
    return F.lower(event)


def _kaggle_group(keyword: Column) -> Column:
    """Kaggle has no events; its keyword is the closest unit (unseen keyword ~ unseen event)."""
    return F.concat(F.lit("kaggle:"), F.coalesce(keyword, F.lit("none")))


def _extra_task_files(spark: SparkSession, extra: Optional[Path], task: str) -> Optional[DataFrame]:
    folder = extra / EXTRA_TASK_DIR / task if extra else None
    if folder is None or not folder.is_dir() or not any(folder.glob("*.csv*")):
        return None
    df = read_csv(spark, str(folder))
    group = F.col("group") if "group" in df.columns else F.lit(f"extra:{task}")
    return df.select("text", F.col("label").cast("string"), group.alias("group"),
                     F.lit(f"extra:{task}").alias("source"))


def _crisislex_relevance(spark, bundled: Path, extra: Optional[Path]) -> List[Tuple[DataFrame, str]]:
    cl = _crisislex(spark, bundled)
    return [(cl.select("text", F.col("relevant").alias("label"), _event_group(F.col("event")).alias("group"), "source"),
             str(bundled / "crisislex.csv.gz"))]


def _kaggle_relevance(spark, bundled: Path, extra: Optional[Path]) -> List[Tuple[DataFrame, str]]:
    kg = _kaggle(spark, extra)
    if kg is None:
        return []
    return [(kg.select("text", F.col("target").alias("label"), _kaggle_group(F.col("keyword")).alias("group"),
                       F.lit("kaggle").alias("source")), str(extra / KAGGLE_FILE))]


def _crisislex_disaster_type(spark, bundled: Path, extra: Optional[Path]) -> List[Tuple[DataFrame, str]]:
    # Only on-topic tweets say which disaster they are about.
    cl = _crisislex(spark, bundled).where(F.col("relevant") == "1")
    return [(cl.select("text", F.col("disaster_type").alias("label"), _event_group(F.col("event")).alias("group"),
                       "source"), str(bundled / "crisislex.csv.gz"))]


def _kaggle_disaster_type(spark, bundled: Path, extra: Optional[Path]) -> List[Tuple[DataFrame, str]]:
    kg = _kaggle(spark, extra)
    if kg is None:
        return []
    rows = (kg.where(F.col("target") == "1").transform(with_kaggle_keyword_type("keyword", "label"))
            .where(F.col("label").isNotNull())
            .select("text", "label", _kaggle_group(F.col("keyword")).alias("group"), F.lit("kaggle").alias("source")))
    return [(rows, str(extra / KAGGLE_FILE))]


def _crisislex_information_type(spark, bundled: Path, extra: Optional[Path]) -> List[Tuple[DataFrame, str]]:
    cl = _crisislex(spark, bundled)
    if "information_type" not in cl.columns:
        return []
    rows = cl.where(F.col("information_type").isNotNull() & (F.col("information_type") != "")).select(
        "text", F.col("information_type").alias("label"), _event_group(F.col("event")).alias("group"), "source")
    return [(rows, str(bundled / "crisislex.csv.gz"))]


def _blue_witness_bucket() -> Column:
    # Blue Witness has no events: hash buckets keep each text's copies on one side.
    return F.concat(F.lit("bw:"), (F.abs(F.hash(F.lower(F.col("text")))) % 8).cast("string"))


def _blue_witness_force_rank(spark, bundled: Path, extra: Optional[Path]) -> List[Tuple[DataFrame, str]]:
    bw = _blue_witness(spark, bundled)
    return [(bw.select("text", F.col("force_rank").alias("label"), _blue_witness_bucket().alias("group"), "source"),
             str(bundled / "blue_witness.csv.gz"))]


def _blue_witness_police_force(spark, bundled: Path, extra: Optional[Path]) -> List[Tuple[DataFrame, str]]:
    bw = _blue_witness(spark, bundled)
    label = F.when(F.col("force_rank").cast("int") >= 2, "1").otherwise("0")
    out = [(bw.select("text", label.alias("label"), _blue_witness_bucket().alias("group"), "source"),
            str(bundled / "blue_witness.csv.gz"))]
    cited = bundled / "pb2020_cited.csv.gz"
    if cited.is_file():
        # Tweets cited as evidence of a 2020PB police-violence incident: positives.
        out.append((read_csv(spark, str(cited)).select("text", F.lit("1").alias("label"), F.lit("pb2020").alias("group"),
                                                       "source"), str(cited)))
    return out


def _extra_task_source(task: str):
    def _load(spark, bundled: Path, extra: Optional[Path]) -> List[Tuple[DataFrame, str]]:
        df = _extra_task_files(spark, extra, task)
        return [] if df is None else [(df, str(extra / EXTRA_TASK_DIR / task))]
    return _load


# The labelled sources of each task, in order. Each is ``(spark, bundled_dir, extra_dir or None)
# -> [(rows with text, label, group, source; file or folder read)]``; another labelled source
# (e.g. reviewer decisions) is one more function in these lists.
TASK_SOURCES = {
    "relevance": [_crisislex_relevance, _kaggle_relevance],
    "disaster_type": [_crisislex_disaster_type, _kaggle_disaster_type],
    "police_force": [_blue_witness_police_force],
    "force_rank": [_blue_witness_force_rank],
    "information_type": [_crisislex_information_type],
}


def load_training_data(
    spark: SparkSession, task: TaskSpec, extra_dir: str = "", bundled_dir: Path = BUNDLED_DIR,
) -> Tuple[DataFrame, List[str]]:
    """The raw (not yet deduplicated) training rows for ``task`` and the files they came from."""
    extra = resolve_extra_dir(extra_dir)
    parts: List[DataFrame] = []
    files: List[str] = []
    for source in TASK_SOURCES[task.name] + [_extra_task_source(task.name)]:
        for df, file in source(spark, bundled_dir, extra):
            parts.append(df.select(*TRAINING_COLUMNS))
            if file not in files:
                files.append(file)
    df = parts[0]
    for part in parts[1:]:
        df = df.unionByName(part)
    return df.select(*TRAINING_COLUMNS).where(F.col("label").isin(task.labels)), files


def with_dedup_key(df: DataFrame, text_col: str = "text") -> DataFrame:
    """Add ``dedup_key``: lower case, no RT prefix, links, mentions or punctuation."""
    t = F.lower(F.coalesce(F.col(text_col), F.lit("")))
    t = F.regexp_replace(t, "&amp;", "&")
    t = F.regexp_replace(t, r"^\s*rt\s+@\w+:?", " ")
    t = F.regexp_replace(t, r"(https?://|www\.)\S+", " ")
    t = F.regexp_replace(t, r"@\w+", " ")
    t = F.regexp_replace(t, r"[^\p{L}\p{N}#]+", " ")
    return df.withColumn("dedup_key", F.trim(t))


def resolve_conflicts(df: DataFrame) -> DataFrame:
    """One row per dedup key: the majority label wins; keys whose top labels tie are dropped.

    Keeps the first (lowest) group and source of the winning label's copies, so a duplicate
    never lands on both sides of a validation split.
    """
    keyed = with_dedup_key(df).where(F.col("dedup_key") != "")
    votes = keyed.groupBy("dedup_key", "label").agg(
        F.count(F.lit(1)).alias("votes"), F.min("text").alias("text"),
        F.min("group").alias("group"), F.min("source").alias("source"))
    by_votes = Window.partitionBy("dedup_key").orderBy(F.col("votes").desc(), F.col("label"))
    ranked = votes.withColumn("rank", F.row_number().over(by_votes)).withColumn(
        "next_votes", F.lead("votes").over(by_votes))
    winners = ranked.where((F.col("rank") == 1) & (F.col("next_votes").isNull() | (F.col("next_votes") < F.col("votes"))))
    # A key's group must be one value across labels: take the smallest over all its copies.
    key_group = keyed.groupBy("dedup_key").agg(F.min("group").alias("key_group"))
    return (winners.join(key_group, "dedup_key")
            .select("text", "label", F.col("key_group").alias("group"), "source", "dedup_key"))


def fingerprint(files: List[str], extra: Dict[str, object]) -> str:
    """sha256 over the training files' bytes and the training settings."""
    digest = hashlib.sha256()
    for name in sorted(files):
        path = Path(name)
        targets = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for target in targets:
            digest.update(target.name.encode())
            digest.update(target.read_bytes())
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def read_labelled_file(spark: SparkSession, path: str) -> DataFrame:
    """A labelled evaluation file: CSV, CSV.gz (header row) or Parquet (file or folder)."""
    lowered = path.lower().rstrip("/")
    if lowered.endswith(".parquet") or lowered.endswith(".pq") or (
            Path(path).is_dir() and any(Path(path).glob("*.parquet"))):
        return spark.read.parquet(path)
    return read_csv(spark, path)


def parse_label_map(value: Optional[str]) -> Optional[Dict[str, object]]:
    """``--label-map``: inline JSON or a JSON file; keys are the file's labels as strings.

    >>> parse_label_map('{"Relevant": 1, "Not relevant": 0}')
    {'Relevant': 1, 'Not relevant': 0}
    """
    if not value:
        return None
    text = value.strip()
    if not text.startswith("{"):
        text = Path(value).read_text(encoding="utf-8")
    mapping = json.loads(text)
    if not isinstance(mapping, dict):
        raise ValueError("--label-map must be a JSON object mapping file labels to task labels")
    return {str(k): v for k, v in mapping.items()}
