"""Write a fitted estimator as data only: ``state.json`` plus ``arrays/*.npy``, no pickle.

``reader`` reads it back. Loading it cannot run code: arrays are read with
``allow_pickle=False`` and objects are rebuilt only from an allow-list of scikit-learn classes,
by restoring their attributes, never by calling code named in the file.

Node encoding in ``state.json``::

    null, bool, int, float, str          as themselves
    list                                 a JSON list of nodes
    {"__tuple__": [...]}                 a tuple
    {"__dict__": {key: node}}            a dict with string keys
    {"__plain_dict__": {key: value}}     a small dict of strings to JSON scalars, stored as is
    {"__str_int_dict__": {"keys": "a1", "key_lengths": "a2", "values": "a3"}}
                                         a large dict of strings to ints (a vectorizer's
                                         vocabulary): its keys joined into one UTF-8 array, their
                                         lengths in characters, and the values; a million terms
                                         write and read in a fraction of a second, where JSON
                                         takes seconds
    {"__items__": [[k, v], ...]}         a dict with other keys
    {"__array__": "a3"}                  arrays/a3.npy (numeric, bool or unicode dtype); one plain
                                         .npy file per array, so large ones are memory-mapped on
                                         load instead of read and copied
    {"__scalar__": "float64", "value": } a NumPy scalar
    {"__type__": "numpy.float64"}        a dtype-like type (TfidfVectorizer's ``dtype``)
    {"__object__": "sklearn.x.Class", "state": {...}}  an object and its ``__dict__``
    {"__encoder__": {...}}, {"__sequence_classifier__": {...}}, {"__zeroshot__": {...}}
        a transformer part, written by its estimator's ``__textclf_state__(writer)`` into a
        subfolder (safetensors weights, tokenizer, config; with ``"inference": "int8"`` also the
        ``model.int8.onnx`` graph) and rebuilt by ``inference`` (fp32) or ``int8``
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .format import ARRAYS_FOLDER, FORMAT, FORMAT_VERSION, SAFE_TYPES, STATE_FILE, joined

PLAIN = (str, int, float, bool, type(None))
# Dicts of strings to ints at least this long are stored as arrays (__str_int_dict__).
LARGE_DICT = 1000

# Attributes used only while fitting, holding compiled objects the format cannot store. Prediction
# never reads them, so they are left out.
TRAINING_ONLY_ATTRIBUTES = {"_loss_function_"}


class UnsupportedState(TypeError):
    """An attribute the data-only format cannot hold (a function, an open file...)."""


class _Encoder:
    def __init__(self, folder: Path):
        self.folder = folder
        self.arrays: dict[str, np.ndarray] = {}
        self.packages: set[str] = set()
        self.subfolders: list[Path] = []

    def subfolder(self, prefix: str) -> tuple[Path, str]:
        """A new, empty folder inside the saved model for a part's files, and its relative name."""
        name = f"{prefix}_{sum(1 for _ in self.folder.glob(prefix + '_*'))}"
        (self.folder / name).mkdir()
        self.subfolders.append(self.folder / name)
        return self.folder / name, name

    def encode(self, value, path: str):
        if hasattr(value, "__textclf_state__"):  # our transformer parts save themselves
            return value.__textclf_state__(self)
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, np.generic):
            return {"__scalar__": value.dtype.name, "value": value.item()}
        if isinstance(value, np.ndarray):
            return self._array(value, path)
        if isinstance(value, list):
            return [self.encode(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(item, f"{path}[{i}]") for i, item in enumerate(value)]}
        if isinstance(value, dict):
            if len(value) >= LARGE_DICT and _is_str_to_int(value):
                return self._str_int_dict(value)
            if all(type(key) is str for key in value) and all(type(item) in PLAIN for item in value.values()):
                return {"__plain_dict__": value}
            if all(isinstance(key, str) for key in value):
                return {"__dict__": {key: self.encode(item, f"{path}.{key}") for key, item in value.items()}}
            return {"__items__": [[self.encode(k, path), self.encode(v, f"{path}[{k!r}]")] for k, v in value.items()]}
        if isinstance(value, type):
            name = f"{value.__module__}.{value.__qualname__}"
            if name not in SAFE_TYPES:
                raise UnsupportedState(f"{path} is the type {name}, which the saved format cannot hold")
            return {"__type__": name}
        if type(value).__module__.startswith("sklearn.") and hasattr(value, "__dict__"):
            self.packages.add("scikit-learn")
            cls = type(value)
            return {
                "__object__": f"{cls.__module__}.{cls.__qualname__}",
                "state": {
                    key: self.encode(item, f"{path}.{key}")
                    for key, item in vars(value).items()
                    if key not in TRAINING_ONLY_ATTRIBUTES
                },
            }
        raise UnsupportedState(
            f"{path} holds a {type(value).__module__}.{type(value).__qualname__}, which the saved format "
            "cannot hold; use scikit-learn estimators configured with plain values"
        )

    def _str_int_dict(self, value: dict) -> dict:
        keys, key_lengths = joined(value)
        return {"__str_int_dict__": {
            "keys": self._array(np.frombuffer(keys.encode("utf-8"), dtype=np.uint8), "keys")["__array__"],
            "key_lengths": self._array(key_lengths, "lengths")["__array__"],
            "values": self._array(np.fromiter(value.values(), dtype=np.int64, count=len(value)), "values")["__array__"],
        }}

    def array(self, array: np.ndarray, path: str = "array"):
        return self._array(array, path)

    def _array(self, array: np.ndarray, path: str):
        if array.dtype == object:
            if all(isinstance(item, str) for item in array.ravel()):
                array = array.astype(str)
            else:
                raise UnsupportedState(f"{path} is an object array, which the saved format cannot hold")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return {"__array__": key}


def _is_str_to_int(value: dict) -> bool:
    # The types of a million entries, checked at C speed: set(map(type, ...)), not a loop.
    value_types = set(map(type, value.values()))
    return set(map(type, value)) == {str} and all(issubclass(t, (int, np.integer)) and t is not bool
                                                  for t in value_types)


def save_state(estimator, decision, folder: str | Path, on_written=None) -> list[str]:
    """Save ``estimator`` and its decision rule into ``folder``; return the packages it needs.
    ``on_written(path)``, if given, is called as each file is complete."""
    import sklearn

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    encoder = _Encoder(folder)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sklearn_version": sklearn.__version__,
        "decision": decision.to_json(),
        "estimator": encoder.encode(estimator, "estimator"),
    }
    # json.dumps, not json.dump: only the one-shot call uses the C encoder (7x faster here).
    on_written = on_written or (lambda path: None)
    for part in encoder.subfolders:  # transformer parts wrote their files (weights, tokenizer) while encoding
        for path in sorted(p for p in part.rglob("*") if p.is_file()):
            on_written(path)
    (folder / STATE_FILE).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    on_written(folder / STATE_FILE)
    (folder / ARRAYS_FOLDER).mkdir(exist_ok=True)
    for key, array in encoder.arrays.items():
        np.save(folder / ARRAYS_FOLDER / f"{key}.npy", array, allow_pickle=False)
        on_written(folder / ARRAYS_FOLDER / f"{key}.npy")
    return sorted(encoder.packages)
