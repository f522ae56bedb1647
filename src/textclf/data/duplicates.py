"""When two texts count as the same: compared lower-cased with whitespace folded.

The leakage check, the carving of splits and ``data.overlap=drop`` all use this one rule, so a
text the check would call leaked is never put on both sides of a carved split.
"""

from __future__ import annotations


def normalised_text(text: str) -> str:
    """Lower-cased, whitespace-folded: the form in which texts are compared."""
    return " ".join(text.lower().split())


class TextIndex:
    """``text in index``: whether a text equals one of ``texts`` once normalised.

    Normalising every text costs a split and a join per text; this compares only texts whose
    first and last eight words already match (texts equal once normalised always do).
    """

    def __init__(self, texts):
        self.candidates: dict[tuple, list[str]] = {}
        for text in texts:
            self.candidates.setdefault(_words_at_ends(text), []).append(text)

    def __contains__(self, text: str) -> bool:
        candidates = self.candidates.get(_words_at_ends(text))
        if not candidates:
            return False
        normalised = normalised_text(text)
        return any(normalised_text(candidate) == normalised for candidate in candidates)


def _words_at_ends(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    lowered = text.lower()
    return tuple(lowered.split(None, 8)[:8]), tuple(lowered.rsplit(None, 8)[-8:])


def rows_in(texts, index: TextIndex) -> list[int]:
    """The positions of ``texts`` that are in ``index``."""
    return [i for i, text in enumerate(texts) if text in index]


def duplicate_groups(texts) -> list[list[int]]:
    """Positions of ``texts`` grouped by normalised text, groups in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        groups.setdefault(normalised_text(text), []).append(i)
    return list(groups.values())
