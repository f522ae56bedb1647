"""The MLflow pyfunc model that every textclf model is saved as (an MLflow "model from code").

MLflow copies this file into the model and runs it on load, so it must not import textclf: a model
loads wherever numpy, pandas, scikit-learn and mlflow are installed. It reads the data-only format
written by ``textclf.model_state`` and refuses anything outside it:

* arrays are read with ``allow_pickle=False``, so a planted pickle cannot run; large ones are
  memory-mapped (read-only), so loading a model with a big vocabulary is quick and processes
  serving the same model share its pages;
* objects are rebuilt only from scikit-learn classes, by restoring attributes, without calling
  any code named in the file;
* transformer weights are read from safetensors files inside the model folder only
  (``use_safetensors=True``, no remote code), by the three inference classes defined here.

Input: a DataFrame with a ``text`` column. Output: a DataFrame with ``label`` (multiclass) or
``labels`` (multilabel, a list) and one ``prob_<class>`` column per class.

textclf's training process imports this file too, for ``decide_labels`` and ``tag_texts``; mlflow
is imported only where MLflow runs the file as a model's code, so training does not pay for it.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

FORMAT = "textclf-state"
ALLOWED_MODULE_PREFIX = "sklearn."
MMAP_BYTES = 1 << 20  # arrays above 1 MiB are memory-mapped rather than read
SAFE_TYPES = {"numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "builtins.float", "builtins.int"}


class UnsafeModelError(ValueError):
    """The saved model holds something the data-only format does not allow."""


def load_state(folder):
    """Return ``(estimator, decision)`` from a folder written by ``textclf.model_state.save_state``."""
    folder = Path(folder)
    with (folder / "state.json").open(encoding="utf-8") as handle:
        document = json.load(handle)
    if document.get("format") != FORMAT:
        raise UnsafeModelError(f"{folder} is not a textclf saved model (format {document.get('format')!r})")
    return _decode(document["estimator"], folder / "arrays", folder), document["decision"]


def _load_array(arrays: Path, key: str) -> np.ndarray:
    if not re.fullmatch(r"a[0-9]+", key):
        raise UnsafeModelError(f"refusing to load array {key!r}: not an array name")
    path = arrays / f"{key}.npy"
    try:
        return np.load(path, mmap_mode="r" if path.stat().st_size > MMAP_BYTES else None, allow_pickle=False)
    except ValueError as error:  # numpy's "Object arrays cannot be loaded when allow_pickle=False"
        raise UnsafeModelError(f"refusing to load {path}: {error}") from None


def _decode(node, arrays, folder: Path):
    def decode(item):
        return _decode(item, arrays, folder)

    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [decode(item) for item in node]
    if "__array__" in node:
        return _load_array(arrays, node["__array__"])
    if "__tuple__" in node:
        return tuple(decode(item) for item in node["__tuple__"])
    if "__plain_dict__" in node:
        return node["__plain_dict__"]
    if "__str_int_dict__" in node:
        parts = {name: _load_array(arrays, key) for name, key in node["__str_int_dict__"].items()}
        text = parts["keys"].tobytes().decode("utf-8")
        ends = np.cumsum(parts["key_lengths"]).tolist()
        keys = [text[start:end] for start, end in zip([0, *ends[:-1]], ends)]
        return dict(zip(keys, parts["values"].tolist()))
    if "__dict__" in node:
        return {key: decode(value) for key, value in node["__dict__"].items()}
    if "__items__" in node:
        return {decode(key): decode(value) for key, value in node["__items__"]}
    if "__scalar__" in node:
        return np.dtype(node["__scalar__"]).type(node["value"])
    if "__type__" in node:
        if node["__type__"] not in SAFE_TYPES:
            raise UnsafeModelError(f"refusing to load type {node['__type__']!r}: not a plain numeric type")
        module, _, name = node["__type__"].rpartition(".")
        return getattr(importlib.import_module(module), name)
    if "__object__" in node:
        return _rebuild(node["__object__"], {key: decode(value) for key, value in node["state"].items()})
    if "__encoder__" in node:
        settings = node["__encoder__"]
        return EncoderFeatures.load(_inside(folder, settings["folder"]), settings["max_length"],
                                    settings["normalize"], settings["batch_size"])
    if "__sequence_classifier__" in node:
        settings = node["__sequence_classifier__"]
        return SequenceClassifier.load(_inside(folder, settings["folder"]), settings["multi_label"],
                                       settings["max_length"], settings["batch_size"])
    if "__zeroshot__" in node:
        settings = node["__zeroshot__"]
        return ZeroShot(decode(settings["encoder"]), decode(settings["label_embeddings"]), settings["temperature"])
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


def _inside(base: Path, relative: str) -> str:
    path = (base / relative).resolve()
    if not path.is_relative_to(base.resolve()):
        raise UnsafeModelError(f"refusing to load {relative!r}: it points outside the model folder")
    return str(path)


def _length_sorted_batches(tokenizer, texts: list[str], batch_size: int, max_length: int):
    """Yield (row indices, tokenised batch), texts sorted by length so each batch pads little."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        yield rows, tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")


