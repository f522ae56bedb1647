"""Labeled text splits: read from files or Hugging Face datasets, checked, and frozen.

Data crosses module boundaries as ``Dataset`` and ``Split``: frozen dataclasses of tuples. The
readers in this module are what ``configs/data/*.yaml`` point at with ``_target_``; each returns a
``Dataset`` whose problems (missing file or column, empty text, unknown label...) have already been
raised as ``UserError`` before any training starts.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textclf.errors import UserError
from textclf.validation import check_dataset, check_unique_ids, normalise_labels, normalise_texts

READERS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Split:
    """One split of labeled texts. ``labels[i]`` lists text i's labels, primary label first."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    ids: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def primary_labels(self) -> tuple[str, ...]:
        return tuple(row[0] for row in self.labels)

    @functools.cached_property
    def content_hash(self) -> str:
        """SHA-256 of every text and label, so two runs can tell whether they saw the same data."""
        digest = hashlib.sha256()
        for text, labels in zip(self.texts, self.labels):
            # Length-prefixed, so no two different splits hash the same bytes.
            record = "\x1f".join((text, *labels))
            digest.update(f"{len(text)}:{len(labels)}:{len(record)}:{record}".encode())
        return digest.hexdigest()

    def summary(self) -> "SplitSummary":
        return SplitSummary(self.name, self.source, len(self), self.content_hash)


@dataclass(frozen=True)
class SplitSummary:
    """What the tracking store records about a split: its origin, size and content hash."""

    name: str
    source: str
    rows: int
    content_hash: str


