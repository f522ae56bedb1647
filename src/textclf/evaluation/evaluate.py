"""One fitted model scored on one split, and the metrics of a whole run."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from textclf.errors import UserError, did_you_mean

# FittedModel.timings(): what every run logs besides its scores
TIMING_METRICS = ("startup_seconds", "fit_seconds", "predict_single_text_ms")


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


def run_metric_names(task: str, label_names, cross_validated: bool) -> list[str]:
    """Every metric ``collect_metrics`` gives a run of ``task`` on ``label_names``: what
    ``tracking.champion_metric`` and ``optimized_metric`` may name."""
    from textclf.evaluation.metrics import SUMMARY_SCORES, per_label_score_names

    scores = (*SUMMARY_SCORES[task], "predict_texts_per_second")
    per_label = per_label_score_names(label_names)
    return [*TIMING_METRICS, *(f"{split}/{score}" for split in ("validation", "test") for score in scores),
            *(f"{split}_per_label/{score}" for split in ("validation", "test") for score in per_label),
            *(f"cv/{score}{spread}" for score in SUMMARY_SCORES[task] for spread in ("", "_std") if cross_validated)]


def check_metric_setting(setting: str, metric: str, task: str, label_names, cross_validated: bool) -> None:
    """Refuse a ``setting`` (``tracking.champion_metric``) naming a metric the run will not have:
    before the run starts, not once everything is done."""
    known = run_metric_names(task, label_names, cross_validated)
    if metric in known:
        return
    if metric.startswith("cv/") and not cross_validated:
        raise UserError(f"{setting}={metric} is a score of cross-validation, which this run does not do. "
                        f"Fix: pass cv=kfold, or {setting}=validation/macro_f1")
    raise UserError(f"{setting}={metric} is not a metric of this run{did_you_mean(metric, known)}: a run has "
                    f"validation/NAME and test/NAME ({', '.join(n.split('/')[1] for n in known if n.startswith('test/'))}), "
                    f"validation_per_label/f1/LABEL (and precision, recall; test_per_label too), {', '.join(TIMING_METRICS)}, "
                    f"and cv/NAME with cv=kfold. Fix: pass {setting}=validation/macro_f1")
