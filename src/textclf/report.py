"""Artifacts people read after a run: classification reports, confusion matrices, mistakes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, multilabel_confusion_matrix
from sklearn.preprocessing import MultiLabelBinarizer


def write_reports(dataset, evaluations, decision: dict, folder: Path) -> None:
    """For each evaluated split: ``<split>_report.txt``, ``<split>_confusion.png``,
    ``<split>_errors.csv`` (the mistakes, to read) and ``<split>_predictions.csv`` (every
    prediction with its probabilities, to check a loaded model against)."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = {split.name: split for split in dataset.splits}
    classes = decision["classes"]
    multilabel = "thresholds" in decision
    for evaluation in evaluations:
        split = splits[evaluation.split]
        if multilabel:
            binarizer = MultiLabelBinarizer(classes=classes)
            truth, predicted = binarizer.fit_transform(split.labels), binarizer.transform(evaluation.predicted)
        else:
            truth, predicted = list(split.primary_labels), [row[0] for row in evaluation.predicted]
        report = classification_report(truth, predicted, labels=None if multilabel else classes,
                                       target_names=classes, digits=3, zero_division=0.0)
        (folder / f"{split.name}_report.txt").write_text(report, encoding="utf-8")
        plot = _plot_multilabel_confusion if multilabel else _plot_confusion
        plot(truth, predicted, classes, f"{dataset.name} {split.name}", folder / f"{split.name}_confusion.png")
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


def _plot_confusion(truth, predicted, classes, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = confusion_matrix(truth, predicted, labels=classes)
    figure, axes = plt.subplots(figsize=(1.0 + 0.8 * len(classes), 0.8 + 0.7 * len(classes)))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_multilabel_confusion(truth, predicted, classes, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrices = multilabel_confusion_matrix(truth, predicted)
    columns = 4
    rows = int(np.ceil(len(classes) / columns))
    figure, grid = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for axes, name, matrix in zip(grid.ravel(), classes, matrices):
        axes.imshow(matrix, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(column, row, str(count), ha="center", va="center")
        axes.set_xticks([0, 1], ["no", "yes"])
        axes.set_yticks([0, 1], ["no", "yes"])
        axes.set_title(name, fontsize=9)
    for axes in grid.ravel()[len(classes):]:
        axes.axis("off")
    figure.suptitle(f"{title}: per-label confusion (rows true, columns predicted)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
