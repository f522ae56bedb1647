"""Checks on user data, each raising a ``UserError`` that names the rows and the fix.

They run while the data is read, before a run is started or a model is built, so a bad file never
leaves a half-written MLflow run behind.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter

from textclf.data.dataset import MissingRow
from textclf.data.duplicates import TextIndex, rows_in
from textclf.errors import TextclfWarning, UserError, did_you_mean

MAX_ROWS_SHOWN = 5
# Characters that join several labels in one cell when a file holds label sets (data.label_separator)
LIKELY_SEPARATORS = "|;,"


def _rows(indices: list[int], counted: bool = True) -> str:
    """``row(s) 4, 8``, counted from 1, and (``counted``) a word on how they are counted."""
    shown = ", ".join(str(i + 1) for i in indices[:MAX_ROWS_SHOWN])
    more = f" and {len(indices) - MAX_ROWS_SHOWN} more" if len(indices) > MAX_ROWS_SHOWN else ""
    return f"row(s) {shown}{more}" + (" (1: the first record, a CSV's header not counted)" if counted else "")


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def textless_rows(values: list) -> list[int]:
    """Rows with no text: missing, or only spaces (a CSV's "" reads as missing, its "   " as a
    blank string)."""
    return [i for i, value in enumerate(values) if _is_missing(value) or (isinstance(value, str) and not value.strip())]


def normalise_texts(values: list, split: str, source: str, skip: frozenset[int] = frozenset()) -> tuple[str, ...]:
    """Return the texts as strings, leaving out the rows in ``skip``: those ``missing_rows`` found
    (it refuses them first, or lists them for ``data.missing=drop``). Reject non-text values; the
    rows named count every row."""
    non_text = [i for i, value in enumerate(values) if not isinstance(value, str) and i not in skip]
    if non_text:
        raise UserError(
            f"{split} data ({source}) has non-text values in the text column at {_rows(non_text)} "
            f"(e.g. {values[non_text[0]]!r}). Fix: make the text column hold strings"
        )
    return tuple(value for i, value in enumerate(values) if i not in skip)


MISSING_CHOICES = ("error", "drop")  # data.missing


def missing_rows(name: str, source: str, texts: list, labels: tuple[tuple[str, ...], ...], ids: list[str],
                 missing: str) -> tuple[MissingRow, ...]:
    """The rows with no text or no label (``labels``: ``parse_labels``'s), to leave out
    (``missing="drop"``); ``"error"`` refuses them, both kinds in one line."""
    if missing not in MISSING_CHOICES:
        raise UserError(f"data.missing must be one of {', '.join(MISSING_CHOICES)}, got {missing!r}. "
                        "Fix: pass data.missing=error or drop")
    textless, labelless = textless_rows(texts), [i for i, row in enumerate(labels) if not row]
    if missing == "error":
        _refuse_missing(f"{name} data ({source})", textless, labelless)
        return ()
    textless, labelless = set(textless), set(labelless)
    problems = {row: " and ".join(part for part, lacking in (("no text", row in textless), ("no label", row in labelless))
                                  if lacking) for row in sorted(textless | labelless)}
    if len(problems) == len(texts):
        raise UserError(f"{name} data ({source}) has no row with both a text and a label. "
                        "Fix: check data.text_column and data.label_column")
    return tuple(MissingRow(name, row, ids[row], "" if row in textless else str(texts[row]), problem)
                 for row, problem in problems.items())


def _refuse_missing(data: str, textless: list[int], labelless: list[int]) -> None:
    if textless and labelless:
        raise UserError(f"{data} has no text (empty, missing or only spaces) in {_rows(textless)} and no label in "
                        f"{_rows(labelless, counted=False)}. Fix: fill, label or drop those rows, or pass "
                        "data.missing=drop")
    if textless:
        raise UserError(f"{data} has no text (empty, missing or only spaces) in {_rows(textless)}. "
                        "Fix: fill or drop those rows, or pass data.missing=drop")
    if labelless:
        raise UserError(f"{data} has missing or empty labels at {_rows(labelless)}. "
                        "Fix: label or drop those rows, or pass data.missing=drop")


def parse_labels(values: list, split: str, source: str, separator: str | None) -> tuple[tuple[str, ...], ...]:
    """Each row's labels as a tuple of strings, primary label first; ``()`` for a row with none
    (``missing_rows`` finds those). Parsed once: the rows without labels and the labels kept both
    come from here.

    A cell may hold one label, a list of labels, or labels joined by ``separator``.
    """
    return tuple(_labels_of(value, i, split, source, separator) for i, value in enumerate(values))


def _labels_of(value, row: int, split: str, source: str, separator: str | None) -> tuple[str, ...]:
    """One cell's labels, without repeats, in order; () when it holds none."""
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays and scalars from Parquet
        value = value.tolist()
    if isinstance(value, (list, tuple)) and any(isinstance(item, (list, tuple, dict)) for item in value):
        raise UserError(f"{split} data ({source}) has a list or mapping inside a label list at {_rows([row])} "
                        f"({value!r}). Fix: give each row a flat list of labels")
    if isinstance(value, (list, tuple)):
        labels = [_label_text(item) for item in value if not _is_missing(item)]
    elif _is_missing(value):
        labels = []
    elif isinstance(value, str) and separator:
        labels = [part.strip() for part in value.split(separator)]
    else:
        labels = [_label_text(value)]
    return tuple(dict.fromkeys(label for label in labels if label))  # drop repeats, keep order


def _label_text(value) -> str:
    """A label as text. A whole number stored as a float (``1.0``: a Parquet or JSONL column of
    integer labels that pandas read as floats) is ``"1"``, as a CSV's ``1`` is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def say_if_labels_look_joined(rows, split: str, source: str) -> None:
    """A label made of other labels and a separator (``climate;health`` beside ``climate`` and
    ``health``) is most likely a label set read as one label: said once, as a warning."""
    names = {label for row in rows for label in row}
    for mark in LIKELY_SEPARATORS:
        joined = sorted(name for name in names
                        if mark in name and all(part.strip() in names for part in name.split(mark)))
        if joined:
            warnings.warn(f"{split} data ({source}) has {len(joined)} label(s) made of other labels joined by "
                          f"{mark!r} (e.g. {joined[0]!r}), each read as a label of its own. If a text can have "
                          f"several labels, pass \"data.label_separator='{mark}'\" task=multilabel", TextclfWarning, stacklevel=2)
            return


def check_unique_ids(ids: tuple[str, ...], split: str, source: str) -> None:
    repeated = [i for i, count in Counter(ids).items() if count > 1]
    if repeated:
        raise UserError(f"{split} data ({source}) has duplicate ids ({', '.join(map(repr, repeated[:MAX_ROWS_SHOWN]))}). "
                        "Fix: make the id column unique, or set data.id_column=null")


def _check_no_leak(dataset) -> None:
    """No validation or test text in train, and no test text in validation (the champion is chosen
    on validation: its texts in test would make the test score repeat it)."""
    in_train, in_validation = TextIndex(dataset.train.texts), TextIndex(dataset.validation.texts)
    for split, other, index in ((dataset.validation, "train", in_train), (dataset.test, "train", in_train),
                                (dataset.test, "validation", in_validation)):
        leaked = rows_in(split.texts, index)
        if leaked:
            raise UserError(f"{len(leaked)} {split.name} text(s) also appear in {other} ({split.name} "
                            f"{_rows(leaked)}); scores would be inflated. Fix: pass data.overlap=drop to drop "
                            "them from validation and test, or remove them from one of the files")


def check_dataset(dataset, leakage: bool = True, labels_in_train: bool = True) -> None:
    """Cross-split checks: ids, enough classes, no label train lacks (unless ``labels_in_train``
    is False: the audit reports them), and leakage (unless ``leakage`` is False:
    ``data.overlap=keep``)."""
    seen: dict[str, str] = {}
    for split in dataset.splits:
        clashes = [i for i in split.ids if seen.get(i, split.name) != split.name]
        if clashes:
            raise UserError(f"id {clashes[0]!r} is in both {seen[clashes[0]]} and {split.name}. "
                            "Fix: make ids unique across splits")
        seen.update(dict.fromkeys(split.ids, split.name))
    if len(dataset.label_names) < 2:
        raise UserError(
            f"train data has a single class ({dataset.label_names[0]!r}); a classifier needs at least two. "
            "Fix: add examples of other labels"
        )
    # A label with a single training example is not refused: every model trains on it
    # (tfidf_linearsvc's calibration says, in a warning, how it copes with fewer than 3).
    if labels_in_train:
        check_labels_in_train(dataset)
    if leakage:
        _check_no_leak(dataset)


def check_labels_in_train(dataset) -> None:
    """No validation or test label that train lacks: a model never trained on it cannot predict it.
    Every split that has such labels is named, in one line."""
    known = {label for row in dataset.train.labels for label in row}
    found, unknown_names = [], set()
    for split in dataset.eval_splits:
        unknown = Counter(label for row in split.labels for label in row if label not in known)
        unknown_names |= set(unknown)
        if unknown:
            names = ", ".join(repr(label) + did_you_mean(label, sorted(known))
                              for label, _ in unknown.most_common(MAX_ROWS_SHOWN))
            found.append(f"{split.name} data ({split.source}) has label(s) {names}")
    if found:
        raise UserError(f"{' and '.join(found)} that never occur in train. "
                        + (joined_labels_fix(unknown_names, known) or
                           "Fix: add training examples of them or drop those rows (or correct a misspelt label)"))


def joined_labels_fix(labels, known) -> str | None:
    """The Fix for unknown labels made of train's labels and a separator (``trade|health``): the
    file lists label sets, read as single labels without ``data.label_separator``."""
    for mark in LIKELY_SEPARATORS:
        if any(mark in label and all(part.strip() in known for part in label.split(mark)) for label in labels):
            return (f"Fix: if a cell lists several labels, pass \"data.label_separator='{mark}'\" task=multilabel")
    return None


def check_own_train_file_with_the_bundled_corpus(data, chosen: str | None, bundled_folder: str) -> None:
    """``data.train=PATH`` without ``data=files`` keeps the bundled corpus's validation and test
    splits, columns and name: the user's file was read against them (``has no text column``, with
    a Fix that led in a circle) or, with them set to null, trained and registered as the corpus.
    ``data``: the data config; ``chosen``: the data config group's choice (None: not known, then
    its name tells); ``bundled_folder``: where the bundled corpus's files are."""
    from pathlib import Path

    if (chosen or data.get("name")) != "diplomacy" or data.get("train") is None:
        return
    bundled = Path(bundled_folder).expanduser().resolve()
    if Path(str(data.train)).expanduser().resolve().parent != bundled:
        raise UserError(f"data.train={data.train} is a file of your own, but the data settings are still the "
                        "bundled corpus's (data=diplomacy: its validation and test splits, columns and name). "
                        f"Fix: pass data=files data.train={data.train} (validation and test are carved out of it "
                        "unless you pass data.validation and data.test)")

