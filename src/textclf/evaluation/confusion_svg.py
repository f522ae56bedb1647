"""Confusion matrices as SVG, written as text.

Every run draws one per evaluated split, in the tracking worker, at the end of the run, where
the worker is what training waits for. Drawing them with matplotlib cost an import of it and a
render of a figure (about 0.8 s and 26 MB in that process) for a grid of shaded squares with
numbers in them; as text they cost milliseconds, stay sharp at any zoom, and the MLflow UI shows
SVG artifacts as it shows PNG ones.
"""

from __future__ import annotations

from html import escape

import numpy as np

CELL = 44  # pixels per cell side
FONT = "font-family:system-ui,DejaVu Sans,sans-serif"
# matplotlib's "Blues" at 0, 0.5 and 1: near white for none, dark blue for the largest count
BLUES = np.array([[247, 251, 255], [107, 174, 214], [8, 48, 107]])


def confusion_svg(matrix: np.ndarray, classes, title: str) -> str:
    """Rows: the true class; columns: the predicted one; each cell its count, shaded by it."""
    names = [str(name) for name in classes]
    return _grid(matrix, matrix / max(matrix.max(), 1), names, names, title, "predicted", "true")


def multilabel_outcomes_svg(counts: np.ndarray, classes, title: str) -> str:
    """One row per label: its hits, misses and false alarms, shaded by share of that label's row."""
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return _grid(counts, shares, [str(name) for name in classes], ["hit (TP)", "missed (FN)", "false alarm (FP)"],
                 f"{title}: per-label outcomes", "", "label")


def _grid(counts: np.ndarray, shades: np.ndarray, rows: list[str], columns: list[str], title: str,
          column_axis: str, row_axis: str) -> str:
    left = 30 + 7 * max(map(len, rows), default=0)  # room for the longest row name
    top = 40
    bottom = 30 + 5 * max(map(len, columns), default=0)  # column names run down-left at 45 degrees
    width = max(left + CELL * len(columns) + 40, 20 + 9 * len(title))  # the grid, or a longer title
    height = top + CELL * len(rows) + bottom
    parts = [f'<text x="10" y="24" style="{FONT};font-size:15px">{escape(title)}</text>']
    for (row, column), count in np.ndenumerate(counts):
        shade = float(shades[row, column])
        red, green, blue = (np.interp(shade, [0.0, 0.5, 1.0], BLUES[:, channel]).round().astype(int)
                            for channel in range(3))
        x, y = left + column * CELL, top + row * CELL
        ink = "#fff" if shade > 0.5 else "#000"
        parts.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="rgb({red},{green},{blue})" '
                     f'stroke="#fff"/><text x="{x + CELL / 2}" y="{y + CELL / 2 + 4}" text-anchor="middle" '
                     f'style="{FONT};font-size:12px" fill="{ink}">{count}</text>')
    for row, name in enumerate(rows):
        parts.append(f'<text x="{left - 6}" y="{top + row * CELL + CELL / 2 + 4}" text-anchor="end" '
                     f'style="{FONT};font-size:12px">{escape(name)}</text>')
    below = top + CELL * len(rows) + 8
    for column, name in enumerate(columns):
        x = left + column * CELL + CELL / 2
        parts.append(f'<text x="{x}" y="{below}" text-anchor="end" transform="rotate(-45 {x} {below})" '
                     f'style="{FONT};font-size:12px">{escape(name)}</text>')
    if column_axis:
        parts.append(f'<text x="{left + CELL * len(columns) / 2}" y="{height - 6}" text-anchor="middle" '
                     f'style="{FONT};font-size:13px">{column_axis}</text>')
    parts.append(f'<text x="12" y="{top + CELL * len(rows) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + CELL * len(rows) / 2})" style="{FONT};font-size:13px">{row_axis}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><rect width="100%" height="100%" fill="#fff"/>{"".join(parts)}</svg>\n')
