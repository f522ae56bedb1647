"""Learning curves drawn with matplotlib (the only module that imports it; a sweep's parent run
draws them once). Each run's confusion matrices are SVG text (``confusion_svg``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
