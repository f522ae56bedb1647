"""Read a model saved by ``writer.save_state``: data only, refusing anything outside the format.

* arrays are read with ``allow_pickle=False``, so a planted pickle cannot run; large ones are
  memory-mapped (read-only), so a model with a big vocabulary loads quickly and processes serving
  the same model share its pages;
* objects are rebuilt only from scikit-learn classes, by restoring attributes, without calling
  any code named in the file;
* transformer weights are read from safetensors files inside the model folder only, by the
  inference classes of ``inference``; an int8 part (``inference: int8``) runs its ONNX graph of
  standard operators in ONNX Runtime (``int8``), which loads no code.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np

from .decision import Decision, decision_from_json
from .format import (ALLOWED_MODULE_PREFIX, ARRAYS_FOLDER, FORMAT, SAFE_TYPES, STATE_FILE, UnsafeModelError,
                     split_joined)
from .linear_tfidf import linear_tfidf_model

MMAP_BYTES = 1 << 20  # arrays above 1 MiB are memory-mapped rather than read


def load_state(folder) -> tuple[object, Decision]:
    """Return ``(estimator, decision)`` from a saved model's state folder."""
    folder = Path(folder)
    with (folder / STATE_FILE).open(encoding="utf-8") as handle:
        document = json.load(handle)
    if document.get("format") != FORMAT:
        raise UnsafeModelError(f"{folder} is not a textclf saved model (format {document.get('format')!r})")
    decoder = _Decoder(folder)
    # TF-IDF + a linear classifier predicts without importing scikit-learn (``linear_tfidf``).
    estimator = linear_tfidf_model(document["estimator"], decoder.decode) or decoder.decode(document["estimator"])
    return estimator, decision_from_json(document["decision"])


class _Decoder:
    def __init__(self, folder: Path):
        self.folder = folder
        self.arrays = folder / ARRAYS_FOLDER

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(item) for item in node]
        for key, read in self._readers.items():
            if key in node:
                return read(self, node)
        raise UnsafeModelError(f"refusing to load an unknown node {sorted(node)!r}")

    def _array(self, node):
        return self.load_array(node["__array__"])

    def load_array(self, key: str) -> np.ndarray:
        if not re.fullmatch(r"a[0-9]+", key):
            raise UnsafeModelError(f"refusing to load array {key!r}: not an array name")
        path = self.arrays / f"{key}.npy"
        try:
            return np.load(path, mmap_mode="r" if path.stat().st_size > MMAP_BYTES else None, allow_pickle=False)
        except ValueError as error:  # numpy's "Object arrays cannot be loaded when allow_pickle=False"
            raise UnsafeModelError(f"refusing to load {path}: {error}") from None

    def _tuple(self, node):
        return tuple(self.decode(item) for item in node["__tuple__"])

    def _plain_dict(self, node):
        return node["__plain_dict__"]

    def _str_int_dict(self, node):
        parts = {name: self.load_array(key) for name, key in node["__str_int_dict__"].items()}
        text = parts["keys"].tobytes().decode("utf-8")
        return dict(zip(split_joined(text, parts["key_lengths"]), parts["values"].tolist()))

    def _dict(self, node):
        return {key: self.decode(value) for key, value in node["__dict__"].items()}

    def _items(self, node):
        return {self.decode(key): self.decode(value) for key, value in node["__items__"]}

    def _scalar(self, node):
        return np.dtype(node["__scalar__"]).type(node["value"])

    def _type(self, node):
        if node["__type__"] not in SAFE_TYPES:
            raise UnsafeModelError(f"refusing to load type {node['__type__']!r}: not a plain numeric type")
        module, _, name = node["__type__"].rpartition(".")
        return getattr(importlib.import_module(module), name)

    def _object(self, node):
        return rebuild(node["__object__"], {key: self.decode(value) for key, value in node["state"].items()})

    def _encoder(self, node):
        settings = node["__encoder__"]
        if _inference(settings) == "int8":
            from .int8 import Int8EncoderFeatures as runtime
        else:
            from .inference import EncoderFeatures as runtime
        return runtime.load(self.inside(settings["folder"]), settings["max_length"], settings["batch_size"],
                            pooling=tuple(settings.get("pooling", ("mean",))), normalize=settings["normalize"])

    def _sequence_classifier(self, node):
        settings = node["__sequence_classifier__"]
        if _inference(settings) == "int8":
            from .int8 import Int8SequenceClassifier as runtime
        else:
            from .inference import SequenceClassifier as runtime
        return runtime.load(self.inside(settings["folder"]), settings["multi_label"], settings["max_length"],
                            settings["batch_size"])

    def _zeroshot(self, node):
        from .inference import ZeroShot

        settings = node["__zeroshot__"]
        label_embeddings = self.decode(settings["label_embeddings"])
        # Models saved before calibration and self-training lack these: uncalibrated, no head.
        labels = len(label_embeddings)
        offsets = self.decode(settings["offsets"]) if "offsets" in settings else np.zeros(labels, np.float32)
        scales = self.decode(settings["scales"]) if "scales" in settings else np.ones(labels, np.float32)
        return ZeroShot(self.decode(settings["encoder"]), label_embeddings, settings["temperature"], offsets, scales,
                        head=self.decode(settings.get("head")))

    def inside(self, relative: str) -> str:
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.folder.resolve()):
            raise UnsafeModelError(f"refusing to load {relative!r}: it points outside the model folder")
        return str(path)

    # Each node kind is a dict with one marker key; the first marker found decides.
    _readers = {"__array__": _array, "__tuple__": _tuple, "__plain_dict__": _plain_dict,
                "__str_int_dict__": _str_int_dict, "__dict__": _dict, "__items__": _items, "__scalar__": _scalar,
                "__type__": _type, "__object__": _object, "__encoder__": _encoder,
                "__sequence_classifier__": _sequence_classifier, "__zeroshot__": _zeroshot}


def _inference(settings: dict) -> str:
    """How a transformer part runs: ``fp32`` (torch; every model before format 3) or ``int8``
    (its int8 graph, ONNX Runtime)."""
    inference = settings.get("inference", "fp32")
    if inference not in ("fp32", "int8"):
        raise UnsafeModelError(f"refusing to load a transformer part with inference {inference!r}")
    return inference


def rebuild(path: str, state: dict):
    """An instance of the scikit-learn class ``path`` with ``state`` as its attributes."""
    module_name, _, class_name = path.rpartition(".")
    if not module_name.startswith(ALLOWED_MODULE_PREFIX):
        raise UnsafeModelError(f"refusing to load {path!r}: only scikit-learn classes may appear in a saved model")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not isinstance(cls, type):
        raise UnsafeModelError(f"refusing to load {path!r}: it is not a class")
    instance = cls.__new__(cls)
    instance.__dict__.update(state)
    return instance
