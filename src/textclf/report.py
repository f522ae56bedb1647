"""Artifacts people read after a run: classification reports, confusion matrices, mistakes.

The tracking worker writes these. The numbers in them are computed in training (``task.tables``),
so the worker never imports scikit-learn (about 90 MB more in a process that only draws and writes).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

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


def write_reports(dataset_name: str, split, evaluation: Evaluation, decision: dict, folder: Path) -> None:
    """For one evaluated split: ``<split>_report.txt``, ``<split>_confusion.png``,
    ``<split>_errors.csv`` (the mistakes, to read) and ``<split>_predictions.csv`` (every
    prediction with its probabilities, to check a loaded model against)."""
    folder.mkdir(parents=True, exist_ok=True)
    classes = decision["classes"]
    multilabel = "thresholds" in decision
    (folder / f"{split.name}_report.txt").write_text(evaluation.report, encoding="utf-8")
    plot = _plot_multilabel_confusion if multilabel else _plot_confusion
    plot(evaluation.confusion, classes, f"{dataset_name} {split.name}", folder / f"{split.name}_confusion.png")
    _write_errors(split, evaluation, multilabel, folder / f"{split.name}_errors.csv")
    _write_predictions(split, evaluation, classes, folder / f"{split.name}_predictions.csv")


def _write_errors(split, evaluation, multilabel: bool, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "true", "predicted", "confidence"])
        for i, (truth, predicted) in enumerate(zip(split.labels, evaluation.predicted)):
            wrong = set(truth) != set(predicted) if multilabel else truth[0] != predicted[0]
            if wrong:
                confidence = float(evaluation.probabilities[i].max())
                writer.writerow([split.ids[i], split.texts[i], "|".join(truth), "|".join(predicted), f"{confidence:.3f}"])


def _write_predictions(split, evaluation, classes, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "true", "predicted", *(f"prob_{name}" for name in classes)])
        for i, predicted in enumerate(evaluation.predicted):
            probabilities = (f"{p:.6f}" for p in evaluation.probabilities[i])
            writer.writerow([split.ids[i], "|".join(split.labels[i]), "|".join(predicted), *probabilities])


def _plot_confusion(matrix: np.ndarray, classes, title: str, path: Path) -> None:
    plt = _pyplot()
    side = min(12.0, 1.0 + 0.6 * len(classes))  # past ~20 classes the cells shrink instead
    figure, axes = plt.subplots(figsize=(side + 1.0, side))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    size = 9 if len(classes) <= 12 else 7
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=size,
                  color="white" if count > threshold else "black")
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_multilabel_confusion(counts: np.ndarray, classes, title: str, path: Path) -> None:
    """One row per label: its hits, misses and false alarms, shaded by share of that label's row."""
    plt = _pyplot()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(6.0, 1.4 + 0.26 * len(classes)))
    axes.imshow(shares, cmap="Blues", aspect="auto", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                  color="white" if shares[row, column] > 0.5 else "black")
    axes.set_xticks([0, 1, 2], ["hit (TP)", "missed (FN)", "false alarm (FP)"])
    axes.xaxis.tick_top()
    axes.set_yticks(range(len(classes)), classes, fontsize=8)
    axes.set_title(f"{title}: per-label outcomes", pad=24)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt
