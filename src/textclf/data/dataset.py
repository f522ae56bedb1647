"""The data types that cross module boundaries: frozen dataclasses of tuples, never DataFrames."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    """One split of labeled texts. ``labels[i]`` lists text i's labels, primary label first."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    ids: tuple[str, ...]
    source: str
    # The group each text belongs to (``data.group_column``, e.g. an article id), kept inside one
    # fold by cross-validation; empty when the data names no group column.
    groups: tuple[str, ...] = ()

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
class MissingRow:
    """A row that ``data.missing=drop`` left out: where it is (``row``: its position in the file
    or split it was read from, counted from 0) and what it lacks (``problem``)."""

    split: str
    row: int
    id: str
    text: str
    problem: str


@dataclass(frozen=True)
class DatasetSummary:
    """What the tracking store records about a dataset (no texts: those stay in training)."""

    name: str
    content_hash: str
    label_names: tuple[str, ...]
    splits: tuple[SplitSummary, ...]
    dropped_overlap: tuple[tuple[str, int], ...] = ()
    missing_dropped: tuple[tuple[str, int], ...] = ()  # (split, rows) data.missing=drop left out


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits plus the sorted label set learned from train."""

    name: str
    train: Split
    validation: Split
    test: Split
    label_names: tuple[str, ...]
    # (split, rows) that data.overlap=drop removed because train holds their text
    dropped_overlap: tuple[tuple[str, int], ...] = ()
    # rows that data.missing=drop left out because they have no text or no label
    dropped_missing: tuple[MissingRow, ...] = ()

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
                              tuple(split.summary() for split in self.splits), self.dropped_overlap,
                              self.missing_counts())

    def missing_counts(self) -> tuple[tuple[str, int], ...]:
        """(split, rows) that data.missing=drop left out."""
        counts: dict[str, int] = {}
        for missing in self.dropped_missing:
            counts[missing.split] = counts.get(missing.split, 0) + 1
        return tuple(counts.items())

    @property
    def eval_splits(self) -> tuple[Split, Split]:
        """The splits a fitted model is scored on."""
        return (self.validation, self.test)
