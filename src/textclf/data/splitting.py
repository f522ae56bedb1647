"""Carving splits out of train: validation and test when the user gives none."""

from __future__ import annotations

import numpy as np
import pandas as pd

from textclf.data.dataset import Split
from textclf.errors import UserError


def carve_missing_splits(splits: dict, validation_size: float, test_size: float, seed: int) -> dict:
    """Split train into the missing validation/test parts, stratified by primary label."""
    from sklearn.model_selection import train_test_split

    train = splits["train"]
    total = len(train)  # sizes are fractions of the whole file, not of what is left
    for split_name, size in (("test", test_size), ("validation", validation_size)):
        if split_name in splits:
            continue
        order = np.arange(len(train))
        primaries = train.primary_labels
        counts = pd.Series(primaries).value_counts()
        if (counts < 2).any():
            rare = ", ".join(counts[counts < 2].index.astype(str))
            raise UserError(
                f"cannot carve a stratified {split_name} split from train: label(s) {rare} have one "
                f"example. Fix: add examples or pass data.{split_name}=PATH"
            )
        try:
            keep, carve = train_test_split(order, test_size=max(1, round(size * total)), random_state=seed,
                                           stratify=primaries)
        except ValueError as error:
            raise UserError(
                f"cannot carve a {split_name} split of size {size} from {len(train)} training texts: {error}. "
                f"Fix: pass data.{split_name}=PATH or change data.{split_name}_size"
            ) from None
        splits[split_name] = subset(train, sorted(carve), split_name)
        train = subset(train, sorted(keep), "train")
    splits["train"] = train
    return splits


def subset(split: Split, rows, name: str) -> Split:
    return Split(
        name=name,
        texts=tuple(split.texts[i] for i in rows),
        labels=tuple(split.labels[i] for i in rows),
        ids=tuple(split.ids[i] for i in rows),
        source=split.source,
    )
