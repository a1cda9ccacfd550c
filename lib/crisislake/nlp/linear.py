"""The default models: hashed word + char n-gram TF-IDF and a linear head, served inside Spark.

A model is a folder ``<models_root>/<task>/<version>/`` holding ``model.json`` (kind, labels,
feature settings) and ``weights.npz`` (the IDF and coefficients of the features the training
data holds at least twice), next to ``metrics.json``. ``train`` fits it with scikit-learn on the
driver (:mod:`crisislake.nlp.linear_training`); scoring needs numpy only: :func:`score_frame`
runs :func:`LinearModel.predict_proba` in the Python workers through ``mapInArrow``, one text
featurisation for every task whose model has the same :class:`~crisislake.nlp.hashed.HashParams`.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from crisislake.nlp.hashed import HashParams, add_lexicon, base_counts, l2_per_block, normalise, term_counts

KIND = "hashed-linear"
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
PROB_PREFIX = "cl_p_"  # column cl_p_<task>: the task's class probabilities (model label order)


@dataclass
class LinearModel:
    """Hashed TF-IDF features -> logistic regression (softmax over ``labels``, or a sigmoid for
    two labels, ``coef`` then holding one column for ``labels[1]``)."""

    task: str
    labels: List[str]
    params: HashParams
    active: np.ndarray  # sorted feature slots with a weight (int32)
    idf: np.ndarray  # IDF of the active slots (float32)
    coef: np.ndarray  # (len(active), n_out) float32
    intercept: np.ndarray  # (n_out,) float32
    _lookup: Optional[np.ndarray] = None

    def lookup(self) -> np.ndarray:
        """Slot -> position in ``active`` (-1 for slots without a weight)."""
        if self._lookup is None:
            table = np.full(self.params.n_features, -1, dtype=np.int32)
            table[self.active] = np.arange(len(self.active), dtype=np.int32)
            self._lookup = table
        return self._lookup

    def full_idf(self) -> np.ndarray:
        out = np.zeros(self.params.n_features, dtype=np.float32)
        out[self.active] = self.idf
        return out

    def proba_from_counts(self, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Class probabilities ``(rows, len(labels))`` from :func:`~crisislake.nlp.hashed.term_counts`."""
        pos = self.lookup()[indices]
        rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        keep = pos >= 0
        idf = np.zeros(len(indices), dtype=np.float32)
        idf[keep] = self.idf[pos[keep]]
        weighted = l2_per_block(indptr, indices, values * idf, self.params.bits)
        n = len(indptr) - 1
        rows, pos, weighted = rows[keep], pos[keep], weighted[keep]
        scores = np.empty((n, self.coef.shape[1]), dtype=np.float64)
        for j in range(self.coef.shape[1]):
            scores[:, j] = np.bincount(rows, weights=weighted * self.coef[pos, j], minlength=n)
        scores += self.intercept
        if self.coef.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def predict_proba(self, texts: Sequence[Optional[str]]) -> np.ndarray:
        return self.proba_from_counts(*term_counts(texts, self.params))

    # --- persistence -------------------------------------------------------------------------
    def manifest(self) -> Dict[str, object]:
        return {"kind": KIND, "task": self.task, "labels": self.labels, "features": self.params.to_dict(),
                "n_active": int(len(self.active)), "n_out": int(self.coef.shape[1])}

    def weights_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, active=self.active.astype(np.int32), idf=self.idf.astype(np.float32),
                            coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32))
        return buf.getvalue()

    @classmethod
    def from_parts(cls, manifest: Dict[str, object], weights: bytes) -> LinearModel:
        arrays = np.load(io.BytesIO(weights))
        return cls(task=str(manifest["task"]), labels=[str(x) for x in manifest["labels"]],
                   params=HashParams.from_dict(manifest["features"]), active=arrays["active"].astype(np.int64),
                   idf=arrays["idf"], coef=arrays["coef"], intercept=arrays["intercept"])


def is_linear_manifest(text: str) -> bool:
    try:
        return json.loads(text).get("kind") == KIND
    except (ValueError, AttributeError):
        return False


def score_frame(models: Dict[str, LinearModel], text_col: str = "text"):
    """Transform: add ``cl_p_<task>`` (array<double>, the model's label order) for every model.

    Runs in the Python workers (``mapInArrow``); models with equal feature settings share one
    featurisation of each batch. The models reach the workers in a broadcast variable.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import types as T

    def _apply(df: DataFrame) -> DataFrame:
        spark = df.sparkSession
        shared = spark.sparkContext.broadcast(models)
        schema = T.StructType(list(df.schema.fields) + [
            T.StructField(PROB_PREFIX + task, T.ArrayType(T.DoubleType(), False), True) for task in models])
        tasks = list(models)

        def run(batches: Iterator) -> Iterator:
            import pyarrow as pa

            loaded = shared.value
            for batch in batches:
                texts = batch.column(batch.schema.get_field_index(text_col)).to_pylist()
                shared_counts: Dict[tuple, tuple] = {}
                extra = []
                for task in tasks:
                    params = loaded[task].params
                    if params.text_key() not in shared_counts:
                        norm = [normalise(t, params.keep_retweet) for t in texts]
                        shared_counts[params.text_key()] = (norm, base_counts(norm, params))
                    norm, counts = shared_counts[params.text_key()]
                    probs = loaded[task].proba_from_counts(*add_lexicon(counts, norm, params))
                    offsets = pa.array(np.arange(0, probs.size + 1, probs.shape[1], dtype=np.int32))
                    extra.append(pa.ListArray.from_arrays(offsets, pa.array(probs.ravel(), pa.float64())))
                yield pa.RecordBatch.from_arrays(list(batch.columns) + extra,
                                                 names=list(batch.schema.names) + [PROB_PREFIX + t for t in tasks])

        return df.mapInArrow(run, schema)

    return _apply
