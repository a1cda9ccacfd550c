"""Apply a saved model: label, confidence, the "unknown" rule and review-queue routing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from pyspark.ml import PipelineModel
from pyspark.ml.feature import IndexToString, StringIndexerModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crisislake.nlp import model_store
from crisislake.nlp.linear import PROB_PREFIX, LinearModel, score_frame
from crisislake.nlp.tasks import UNKNOWN, TaskSpec
from crisislake.nlp.text import is_unknown_text


@dataclass
class LoadedModel:
    """A loaded PipelineModel and what is needed to read its output."""

    path: str
    model: object  # a PipelineModel or a LinearModel
    version: str
    labels: List[str]
    decision_threshold: float
    review_threshold: float


def model_labels(model: PipelineModel, fallback: List[str]) -> List[str]:
    """Labels in prediction-index order: from an IndexToString or StringIndexer stage, else ``fallback``."""
    for stage in reversed(model.stages):
        if isinstance(stage, IndexToString) and stage.getLabels():
            return list(stage.getLabels())
        if isinstance(stage, StringIndexerModel):
            return list(stage.labels)
    return list(fallback)


def load(spark: SparkSession, path: str, spec: TaskSpec) -> LoadedModel:
    """Load the model at ``path`` with thresholds from its ``metrics.json`` (defaults: 0.5 / none)."""
    model = model_store.load_model(spark, path)
    metrics = model_store.read_metrics(spark, path)
    decision = float(metrics.get("decision_threshold") or (0.5 if spec.binary else 0.0))
    review = metrics.get("threshold")
    review_t = float(review) if review is not None and metrics.get("target_precision") else 0.0
    labels = list(model.labels) if isinstance(model, LinearModel) else model_labels(model, spec.labels)
    return LoadedModel(path, model, model_store.model_version_of(path), labels, decision, review_t)


def text_signature(model) -> Optional[str]:
    """A key equal for two models whose text features are the same, else ``None`` (a plugged-in
    model without our text stages): their features (or, for linear models, their whole scoring
    pass) can be computed once."""
    from crisislake.nlp.features import n_text_stages

    if isinstance(model, LinearModel):
        return "linear"
    k = n_text_stages(model)
    if not k:
        return None
    parts = []
    for stage in model.stages[:k]:
        params = sorted((p.name, repr(v)) for p, v in stage.extractParamMap().items())
        parts.append(f"{type(stage).__name__}:{params}")
    return "|".join(parts)


def shared_features(models: Dict[str, object]):
    """Transform: what the tasks of one :func:`text_signature` group (``{task: model}``) share:
    every linear model's probabilities from one pass (``cl_p_<task>``), or a PipelineModel's
    text features."""
    first = next(iter(models.values()))
    if isinstance(first, LinearModel):
        return score_frame(dict(models), "text")
    return featurise(first)


def featurise(model: PipelineModel):
    """Transform: add the model's text features (``cl_tf``), to be shared by several heads."""
    from crisislake.nlp.features import n_text_stages

    text_model = PipelineModel(stages=model.stages[:n_text_stages(model)])
    return lambda df: text_model.transform(df)


def score(loaded: LoadedModel, spec: TaskSpec, text_col: str = "text", lang_col: Optional[str] = None,
          featurised: bool = False):
    """Transform: add ``pred_label``, ``confidence``, ``p_positive`` and ``needs_review``.

    The model reads a ``text`` column; other columns pass through. Rows whose text is empty,
    emoji-only or not English get ``unknown`` (confidence 1.0 that it cannot be classified).
    Binary tasks: positive when ``p_positive >= decision_threshold``; a positive below the review
    threshold needs review. Multi-class: a prediction below the review threshold needs review.
    With ``featurised`` the input already carries this model's text features (:func:`featurise`)
    and only the head stages run.
    """
    labels = loaded.labels

    def _apply(df: DataFrame) -> DataFrame:
        src = df.withColumn("__unknown", is_unknown_text(text_col, lang_col))
        if text_col != "text":
            src = src.withColumn("text", F.col(text_col))
        keep = [c for c in df.columns if not c.startswith("cl_")] + ["__unknown"] + (
            [] if "text" in df.columns else ["text"])
        model = loaded.model
        if isinstance(model, LinearModel):
            # Probabilities from the shared scoring pass (featurised), or from one of our own.
            out = src if featurised else src.transform(score_frame({spec.name: model}, "text"))
            prob = F.col(PROB_PREFIX + spec.name)
            out = out.withColumn("prediction", F.expr(f"array_position({PROB_PREFIX}{spec.name}, "
                                                      f"array_max({PROB_PREFIX}{spec.name})) - 1"))
        else:
            if featurised:
                from crisislake.nlp.features import n_text_stages

                model = PipelineModel(stages=model.stages[n_text_stages(model):])
            out = model.transform(src)
            prob = vector_to_array("probability")
        label_arr = F.array(*[F.lit(lab) for lab in labels])
        if spec.binary and spec.positive in labels:
            pos_idx = labels.index(spec.positive)
            neg = next(lab for lab in labels if lab != spec.positive)
            p_pos = prob[pos_idx]
            label = F.when(p_pos >= F.lit(loaded.decision_threshold), F.lit(spec.positive)).otherwise(F.lit(neg))
            conf = F.when(label == spec.positive, p_pos).otherwise(1.0 - p_pos)
            review = (label == spec.positive) & (p_pos < F.lit(loaded.review_threshold))
        else:
            idx = F.col("prediction").cast("int")
            p_pos = F.lit(None).cast("double")
            label = label_arr[idx]
            conf = prob[idx]
            review = conf < F.lit(loaded.review_threshold)
        unknown = F.col("__unknown")
        return out.select(
            *keep,
            F.when(unknown, F.lit(UNKNOWN)).otherwise(label).alias("pred_label"),
            F.when(unknown, F.lit(1.0)).otherwise(conf).cast("double").alias("confidence"),
            F.when(unknown, F.lit(None)).otherwise(p_pos).cast("double").alias("p_positive"),
            (~unknown & review).alias("needs_review"),
        ).drop("__unknown")

    return _apply


def review_reason(spec: TaskSpec, threshold: float) -> F.Column:
    """Why a row is in the review queue."""
    if spec.binary:
        text = f"{spec.name}: positive with confidence below the review threshold {threshold:.3f}"
    else:
        text = f"{spec.name}: prediction confidence below the review threshold {threshold:.3f}"
    return F.lit(text)
