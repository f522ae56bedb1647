"""Carving splits out of train when the user gives none, and dropping evaluation texts that
train already holds (``data.overlap=drop``)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from textclf.data.dataset import Split
from textclf.data.duplicates import TextIndex, duplicate_groups, rows_in
from textclf.errors import UserError

OVERLAP_CHOICES = ("error", "drop", "keep")


def carve_missing_splits(splits: dict, validation_size: float, test_size: float, seed: int) -> dict:
    """Split train into the missing validation/test parts, stratified by primary label.

    Copies of one text (as the leakage check compares them) are carved together, so a carved
    split never shares a text with train.
    """
    from sklearn.model_selection import train_test_split

    train = splits["train"]
    groups = duplicate_groups(train.texts)  # row lists, in order of first appearance; normalised once
    total = len(groups)  # sizes are fractions of the whole file, not of what is left
    for split_name, size in (("test", test_size), ("validation", validation_size)):
        if split_name in splits:
            continue
        group_labels = [train.labels[rows[0]][0] for rows in groups]
        rare = sorted(label for label, count in Counter(group_labels).items() if count < 2)
        if rare:
            raise UserError(
                f"cannot carve a stratified {split_name} split from train: label(s) {', '.join(rare)} have one "
                f"distinct text. Fix: add examples or pass data.{split_name}=PATH"
            )
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
    if len(groups) < total:  # something was carved
        splits["train"] = subset(train, _rows_of(groups, range(len(groups))), "train")
    return splits


def drop_train_overlap(splits: dict, overlap: str) -> tuple[dict, dict[str, int]]:
    """With ``overlap="drop"``, remove from validation and test every row whose text is in
    train; return the splits and how many rows each lost. ``"error"`` leaves them for the
    leakage check to refuse, ``"keep"`` for ``textclf audit`` to report."""
    if overlap not in OVERLAP_CHOICES:
        raise UserError(f"data.overlap must be one of {', '.join(OVERLAP_CHOICES)}, got {overlap!r}. "
                        "Fix: pass data.overlap=error, drop or keep")
    if overlap in ("error", "keep"):
        return splits, {}
    train_texts = TextIndex(splits["train"].texts)
    dropped = {}
    for name in ("validation", "test"):
        split = splits[name]
        leaked = set(rows_in(split.texts, train_texts))
        if not leaked:
            continue
        if len(leaked) == len(split):
            raise UserError(f"every {name} text also appears in train, so data.overlap=drop would leave no {name} "
                            f"split. Fix: pass a {name} file with new texts, or leave data.{name} unset to carve one")
        splits[name] = subset(split, [i for i in range(len(split)) if i not in leaked], name)
        dropped[name] = len(leaked)
    return splits, dropped


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
