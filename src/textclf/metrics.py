"""Scores for predictions, keyed ``metric`` or ``metric/label`` (the split prefix is added by the caller)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    hamming_loss,
    log_loss,
    precision_recall_fscore_support,
)


def _averaged_and_per_label(y_true, y_pred, classes, labels) -> dict[str, float]:
    scores = {f"{avg}_f1": f1_score(y_true, y_pred, labels=labels, average=avg, zero_division=0.0)
              for avg in ("macro", "micro", "weighted")}
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0.0)
    for name, p, r, f in zip(classes, precision, recall, f1):
        scores[f"precision/{name}"] = p
        scores[f"recall/{name}"] = r
        scores[f"f1/{name}"] = f
    return scores


def multiclass_metrics(y_true, y_pred, probabilities: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Accuracy, macro/micro/weighted F1, per-label precision/recall/F1 and log loss."""
    # As class indices: scikit-learn's checks sort and compare string labels on every call,
    # which costs more than the metrics themselves on a few thousand texts.
    index = {name: i for i, name in enumerate(classes)}
    y_true = np.fromiter((index[label] for label in y_true), dtype=np.int64)
    y_pred = np.fromiter((index[label] for label in y_pred), dtype=np.int64)
    scores = {"accuracy": accuracy_score(y_true, y_pred)}
    scores.update(_averaged_and_per_label(y_true, y_pred, classes, labels=list(range(len(classes)))))
    scores["log_loss"] = log_loss(y_true, probabilities, labels=list(range(len(classes))))
    return {key: float(value) for key, value in scores.items()}


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, probabilities: np.ndarray, classes) -> dict[str, float]:
    """Subset accuracy, Hamming loss, F1 averages, per-label scores, mean binary log loss."""
    scores = {"accuracy": accuracy_score(y_true, y_pred), "subset_accuracy": accuracy_score(y_true, y_pred)}
    scores["hamming_loss"] = hamming_loss(y_true, y_pred)
    scores.update(_averaged_and_per_label(y_true, y_pred, classes, labels=list(range(len(classes)))))
    clipped = np.clip(probabilities, 1e-15, 1 - 1e-15)
    scores["log_loss"] = float(-np.mean(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped)))
    return {key: float(value) for key, value in scores.items()}
