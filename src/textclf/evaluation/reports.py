"""Artifacts people read after a run: classification reports, confusion matrices, mistakes.

The tracking worker writes these. The numbers in them are computed in training (``task.tables``),
so the worker never imports scikit-learn (about 90 MB more in a process that only draws and writes).
"""

from __future__ import annotations

from pathlib import Path

from textclf.evaluation.confusion_svg import confusion_svg, multilabel_outcomes_svg
from textclf.evaluation.evaluate import Evaluation
from textclf.safe_csv import write_rows


def write_reports(dataset_name: str, split, evaluation: Evaluation, decision, folder: Path) -> None:
    """For one evaluated split: ``<split>_report.txt``, ``<split>_confusion.svg``,
    ``<split>_errors.csv`` (the mistakes, to read) and ``<split>_predictions.csv`` (every
    prediction with its probabilities, to check a loaded model against)."""
    folder.mkdir(parents=True, exist_ok=True)
    classes = decision.classes
    multilabel = decision.task == "multilabel"
    (folder / f"{split.name}_report.txt").write_text(evaluation.report + _thresholds(decision), encoding="utf-8")
    draw = multilabel_outcomes_svg if multilabel else confusion_svg
    (folder / f"{split.name}_confusion.svg").write_text(
        draw(evaluation.confusion, classes, f"{dataset_name} {split.name}"), encoding="utf-8")
    _write_errors(split, evaluation, multilabel, folder / f"{split.name}_errors.csv")
    _write_predictions(split, evaluation, classes, folder / f"{split.name}_predictions.csv")


def _thresholds(decision) -> str:
    """A multi-label model's per-label thresholds, under its report: they decide every label it
    gives, and are otherwise only inside the saved model."""
    if decision.task != "multilabel":
        return ""
    width = max(len(name) for name in decision.classes)
    lines = [f"{name:>{width}}  {threshold:.3f}" for name, threshold in zip(decision.classes, decision.thresholds)]
    return ("\n\nper-label thresholds (tuned on validation, saved with the model; at least "
            f"{decision.min_labels} label(s) a text)\n" + "\n".join(lines) + "\n")


def _write_errors(split, evaluation, multilabel: bool, path: Path) -> None:
    def rows():
        yield ["id", "text", "true", "predicted", "confidence"]
        for i, (truth, predicted) in enumerate(zip(split.labels, evaluation.predicted)):
            wrong = set(truth) != set(predicted) if multilabel else truth[0] != predicted[0]
            if wrong:
                confidence = float(evaluation.probabilities[i].max())
                yield [split.ids[i], split.texts[i], "|".join(truth), "|".join(predicted), f"{confidence:.3f}"]

    with path.open("w", newline="", encoding="utf-8") as handle:
        write_rows(handle, rows())


def _write_predictions(split, evaluation, classes, path: Path) -> None:
    def rows():
        yield ["id", "true", "predicted", *(f"prob_{name}" for name in classes)]
        for i, predicted in enumerate(evaluation.predicted):
            probabilities = (f"{p:.6f}" for p in evaluation.probabilities[i])
            yield [split.ids[i], "|".join(split.labels[i]), "|".join(predicted), *probabilities]

    with path.open("w", newline="", encoding="utf-8") as handle:
        write_rows(handle, rows())
