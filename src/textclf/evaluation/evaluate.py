"""One fitted model scored on one split, and the metrics of a whole run."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Evaluation:
    """Predictions and scores of one fitted model on one split."""

    split: str
    predicted: tuple[tuple[str, ...], ...]
    probabilities: np.ndarray
    metrics: dict[str, float]
    seconds: float
    report: str  # scikit-learn's classification report
    confusion: np.ndarray  # multi-class: rows true, columns predicted; multi-label: per label hits, misses, false alarms


def evaluate(fitted, split, decision, task) -> Evaluation:
    """Predict ``split`` with ``fitted`` (a ``models.fitting.FittedModel``), apply the decision
    rule, and score the labels."""
    probabilities, seconds = fitted.probabilities(split)
    started = time.perf_counter()
    predicted = tuple(decision.labels(probabilities))
    seconds += time.perf_counter() - started
    metrics = task.score(split, predicted, probabilities, decision)
    metrics["predict_texts_per_second"] = len(split) / seconds
    report, confusion = task.tables(split, predicted, decision)
    return Evaluation(split.name, predicted, probabilities, metrics, seconds, report, confusion)


def collect_metrics(fitted, evaluations: list[Evaluation], cv=None) -> dict[str, float]:
    """Every metric of a run, plus the fit's timings and, after cross-validation (``cv``), the
    mean and spread over folds (``cv/macro_f1``, ``cv/macro_f1_std``). Keys are ``split/metric``
    (``test/macro_f1``), and ``split_per_label/metric/label`` (``test_per_label/f1/nk``) for
    per-label scores: the MLflow UI groups charts by the first part, so the dozens of per-label
    charts sit apart from the headline ones."""
    metrics = {**fitted.timings(), **(cv.metrics() if cv is not None else {})}
    for evaluation in evaluations:
        for key, value in evaluation.metrics.items():
            group = f"{evaluation.split}_per_label" if "/" in key else evaluation.split
            metrics[f"{group}/{key}"] = value
    return metrics
