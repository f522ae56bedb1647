"""Scores against values worked out by hand."""

import math

import numpy as np
import pytest

from textclf.evaluation.metrics import SUMMARY_SCORES, metric_names, multiclass_metrics, multilabel_metrics


def test_multiclass_scores():
    truth = ["a", "a", "b", "c"]
    predicted = ["a", "b", "b", "c"]
    probabilities = np.array([[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    scores = multiclass_metrics(truth, predicted, probabilities, ["a", "b", "c"])
    assert scores["accuracy"] == 0.75
    # per label: a P=1 R=.5 F=2/3; b P=.5 R=1 F=2/3; c P=R=F=1
    assert scores["f1/a"] == pytest.approx(2 / 3) and scores["precision/b"] == 0.5 and scores["recall/a"] == 0.5
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert scores["micro_f1"] == 0.75
    assert scores["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 / 3 + 1) / 4)
    expected_loss = -np.mean(np.log([0.8, 0.4, 0.7, 0.8]))
    assert scores["log_loss"] == pytest.approx(expected_loss)


def test_a_label_never_predicted_scores_zero_not_an_error():
    scores = multiclass_metrics(["a", "b"], ["a", "a"], np.array([[0.9, 0.1], [0.6, 0.4]]), ["a", "b"])
    assert scores["f1/b"] == 0.0 and scores["precision/b"] == 0.0


def test_multilabel_scores():
    truth = np.array([[1, 0, 1], [0, 1, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 0]])
    probabilities = np.array([[0.9, 0.2, 0.4], [0.1, 0.8, 0.3]])
    scores = multilabel_metrics(truth, predicted, probabilities, ["a", "b", "c"])
    assert scores["subset_accuracy"] == 0.5
    assert scores["hamming_loss"] == pytest.approx(1 / 6)
    assert scores["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert scores["f1/c"] == 0.0 and scores["f1/a"] == 1.0
    expected = -np.mean(truth * np.log(probabilities) + (1 - truth) * np.log(1 - probabilities))
    assert scores["log_loss"] == pytest.approx(expected)
    assert all(math.isfinite(value) for value in scores.values())


def test_any_label_names_metrics_mlflow_accepts_one_per_label():
    """A label of any characters (``c++``, ``50%``, ``(other)``, ``a/b``) is one part of its
    per-label metric names, accepted by MLflow's own check; labels that clash get a number."""
    from mlflow.utils.validation import _validate_metric_name

    labels = ["c++", "yes?", "🙂 happy", "a,b", "a;b", "x#y", "50%", "(paren)", "a/b", "..", "北朝鮮 安全保障",
              "visit", "high-level engagement", "a_b", "a long label " * 20]
    truth = labels * 2
    scores = multiclass_metrics(truth, truth, np.eye(len(labels))[[*range(len(labels))] * 2], labels)
    per_label = [key for key in scores if key.startswith("f1/")]
    assert len(per_label) == len(labels)  # one each: clashing names were told apart
    for key in scores:
        _validate_metric_name(f"test_per_label/{key}")  # raises MlflowException on a name it refuses
    # names MLflow already takes stay as they were, even where a changed one would have taken it
    assert metric_names(labels)[labels.index("a_b")] == "a_b"
    assert {"f1/visit", "f1/high-level engagement", "f1/北朝鮮 安全保障", "f1/a_b"} <= set(scores)


def test_the_summary_scores_named_for_cv_score_are_those_each_task_gives():
    """cv.score is checked against SUMMARY_SCORES before a run: they must be what the folds give."""
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    given = {"multiclass": multiclass_metrics(["a", "b"], ["a", "b"], probabilities, ["a", "b"]),
             "multilabel": multilabel_metrics(np.eye(2, dtype=int), np.eye(2, dtype=int), probabilities, ["a", "b"])}
    for task, scores in given.items():
        assert sorted(SUMMARY_SCORES[task]) == sorted(name for name in scores if "/" not in name), task