@dataclass(frozen=True)
class DatasetSummary:
    """What the tracking store records about a dataset (no texts: those stay in training)."""

    name: str
    content_hash: str
    label_names: tuple[str, ...]
    splits: tuple[SplitSummary, ...]


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits plus the sorted label set learned from train."""

    name: str
    train: Split
    validation: Split
    test: Split
    label_names: tuple[str, ...]

    @property
    def splits(self) -> tuple[Split, Split, Split]:
        return (self.train, self.validation, self.test)

    @functools.cached_property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for split in self.splits:
            digest.update(f"{split.name}:{split.content_hash}".encode())
        return digest.hexdigest()

    def summary(self) -> DatasetSummary:
        return DatasetSummary(self.name, self.content_hash, self.label_names,
                              tuple(split.summary() for split in self.splits))


def load_files(
    name: str,
    train: str,
    validation: str | None = None,
    test: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
    label_separator: str | None = None,
    validation_size: float = 0.15,
    test_size: float = 0.15,
    split_seed: int = 0,
) -> Dataset:
    """Read labeled texts from CSV, JSONL or Parquet files.

    Parameters
    ----------
    name : str
        Dataset name, used for the MLflow experiment and registered model.
    train, validation, test : str
        Paths. A missing validation or test split is carved out of train with a split stratified
        by primary label and seeded by ``split_seed``.
    text_column, label_column, id_column : str
        Column names. The label column holds a string, a list of strings (JSONL, Parquet), or a
        string of labels joined by ``label_separator`` for multi-label data.
    """
    frames = {"train": _read_table(train, "train")}
    for split_name, path in (("validation", validation), ("test", test)):
        if path is not None:
            frames[split_name] = _read_table(path, split_name)
    splits = {
        split_name: _to_split(split_name, frame, source, text_column, label_column, id_column, label_separator)
        for split_name, (frame, source) in frames.items()
    }
    splits = _carve_missing_splits(splits, validation_size, test_size, split_seed)
    return _finish(name, splits)


def load_hf(
    name: str,
    path: str,
    config_name: str | None = None,
    train_split: str = "train",
    validation_split: str | None = "validation",
    test_split: str | None = "test",
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
    label_separator: str | None = None,
    validation_size: float = 0.15,
    test_size: float = 0.15,
    split_seed: int = 0,
) -> Dataset:
    """Read a dataset with ``datasets.load_dataset`` (a local folder, or a hub name when online).

    Integer ``ClassLabel`` columns are mapped to their names, so labels are always strings.
    """
    import datasets  # heavy; only this reader needs it

    try:
        loaded = datasets.load_dataset(path, config_name)
    except Exception as error:  # datasets raises many types for "not found"/"offline"
        raise UserError(
            f"could not load Hugging Face dataset {path!r}: {str(error).splitlines()[0]}. "
            "Fix: pass a local dataset folder or, when online, a hub name with data.path=..."
        ) from None
    wanted = {"train": train_split, "validation": validation_split, "test": test_split}
    splits = {}
    for split_name, hf_split in wanted.items():
        if hf_split is None or hf_split not in loaded:
            if split_name == "train":
                raise UserError(
                    f"dataset {path!r} has no split {hf_split!r} (it has {sorted(loaded)}). "
                    "Fix: set data.train_split to one of them."
                )
            continue
        part = loaded[hf_split]
        frame = part.to_pandas()
        feature = part.features.get(label_column)
        if isinstance(feature, datasets.ClassLabel):
            frame[label_column] = [feature.int2str(int(value)) for value in frame[label_column]]
        splits[split_name] = _to_split(
            split_name, frame, f"{path}:{hf_split}", text_column, label_column, id_column, label_separator
        )
    splits = _carve_missing_splits(splits, validation_size, test_size, split_seed)
    return _finish(name, splits)


def _read_table(path: str, split_name: str) -> tuple[pd.DataFrame, str]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"{split_name} file not found: {file}. Fix: pass an existing file with data.{split_name}=PATH")
    kind = READERS.get(file.suffix.lower())
    if kind is None:
        raise UserError(
            f"{split_name} file {file} has an unsupported extension {file.suffix!r}. "
            f"Fix: use one of {', '.join(sorted(READERS))}"
        )
    try:
        if kind == "csv":
            frame = pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
        elif kind == "jsonl":
            frame = pd.read_json(file, lines=True, dtype=False, encoding="utf-8")
        else:
            frame = pd.read_parquet(file)
    except UnicodeDecodeError as error:
        raise UserError(
            f"{split_name} file {file} is not valid UTF-8 (byte {error.start}). Fix: re-save it as UTF-8"
        ) from None
    except (ValueError, pd.errors.ParserError, OSError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"could not parse {split_name} file {file} as {kind}: {detail}. Fix: check its quoting and format"
        ) from None
    if frame.empty:
        raise UserError(f"{split_name} file {file} has no rows. Fix: pass a file with labeled texts")
    return frame, str(file.resolve())


def _to_split(name, frame, source, text_column, label_column, id_column, label_separator) -> Split:
    for role, column in (("text", text_column), ("label", label_column), ("id", id_column)):
        if column is not None and column not in frame.columns:
            raise UserError(
                f"{name} data ({source}) has no {role} column {column!r}; its columns are "
                f"{list(map(str, frame.columns))}. Fix: set data.{role}_column=NAME"
            )
    texts = normalise_texts(frame[text_column].tolist(), name, source)
    labels = normalise_labels(frame[label_column].tolist(), name, source, label_separator)
    ids = (
        tuple(str(value) for value in frame[id_column])
        if id_column is not None
        else tuple(f"{name}-{row}" for row in range(len(frame)))
    )
    check_unique_ids(ids, name, source)
    return Split(name=name, texts=texts, labels=labels, ids=ids, source=source)


def _carve_missing_splits(splits: dict, validation_size: float, test_size: float, seed: int) -> dict:
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
        splits[split_name] = _subset(train, sorted(carve), split_name)
        train = _subset(train, sorted(keep), "train")
    splits["train"] = train
    return splits


def _subset(split: Split, rows, name: str) -> Split:
    return Split(
        name=name,
        texts=tuple(split.texts[i] for i in rows),
        labels=tuple(split.labels[i] for i in rows),
        ids=tuple(split.ids[i] for i in rows),
        source=split.source,
    )


def _finish(name: str, splits: dict) -> Dataset:
    label_names = tuple(sorted({label for row in splits["train"].labels for label in row}))
    dataset = Dataset(
        name=name,
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        label_names=label_names,
    )
    check_dataset(dataset)
    return dataset
