"""Pictures of a model's mistakes (the only module that imports matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_confusion(matrix: np.ndarray, classes, title: str, path: Path) -> None:
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


def plot_multilabel_confusion(counts: np.ndarray, classes, title: str, path: Path) -> None:
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


def plot_learning_curves(curves: dict[str, list[tuple[str, float, float]]], metric: str, path: Path) -> None:
    """One line per model: ``metric``'s mean over seeds at each training size, with the spread
    (± one standard deviation) shaded. ``curves[model]``: ``(size label, mean, std)`` in order."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    sizes = list(dict.fromkeys(size for points in curves.values() for size, _, _ in points))
    for model, points in curves.items():
        x = [sizes.index(size) for size, _, _ in points]
        mean = np.array([m for _, m, _ in points])
        spread = np.array([s for _, _, s in points])
        axes.plot(x, mean, marker="o", label=model)
        axes.fill_between(x, mean - spread, mean + spread, alpha=0.2)
    axes.set_xticks(range(len(sizes)), sizes)
    axes.set_xlabel("training texts per label (data.per_label)")
    axes.set_ylabel(metric)
    axes.set_title("Learning curves")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
