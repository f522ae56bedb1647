"""What is being predicted: one primary label per text, or a set of labels per text.

A task turns a ``Split`` into targets, adapts an estimator to them, decides labels from
probabilities, and scores predictions. ``configs/task/*.yaml`` pick one with ``_target_``, so
``run`` treats both the same way.

The decision rule (``ArgmaxDecision``, or ``ThresholdDecision`` with per-label thresholds) is saved
with the model, and applies the same way in training and in serving.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils import get_tags

from textclf.errors import TextclfWarning
from textclf.evaluation.metrics import multiclass_metrics, multiclass_tables, multilabel_metrics, multilabel_tables
from textclf.serving.decision import ArgmaxDecision, ThresholdDecision


FEW_POSITIVES = 5  # validation texts of a label below which its tuned threshold is said to be shaky


def say_if_thresholds_rest_on_few_texts(targets: np.ndarray, label_names) -> None:
    """A threshold tuned on two or three validation texts of its label can land anywhere on the
    grid (a new user's model gave three labels to a text none of them scored 0.2 on), silently."""
    counts = targets.sum(axis=0)
    few = [f"{name}: {int(count)}" for name, count in zip(label_names, counts) if count < FEW_POSITIVES]
    if few:
        shown = ", ".join(few[:5]) + (f" and {len(few) - 5} more" if len(few) > 5 else "")
        warnings.warn(f"the thresholds of {len(few)} label(s) were tuned on fewer than {FEW_POSITIVES} validation texts "
                      f"each ({shown}): they may be far off. Fix: give validation more texts of them (a larger "
                      "data.validation file, or data.validation_size)", TextclfWarning, stacklevel=2)


class MulticlassTask:
    """Predict each text's primary label (the first label in its row)."""

    name = "multiclass"

    def targets(self, split, label_names) -> np.ndarray:
        return np.asarray(split.primary_labels)

    def prepare(self, estimator, label_names=()):
        return estimator

    def fit_decision(self, fitted, dataset) -> ArgmaxDecision:
        """Multiclass labels are the most probable class; nothing is tuned."""
        return ArgmaxDecision(tuple(str(c) for c in fitted.estimator.classes_))

    def decide(self, split, label_names, probabilities) -> ArgmaxDecision:
        """The decision for probabilities whose columns are ``label_names`` (cross-validation)."""
        return ArgmaxDecision(tuple(label_names))

    def score(self, split, predicted, probabilities, decision) -> dict[str, float]:
        return multiclass_metrics(split.primary_labels, [row[0] for row in predicted], probabilities,
                                  list(decision.classes))

    def tables(self, split, predicted, decision) -> tuple[str, np.ndarray]:
        """The classification report, and the confusion matrix (rows true, columns predicted)."""
        return multiclass_tables(split.primary_labels, [row[0] for row in predicted], list(decision.classes))


class MultilabelTask:
    """Predict every label of a text: one-vs-rest probabilities with per-label thresholds.

    Parameters
    ----------
    threshold_grid : list of float
        Candidate thresholds; each label gets the one with the best validation F1.
    min_labels : int
        Every text gets at least this many labels, since every passage in our data has a
        topic: when fewer reach their thresholds, the most probable others are added.
    """

    name = "multilabel"

    def __init__(self, threshold_grid=(0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4,
                                      0.45, 0.5, 0.55, 0.6, 0.65, 0.7), min_labels: int = 1):
        self.threshold_grid = tuple(threshold_grid)
        self.min_labels = min_labels

    def targets(self, split, label_names) -> np.ndarray:
        return MultiLabelBinarizer(classes=list(label_names)).fit_transform(split.labels)

    def prepare(self, estimator, label_names=()):
        """Wrap the classifier in one-vs-rest unless it handles label sets itself. A step that
        reads the targets and takes ``label_names`` (zero-shot, a tuned embedder) learns which label
        each target column is."""
        classifier_tags = get_tags(estimator).classifier_tags
        if classifier_tags is not None and classifier_tags.multi_label:
            _tell_label_names(estimator, label_names)
            return estimator
        if isinstance(estimator, Pipeline):
            *head, (name, classifier) = estimator.steps
            for _, step in head:
                _tell_label_names(step, label_names)
            return Pipeline([*head, (name, OneVsRestClassifier(classifier))])
        return OneVsRestClassifier(estimator)

    def fit_decision(self, fitted, dataset) -> ThresholdDecision:
        """Per label, the threshold with the best F1 on the validation split."""
        probabilities, _ = fitted.probabilities(dataset.validation)
        say_if_thresholds_rest_on_few_texts(self.targets(dataset.validation, dataset.label_names), dataset.label_names)
        return self.decide(dataset.validation, dataset.label_names, probabilities)

    def decide(self, split, label_names, probabilities) -> ThresholdDecision:
        """Per label, the threshold with the best F1 on ``split``, given ``probabilities`` for it."""
        thresholds = self.best_thresholds(split, label_names, probabilities)
        return ThresholdDecision(tuple(label_names), thresholds, self.min_labels)

    def best_thresholds(self, split, label_names, probabilities) -> tuple[float, ...]:
        """Pick, per label, the threshold with the best F1 on ``split``, given a fitted
        estimator's ``probabilities`` for it."""
        truth = self.targets(split, label_names).astype(bool)
        grid = np.asarray(self.threshold_grid)
        # F1 of every label at every threshold at once: 2·TP / (2·TP + FP + FN), and 0 where a
        # label is neither present nor predicted (scikit-learn's zero_division=0.0; same values).
        predicted = probabilities[None, :, :] >= grid[:, None, None]  # thresholds x texts x labels
        true_positives = (predicted & truth).sum(axis=1)
        false_positives = (predicted & ~truth).sum(axis=1)
        false_negatives = (~predicted & truth).sum(axis=1)
        denominator = 2 * true_positives + false_positives + false_negatives
        f1 = np.where(denominator > 0, 2 * true_positives / np.maximum(denominator, 1), 0.0)
        return tuple(float(t) for t in grid[np.argmax(f1, axis=0)])  # the first best

    def score(self, split, predicted, probabilities, decision) -> dict[str, float]:
        classes = list(decision.classes)
        binarizer = MultiLabelBinarizer(classes=classes)
        return multilabel_metrics(
            binarizer.fit_transform(split.labels), binarizer.transform(predicted), probabilities, classes
        )

    def tables(self, split, predicted, decision) -> tuple[str, np.ndarray]:
        """The classification report, and per label its hits, misses and false alarms."""
        classes = list(decision.classes)
        binarizer = MultiLabelBinarizer(classes=classes)
        return multilabel_tables(binarizer.fit_transform(split.labels), binarizer.transform(predicted), classes)


def _tell_label_names(estimator, label_names) -> None:
    """Set ``label_names`` on an estimator that takes it (the label of each target column)."""
    if "label_names" in estimator.get_params(deep=False):
        estimator.set_params(label_names=list(label_names))
