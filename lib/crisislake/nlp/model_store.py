"""Saved models: ``<models_root>/<task>/<version>/`` holds the PipelineModel and ``metrics.json``;
``<models_root>/<task>/DEFAULT`` names the default version. Works on local paths and S3.
"""
from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from typing import Dict, Optional

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from crisislake import fs
from crisislake.config import join_uri
from crisislake.errors import CrisislakeError

METRICS_FILE = "metrics.json"
DEFAULT_FILE = "DEFAULT"


class ModelNotFoundError(CrisislakeError, FileNotFoundError):
    """No model at the path, or no default model for the task."""


def new_version(fingerprint: str, now: Optional[datetime] = None) -> str:
    """A sortable version id: UTC time plus the first 8 characters of the data fingerprint.

    >>> new_version("abcdef0123456789", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    'v20260102T030405Z-abcdef01'
    """
    now = now or datetime.now(timezone.utc)
    return f"v{now.strftime('%Y%m%dT%H%M%SZ')}-{fingerprint[:8]}"


def library_versions() -> Dict[str, str]:
    import pyspark
    import sparknlp

    return {"python": platform.python_version(), "pyspark": pyspark.__version__, "spark-nlp": sparknlp.version()}


def save_model(
    spark: SparkSession, model: PipelineModel, metrics: Dict[str, object], models_root: str, task: str,
    version: str, make_default: bool = True,
) -> str:
    """Save the model and its metrics; point ``<task>/DEFAULT`` at it when ``make_default``."""
    path = join_uri(models_root, task, version)
    model.write().overwrite().save(path)
    fs.write_text(join_uri(path, METRICS_FILE), json.dumps(metrics, indent=2, sort_keys=True, default=str))
    if make_default:
        fs.write_text(join_uri(models_root, task, DEFAULT_FILE), version + "\n")
    return path


def save_linear(
    spark: SparkSession, model, metrics: Dict[str, object], models_root: str, task: str, version: str,
    make_default: bool = True,
) -> str:
    """Save a :class:`~crisislake.nlp.linear.LinearModel` (``model.json`` + ``weights.npz``) and
    its metrics; point ``<task>/DEFAULT`` at it when ``make_default``."""
    from crisislake.nlp.linear import MODEL_FILE, WEIGHTS_FILE

    path = join_uri(models_root, task, version)
    fs.write_bytes(join_uri(path, WEIGHTS_FILE), model.weights_bytes())
    fs.write_text(join_uri(path, METRICS_FILE), json.dumps(metrics, indent=2, sort_keys=True, default=str))
    fs.write_text(join_uri(path, MODEL_FILE), json.dumps(model.manifest(), indent=2, sort_keys=True))
    if make_default:
        fs.write_text(join_uri(models_root, task, DEFAULT_FILE), version + "\n")
    return path


def is_model_dir(spark: SparkSession, path: str) -> bool:
    """A saved PipelineModel (``metadata/``) or linear model (``model.json``) is at ``path``."""
    from crisislake.nlp.linear import MODEL_FILE

    return fs.exists(join_uri(path, "metadata")) or fs.exists(join_uri(path, MODEL_FILE))


def default_model_path(spark: SparkSession, models_root: str, task: str) -> Optional[str]:
    """Path of the task's default model, or ``None`` when there is none yet."""
    pointer = join_uri(models_root, task, DEFAULT_FILE)
    if not fs.exists(pointer):
        return None
    version = fs.read_text(pointer).strip()
    path = join_uri(models_root, task, version)
    return path if is_model_dir(spark, path) else None


def load_model(spark: SparkSession, path: str):
    """Load the model at ``path``: a :class:`~crisislake.nlp.linear.LinearModel` when it has a
    ``model.json``, else any saved Spark ML / Spark NLP PipelineModel."""
    from crisislake.nlp.linear import MODEL_FILE, WEIGHTS_FILE, LinearModel, is_linear_manifest

    manifest_uri = join_uri(path, MODEL_FILE)
    if fs.exists(manifest_uri):
        text = fs.read_text(manifest_uri)
        if is_linear_manifest(text):
            return LinearModel.from_parts(json.loads(text), fs.read_bytes(join_uri(path, WEIGHTS_FILE)))
    if not fs.exists(join_uri(path, "metadata")):
        raise ModelNotFoundError(f"no saved model at {path}")
    return PipelineModel.load(path)


def read_metrics(spark: SparkSession, path: str) -> Dict[str, object]:
    """The model's ``metrics.json``, or ``{}`` for a plugged-in model without one."""
    uri = join_uri(path, METRICS_FILE)
    if not fs.exists(uri):
        return {}
    return json.loads(fs.read_text(uri))


def model_version_of(path: str) -> str:
    """The version folder name of a model path.

    >>> model_version_of("s3://b/models/relevance/v1-abc/")
    'v1-abc'
    """
    return path.rstrip("/").rsplit("/", 1)[-1]
