"""Scores for predictions, keyed ``metric`` or, per label, ``metric/label`` (``evaluate.collect_metrics``
adds the split)."""

from __future__ import annotations

import re

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    hamming_loss,
    log_loss,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)


def _averaged_and_per_label(y_true, y_pred, classes, labels) -> dict[str, float]:
    scores = {f"{avg}_f1": f1_score(y_true, y_pred, labels=labels, average=avg, zero_division=0.0)
              for avg in ("macro", "micro", "weighted")}
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0.0)
    for name, p, r, f in zip(metric_names(classes), precision, recall, f1):
        scores[f"precision/{name}"] = p
        scores[f"recall/{name}"] = r
        scores[f"f1/{name}"] = f
    return scores


NAME_PART_LIMIT = 200  # MLflow's 250 characters, less "validation_per_label/precision/"
# What each task's scores hold besides the per-label ones (f1/LABEL, precision/LABEL, recall/LABEL).
SUMMARY_SCORES = {"multiclass": ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "log_loss"),
                  "multilabel": ("subset_accuracy", "hamming_loss", "macro_f1", "micro_f1", "weighted_f1",
                                 "log_loss")}


def per_label_score_names(labels) -> list[str]:
    """The per-label scores of ``labels`` (``f1/LABEL``, ``precision/LABEL``, ``recall/LABEL``)."""
    names = metric_names(sorted(labels))
    return [f"{kind}/{name}" for kind in ("f1", "precision", "recall") for name in names]


def metric_names(labels: list[str]) -> list[str]:
    """Each label as one part of a metric name, which MLflow limits to letters, digits, ``_``, ``-``,
    ``.``, space and ``/`` (and ``:`` off Windows), 250 characters in all: any other character
    (``c++``, ``50%``, ``(other)``), and ``/`` (a label is one part), becomes ``_``, and a long
    label is cut. A label already fit for a name keeps it; another that would then share it gets
    ``_2``, ``_3``... (The labels themselves are in the run's ``data.labels`` tag and its reports.)"""
    names = [re.sub(r"[^\w.\- ]", "_", label).strip()[:NAME_PART_LIMIT] or "_" for label in labels]
    names = ["_" + name if set(name) == {"."} else name for name in names]  # "." and ".." read as folders
    taken = {name for name, label in zip(names, labels) if name == label}  # kept as they are
    unique: list[str] = []
    for name, label in zip(names, labels):
        if name != label:
            base, number = name[:NAME_PART_LIMIT - 4], 1
            while name in taken:
                number += 1
                name = f"{base}_{number}"
        taken.add(name)
        unique.append(name)
    return unique


def class_indices(labels, classes: list[str]) -> np.ndarray:
    # Metrics take class indices: scikit-learn's checks sort and compare string labels on every
    # call, which costs more than the metrics themselves on a few thousand texts.
    index = {name: i for i, name in enumerate(classes)}
    return np.fromiter((index[label] for label in labels), dtype=np.int64)


def multiclass_metrics(y_true, y_pred, probabilities: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Accuracy, macro/micro/weighted F1, per-label precision/recall/F1 and log loss."""
    y_true, y_pred = class_indices(y_true, classes), class_indices(y_pred, classes)
    scores = {"accuracy": accuracy_score(y_true, y_pred)}
    scores.update(_averaged_and_per_label(y_true, y_pred, classes, labels=list(range(len(classes)))))
    # float32 probabilities (a head on float32 embeddings) miss a sum of 1 by more than scikit-learn's
    # check allows: in float64, rescaled, the loss is the same to 6 digits and nothing warns
    probabilities = np.asarray(probabilities, dtype=np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    scores["log_loss"] = log_loss(y_true, probabilities, labels=list(range(len(classes))))
    return {key: float(value) for key, value in scores.items()}


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, probabilities: np.ndarray, classes) -> dict[str, float]:
    """Subset accuracy, Hamming loss, F1 averages, per-label scores, mean binary log loss."""
    # Named subset accuracy, never plain accuracy: it counts a text right only if every one of its
    # labels is, which is not comparable with a multi-class accuracy.
    scores = {"subset_accuracy": accuracy_score(y_true, y_pred)}
    scores["hamming_loss"] = hamming_loss(y_true, y_pred)
    scores.update(_averaged_and_per_label(y_true, y_pred, classes, labels=list(range(len(classes)))))
    clipped = np.clip(probabilities, 1e-15, 1 - 1e-15)
    scores["log_loss"] = float(-np.mean(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped)))
    return {key: float(value) for key, value in scores.items()}


def multiclass_tables(y_true, y_pred, classes: list[str]) -> tuple[str, np.ndarray]:
    """scikit-learn's classification report, and the confusion matrix (rows true, columns predicted)."""
    y_true, y_pred = class_indices(y_true, classes), class_indices(y_pred, classes)
    labels = list(range(len(classes)))
    report = classification_report(y_true, y_pred, labels=labels, target_names=classes, digits=3, zero_division=0.0)
    return report, confusion_matrix(y_true, y_pred, labels=labels)


def multilabel_tables(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> tuple[str, np.ndarray]:
    """scikit-learn's classification report, and per label its hits, misses and false alarms."""
    report = classification_report(y_true, y_pred, target_names=classes, digits=3, zero_division=0.0)
    matrices = multilabel_confusion_matrix(y_true, y_pred)  # per label [[tn, fp], [fn, tp]]
    return report, np.stack([matrices[:, 1, 1], matrices[:, 1, 0], matrices[:, 0, 1]], axis=1)
