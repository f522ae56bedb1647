"""Carving splits out of train when the user gives none, and dropping evaluation texts that
train already holds, and test texts validation holds (``data.overlap=drop``)."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np

from textclf.data.checks import LIKELY_SEPARATORS
from textclf.data.dataset import Split
from textclf.data.duplicates import TextIndex, duplicate_groups, rows_in
from textclf.errors import TextclfWarning, UserError

OVERLAP_CHOICES = ("error", "drop", "keep")
MAX_LABELS_SHOWN = 5  # in a warning naming labels


def carve_missing_splits(splits: dict, validation_size: float, test_size: float, seed: int) -> dict:
    """Split train into the missing validation/test parts, stratified by primary label.

    Copies of one text (as the leakage check compares them) are carved together, so a carved
    split never shares a text with train.
    """
    from sklearn.model_selection import train_test_split

    _check_sizes(splits, validation_size, test_size)
    train = splits["train"]
    groups = carving_units(train)  # row lists, in order of first appearance
    total = len(groups)  # sizes are fractions of the whole file, not of what is left
    # a label too rare to carve one split is too rare for the other: the fix names both
    carved = [name for name in ("validation", "test") if name not in splits]
    group_labels = [train.labels[rows[0]][0] for rows in groups]  # what each unit is stratified by
    _check_strata(train, groups, group_labels, carved)
    for split_name, size in (("test", test_size), ("validation", validation_size)):
        if split_name in splits:
            continue
        try:
            keep, carve = train_test_split(np.arange(len(groups)), test_size=max(1, round(size * total)),
                                           random_state=seed, stratify=group_labels)
        except ValueError as error:
            left = sum(len(rows) for rows in groups)
            raise UserError(
                f"cannot carve a {split_name} split of size {size} from {left} training texts: {error}. "
                f"Fix: pass data.{split_name}=PATH or change data.{split_name}_size"
            ) from None
        splits[split_name] = subset(train, _rows_of(groups, carve), split_name)
        groups = [groups[group] for group in sorted(keep)]  # what is left of train, in the same order
        group_labels = [train.labels[rows[0]][0] for rows in groups]
    if len(groups) < total:  # something was carved
        splits["train"] = subset(train, _rows_of(groups, range(len(groups))), "train")
    return splits


def not_carved(splits: dict) -> dict:
    """The splits, with an empty one for each of validation and test not given (``textclf audit``)."""
    return {name: splits[name] if name in splits else Split(name, (), (), (), "not given (not carved)")
            for name in ("train", "validation", "test")}


def check_carvable(train: Split, carved: list[str]) -> None:
    """Raise the ``UserError`` carving ``carved`` (``["validation", "test"]`` or one of them) out of
    ``train`` would, when a label is too rare to be in each."""
    units = carving_units(train)
    _check_strata(train, units, [train.labels[rows[0]][0] for rows in units], carved)


def _check_sizes(splits: dict, validation_size: float, test_size: float) -> None:
    """The fractions of train to carve: each between 0 and 1, together leaving some to train on."""
    for split_name, size in (("validation", validation_size), ("test", test_size)):
        if split_name not in splits and not (isinstance(size, (int, float)) and not isinstance(size, bool)
                                             and 0 < size < 1):
            raise UserError(f"data.{split_name}_size is the fraction of train carved out as the {split_name} split, "
                            f"between 0 and 1; got {size!r}. Fix: pass e.g. data.{split_name}_size=0.15, or "
                            f"data.{split_name}=PATH")
    if "validation" not in splits and "test" not in splits and validation_size + test_size >= 1:
        raise UserError(f"data.validation_size + data.test_size must leave some of train to train on; got "
                        f"{validation_size} + {test_size}. Fix: pass smaller sizes, e.g. 0.15 each")


def _check_strata(train, groups: list, group_labels: list, carved: list[str]) -> None:
    """A label must lead, and with groups be in, one unit (a distinct text, or a group) more than
    the splits carved: each carved split stratifies on it, and train keeps one. Checked before
    anything is carved, so the count said is the file's (it said "one" of a label with two, after
    carving test had taken the other)."""
    needed = len(carved) + 1
    files_to_pass = " and ".join(f"data.{name}=PATH" for name in carved)
    units_with = Counter(label for rows in groups for label in {train.labels[row][0] for row in rows})
    leading = Counter(group_labels)  # the strata: each carved split takes some of each
    # a label in a group (or on a copy of a text) it does not lead only needs two units, as before
    counts = {label: min(count, leading[label]) if label in leading else count for label, count in units_with.items()}
    needs = {label: needed if label in leading else 2 for label in counts}
    if all(count < 2 for count in counts.values()) and len(counts) > 2:  # most likely the wrong column (ids, texts)
        raise UserError(f"each of the {len(counts)} labels in train has a single distinct text (e.g. "
                        f"{', '.join(repr(label) for label in sorted(counts)[:3])}): is data.label_column the column "
                        "of labels? Fix: pass data.label_column=NAME of the column that holds them")
    rare = sorted(label for label, count in counts.items() if count < needs[label])
    if rare:
        joined = next(((label, mark) for label in rare for mark in LIKELY_SEPARATORS if mark in label), None)
        hint = (f", or if {joined[0]!r} is several labels, pass \"data.label_separator='{joined[1]}'\""
                if joined else "")
        unit = "distinct text" + (" or group" if train.groups else "")
        shown = ", ".join(f"{label} ({counts[label]})" for label in rare[:MAX_LABELS_SHOWN])
        more = f" and {len(rare) - MAX_LABELS_SHOWN} more" if len(rare) > MAX_LABELS_SHOWN else ""
        raise UserError(
            f"cannot carve a stratified {' and '.join(carved)} split from train: it needs {needed} of each label "
            f"(one {unit} for each split carved, one to train on), and label(s) {shown}{more} have fewer. "
            f"Fix: add examples or pass {files_to_pass}{hint}"
        )


def drop_overlap(splits: dict, overlap: str) -> tuple[dict, dict[str, int]]:
    """With ``overlap="drop"``, remove from validation and test every row whose text is in
    train, and from test every row whose text is in validation (the champion is chosen on
    validation: the same texts in test would score it twice); return the splits and how many rows
    each lost. ``"error"`` leaves them for the leakage check to refuse, ``"keep"`` for
    ``textclf audit`` to report."""
    if overlap not in OVERLAP_CHOICES:
        raise UserError(f"data.overlap must be one of {', '.join(OVERLAP_CHOICES)}, got {overlap!r}. "
                        "Fix: pass data.overlap=error, drop or keep")
    if overlap in ("error", "keep"):
        return splits, {}
    in_train = TextIndex(splits["train"].texts)
    dropped = {}
    for name, earlier in (("validation", ("train",)), ("test", ("train", "validation"))):
        split = splits[name]
        leaked = set(rows_in(split.texts, in_train))
        if name == "test":  # nor in validation, as it is left once train's texts are gone
            leaked |= set(rows_in(split.texts, TextIndex(splits["validation"].texts)))
        if not leaked:
            continue
        if len(leaked) == len(split):
            raise UserError(f"every {name} text also appears in {' or '.join(earlier)}, so data.overlap=drop would "
                            f"leave no {name} split. Fix: pass a {name} file with new texts, or leave data.{name} "
                            "unset to carve one")
        splits[name] = subset(split, [i for i in range(len(split)) if i not in leaked], name)
        dropped[name] = len(leaked)
    return splits, dropped


def carving_units(split: Split) -> list[list[int]]:
    """Rows that must land in the same carved split, in order of first appearance: copies of one
    text or, with a group column (``cv.group_column``), every row of one group, so that a group
    kept in one cross-validation fold is not also in the carved test split. (A text repeated in
    several groups is then left to the overlap check, ``data.overlap``: joining the groups through
    it would let one repeated line, a sign-off, chain most of the articles together.)"""
    if not split.groups:
        return duplicate_groups(split.texts)
    units: dict[str, list[int]] = {}
    for row, group in enumerate(split.groups):
        units.setdefault(group, []).append(row)
    return list(units.values())


def _rows_of(groups: list[list[int]], chosen) -> list[int]:
    return sorted(row for group in chosen for row in groups[group])


def subset(split: Split, rows, name: str) -> Split:
    return Split(
        name=name,
        texts=tuple(split.texts[i] for i in rows),
        labels=tuple(split.labels[i] for i in rows),
        ids=tuple(split.ids[i] for i in rows),
        source=split.source,
        groups=tuple(split.groups[i] for i in rows) if split.groups else (),
    )


def keep_per_label(train: Split, per_label: int | None, seed: int) -> Split:
    """``per_label`` training texts of each primary label, drawn at random (seeded by ``seed``), in
    their original order; a label with fewer keeps all of them. None keeps everything
    (``data.per_label``: learning curves, few-shot models)."""
    if per_label is None:
        return train
    if not isinstance(per_label, int) or isinstance(per_label, bool) or per_label < 1:
        raise UserError(f"data.per_label must be a whole number of 1 or more, or null for every text; got "
                        f"{per_label!r}. Fix: pass e.g. data.per_label=8")
    rng = np.random.default_rng(seed)
    rows_of: dict[str, list[int]] = {}
    for row, label in enumerate(train.primary_labels):
        rows_of.setdefault(label, []).append(row)
    kept = sorted(row for label in sorted(rows_of) for row in
                  rng.choice(rows_of[label], size=min(per_label, len(rows_of[label])), replace=False).tolist())
    short = {label: len(rows) for label, rows in sorted(rows_of.items()) if len(rows) < per_label}
    if short:
        shown = ", ".join(f"{label!r} ({count})" for label, count in list(short.items())[:MAX_LABELS_SHOWN])
        warnings.warn(f"data.per_label={per_label}: {len(short)} of {len(rows_of)} labels have fewer training texts, "
                      f"and keep all of theirs: {shown}{', ...' if len(short) > MAX_LABELS_SHOWN else ''}",
                      TextclfWarning, stacklevel=2)
    return subset(train, kept, train.name)
