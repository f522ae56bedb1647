"""Names shared by the writer and the reader of the saved format, and its way of storing many
strings (``joined``, ``split_joined``)."""

from __future__ import annotations

from collections.abc import Collection, Iterator

import numpy as np

FORMAT = "textclf-state"
# 1: the first format. 2: decisions carry a "kind"; encoders carry their pooling. 3: transformer
# parts carry their "inference" (fp32, or int8 with a model.int8.onnx graph). The reader reads all.
FORMAT_VERSION = 3
STATE_FILE = "state.json"
ARRAYS_FOLDER = "arrays"
# Objects are rebuilt only from classes in these modules, by restoring their attributes.
ALLOWED_MODULE_PREFIX = "sklearn."
# Types that may appear as values (TfidfVectorizer's ``dtype``).
SAFE_TYPES = {"numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "builtins.float", "builtins.int"}


class UnsafeModelError(ValueError):
    """The saved model holds something the data-only format does not allow."""


def joined(strings: Collection[str]) -> tuple[str, np.ndarray]:
    """``strings`` (a list, or a dict: its keys) as one string and their lengths: one object to
    store or pickle, not one per string (a vocabulary's keys in a saved model, a forked count's
    terms)."""
    return "".join(strings), np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))


def split_joined(text: str, lengths: np.ndarray) -> Iterator[str]:
    """The strings ``joined`` made ``text`` of, one at a time (new strings, side by side in memory)."""
    start = 0
    for end in np.cumsum(lengths).tolist():
        yield text[start:end]
        start = end
