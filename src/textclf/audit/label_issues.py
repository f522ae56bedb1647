"""Likely wrong labels, ranked: cleanlab's confident learning on out-of-fold probabilities.

Each text's probabilities come from a model that never saw it (k folds over every split,
``evaluation.crossval``). cleanlab estimates from them how often each label is confused with each
other and flags the texts whose given label is least believable; the quality score (the
probability of the given label, cleanlab's self-confidence) ranks them, lowest first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelIssue:
    """One text whose label looks wrong (``row``: its position in the audited pool)."""

    row: int
    given: tuple[str, ...]
    suggested: tuple[str, ...]
    quality: float


def find_label_issues(labels, probabilities: np.ndarray, label_names, multilabel: bool, all_labels=None) -> list[LabelIssue]:
    """The texts cleanlab flags (by both of its rules: a text must be among its class's likely
    mislabeled count and be predicted as another class), lowest label quality first. Multi-class:
    ``labels`` are the primary labels; a text whose suggested label is another label it was given
    (``all_labels``: a passage on two topics, primary one chosen) is not reported."""
    names = list(label_names)
    index = {name: i for i, name in enumerate(names)}
    if multilabel:
        from cleanlab.multilabel_classification.filter import find_label_issues as flag
        from cleanlab.multilabel_classification.rank import get_label_quality_scores

        encoded = [[index[name] for name in row] for row in labels]
        flagged = flag(encoded, probabilities, filter_by="both", return_indices_ranked_by="self_confidence", n_jobs=1)
        quality = get_label_quality_scores(encoded, probabilities)
        suggest = lambda p: tuple(names[i] for i in np.flatnonzero(p >= 0.5)) or (names[int(p.argmax())],)  # noqa: E731
    else:
        from cleanlab.filter import find_label_issues as flag
        from cleanlab.rank import get_label_quality_scores

        encoded = np.array([index[row[0]] for row in labels])
        flagged = flag(encoded, probabilities, filter_by="both", return_indices_ranked_by="self_confidence", n_jobs=1)
        quality = get_label_quality_scores(encoded, probabilities)
        suggest = lambda p: (names[int(p.argmax())],)  # noqa: E731
        if all_labels is not None:
            flagged = [row for row in flagged if suggest(probabilities[row])[0] not in all_labels[row]]
    return [LabelIssue(int(row), tuple(labels[row]), suggest(probabilities[row]), float(quality[row])) for row in flagged]