class EncoderFeatures:
    """Mean-pooled token embeddings of a transformers encoder (the sentence-transformers recipe).

    Texts are encoded in batches sorted by length, so each batch pads only to its longest text.
    """

    def __init__(self, model, tokenizer, folder: str, max_length: int, normalize: bool, batch_size: int):
        self.model, self.tokenizer, self.folder = model.eval(), tokenizer, folder
        self.max_length, self.normalize, self.batch_size = max_length, normalize, batch_size

    @classmethod
    def load(cls, folder: str, max_length: int, normalize: bool, batch_size: int, local_files_only: bool = True):
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=local_files_only)
        model = AutoModel.from_pretrained(folder, local_files_only=local_files_only, use_safetensors=True)
        return cls(model, tokenizer, folder, max_length, normalize, batch_size)

    def transform(self, texts) -> np.ndarray:
        return self.encode(list(texts))

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        import torch

        vectors = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        batches = _length_sorted_batches(self.tokenizer, texts, self.batch_size, self.max_length)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="encoding", unit="batch", total=-(-len(texts) // self.batch_size))
        with torch.inference_mode():
            for rows, batch in batches:
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                vectors[rows] = pooled.numpy()
        return vectors


class SequenceClassifier:
    """A fine-tuned transformers sequence classifier: softmax, or sigmoid per label."""

    def __init__(self, model, tokenizer, multi_label: bool, max_length: int, batch_size: int):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.multi_label, self.max_length, self.batch_size = multi_label, max_length, batch_size

    @classmethod
    def load(cls, folder: str, multi_label: bool, max_length: int, batch_size: int):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True,
                                                                   use_safetensors=True)
        return cls(model, tokenizer, multi_label, max_length, batch_size)

    def predict_proba(self, texts) -> np.ndarray:
        import torch

        texts = list(texts)
        probabilities = np.zeros((len(texts), self.model.config.num_labels), dtype=np.float64)
        with torch.inference_mode():
            for rows, batch in _length_sorted_batches(self.tokenizer, texts, self.batch_size, self.max_length):
                logits = self.model(**batch).logits.double()
                scores = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
                probabilities[rows] = scores.numpy()
        return probabilities


class ZeroShot:
    """Scores labels by cosine similarity between a text and each label's description."""

    def __init__(self, encoder: EncoderFeatures, label_embeddings: np.ndarray, temperature: float):
        self.encoder, self.label_embeddings, self.temperature = encoder, label_embeddings, temperature

    def predict_proba(self, texts) -> np.ndarray:
        similarity = self.encoder.transform(texts) @ self.label_embeddings.T / self.temperature
        similarity -= similarity.max(axis=1, keepdims=True)
        exponent = np.exp(similarity.astype(np.float64))
        return exponent / exponent.sum(axis=1, keepdims=True)


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


def tag_texts(estimator, decision: dict, texts: list[str]) -> pd.DataFrame:
    """What the served model returns for ``texts``: labels and per-class probabilities."""
    probabilities = np.asarray(estimator.predict_proba(texts))
    return predictions_frame(decide_labels(probabilities, decision), probabilities, decision)


def python_model():
    """The MLflow ``PythonModel`` that tags texts with a model saved in the data-only format."""
    import mlflow

    class TextclfModel(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.estimator, self.decision = load_state(context.artifacts["state"])

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            if "text" not in model_input.columns:
                raise ValueError(f"input needs a 'text' column; it has {list(model_input.columns)}")
            return tag_texts(self.estimator, self.decision, model_input["text"].astype(str).tolist())

    return TextclfModel()


if __name__ != "textclf.pyfunc_model":  # MLflow is running this file as a saved model's code
    import mlflow

    mlflow.models.set_model(python_model())
