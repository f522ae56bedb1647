"""The audit's simple checks: text lengths, label counts and imbalance, and multi-label label pairs
that look like slips."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class LabelPair:
    """Two labels given together ``count`` times, where independence would predict ``expected``."""

    first: str
    second: str
    count: int
    expected: float


def length_problems(texts, min_chars: int, max_words: int) -> list[tuple[int, str]]:
    """``(row, "too short" | "too long")`` for texts under ``min_chars`` characters or over
    ``max_words`` words."""
    problems = []
    for row, text in enumerate(texts):
        if len(text.strip()) < min_chars:
            problems.append((row, f"too short: {len(text.strip())} characters < audit.min_chars={min_chars}"))
        elif len(text.split()) > max_words:
            problems.append((row, f"too long: {len(text.split())} words > audit.max_words={max_words}"))
    return problems


def label_counts(splits) -> dict[str, dict[str, int]]:
    """``{label: {split: texts with that label}}``, over every split."""
    counts: dict[str, dict[str, int]] = {}
    for split in splits:
        for row in split.labels:
            for label in row:
                per_split = counts.setdefault(label, {})
                per_split[split.name] = per_split.get(split.name, 0) + 1
    return dict(sorted(counts.items()))


def imbalance(counts: dict[str, dict[str, int]]) -> float:
    """The most common label's texts over the rarest's, in train (a label train lacks, which the
    audit reports on its own, is not the rarest: it would make this the largest count over 1)."""
    train = [per_split["train"] for per_split in counts.values() if per_split.get("train")]
    return max(train) / min(train) if train else float("nan")


def rare_label_pairs(labels, rare_pair_count: int, common_label_count: int) -> list[LabelPair]:
    """Pairs of common labels (each on at least ``common_label_count`` texts) given together on at
    most ``rare_pair_count`` texts, though independent labels would meet more often than that:
    a combination that rare among common labels is more likely a slip than a topic."""
    singles = Counter(label for row in labels for label in set(row))
    pairs = Counter(pair for row in labels for pair in combinations(sorted(set(row)), 2))
    total = len(labels)
    found = []
    for (first, second), count in sorted(pairs.items()):
        expected = singles[first] * singles[second] / total
        common = min(singles[first], singles[second]) >= common_label_count
        if common and count <= rare_pair_count < expected:
            found.append(LabelPair(first, second, count, expected))
    return found
