"""The MLflow pyfunc model that every textclf model is saved as (an MLflow "model from code").

MLflow copies this file into the model and runs it on load, so it must not import textclf: a model
loads wherever numpy, pandas, scikit-learn and mlflow are installed. It reads the data-only format
written by ``textclf.model_state`` and refuses anything outside it:

* arrays are read with ``allow_pickle=False``, so a planted pickle cannot run;
* objects are rebuilt only from scikit-learn classes, by restoring attributes, without calling
  any code named in the file.

Input: a DataFrame with a ``text`` column. Output: a DataFrame with ``label`` (multiclass) or
``labels`` (multilabel, a list) and one ``prob_<class>`` column per class.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

FORMAT = "textclf-state"
ALLOWED_MODULE_PREFIX = "sklearn."
SAFE_TYPES = {"numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "builtins.float", "builtins.int"}


class UnsafeModelError(ValueError):
    """The saved model holds something the data-only format does not allow."""


def load_state(folder):
    """Return ``(estimator, decision)`` from a folder written by ``textclf.model_state.save_state``."""
    folder = Path(folder)
    document = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    if document.get("format") != FORMAT:
        raise UnsafeModelError(f"{folder} is not a textclf saved model (format {document.get('format')!r})")
    try:
        with np.load(folder / "arrays.npz", allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:  # numpy's "Object arrays cannot be loaded when allow_pickle=False"
        raise UnsafeModelError(f"refusing to load {folder / 'arrays.npz'}: {error}") from None
    return _decode(document["estimator"], arrays), document["decision"]


def _decode(node, arrays):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(item, arrays) for item in node]
    if "__array__" in node:
        return arrays[node["__array__"]]
    if "__tuple__" in node:
        return tuple(_decode(item, arrays) for item in node["__tuple__"])
    if "__dict__" in node:
        return {key: _decode(value, arrays) for key, value in node["__dict__"].items()}
    if "__items__" in node:
        return {_decode(key, arrays): _decode(value, arrays) for key, value in node["__items__"]}
    if "__scalar__" in node:
        return np.dtype(node["__scalar__"]).type(node["value"])
    if "__type__" in node:
        if node["__type__"] not in SAFE_TYPES:
            raise UnsafeModelError(f"refusing to load type {node['__type__']!r}: not a plain numeric type")
        module, _, name = node["__type__"].rpartition(".")
        return getattr(importlib.import_module(module), name)
    if "__object__" in node:
        return _rebuild(node["__object__"], {key: _decode(value, arrays) for key, value in node["state"].items()})
    raise UnsafeModelError(f"refusing to load an unknown node {sorted(node)!r}")


def _rebuild(path: str, state: dict):
    module_name, _, class_name = path.rpartition(".")
    if not module_name.startswith(ALLOWED_MODULE_PREFIX):
        raise UnsafeModelError(f"refusing to load {path!r}: only scikit-learn classes may appear in a saved model")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not isinstance(cls, type):
        raise UnsafeModelError(f"refusing to load {path!r}: it is not a class")
    instance = cls.__new__(cls)
    instance.__dict__.update(state)
    return instance


def decide_labels(probabilities: np.ndarray, decision: dict) -> list[tuple[str, ...]]:
    """Turn class probabilities into label tuples: argmax, or per-label thresholds."""
    classes = decision["classes"]
    if "thresholds" not in decision:
        return [(classes[i],) for i in probabilities.argmax(axis=1)]
    chosen = probabilities >= np.asarray(decision["thresholds"])
    top = np.argsort(-probabilities, axis=1)[:, : decision["min_labels"]]
    rows = []
    for i in range(len(probabilities)):
        picked = set(np.flatnonzero(chosen[i]).tolist()) | set(top[i].tolist())
        rows.append(tuple(classes[j] for j in sorted(picked, key=lambda j: -probabilities[i, j])))
    return rows


def predictions_frame(labels: list[tuple[str, ...]], probabilities: np.ndarray, decision: dict) -> pd.DataFrame:
    """The served output: ``label`` or ``labels``, then ``prob_<class>`` columns."""
    if "thresholds" in decision:
        frame = pd.DataFrame({"labels": [list(row) for row in labels]})
    else:
        frame = pd.DataFrame({"label": [row[0] for row in labels]})
    for j, name in enumerate(decision["classes"]):
        frame[f"prob_{name}"] = probabilities[:, j].astype(float)
    return frame


class TextclfModel(mlflow.pyfunc.PythonModel):
    """Tags texts with a textclf model saved in the data-only format."""

    def load_context(self, context):
        self.estimator, self.decision = load_state(context.artifacts["state"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if "text" not in model_input.columns:
            raise ValueError(f"input needs a 'text' column; it has {list(model_input.columns)}")
        texts = model_input["text"].astype(str).tolist()
        probabilities = np.asarray(self.estimator.predict_proba(texts))
        return predictions_frame(decide_labels(probabilities, self.decision), probabilities, self.decision)


mlflow.models.set_model(TextclfModel())
