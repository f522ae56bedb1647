"""``CalibratedClassifier``: sigmoid (or isotonic) calibration that still trains on rare classes.

scikit-learn's ``CalibratedClassifierCV(cv=3)`` refuses any class with fewer than 3 examples, and
a multi-label model wrapped in one-vs-rest meets one as soon as a label has 1 or 2 positives in
train (Reuters has several). This estimator calibrates on as many folds as the rarest class
allows, and says so. Fitted, it holds a plain ``CalibratedClassifierCV``, which is what a saved
model stores (``__textclf_state__``): the saved format and the serving code need nothing new.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted


class CalibrationFoldsWarning(UserWarning):
    """A class had too few examples for the configured calibration folds."""


class CalibratedClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """``CalibratedClassifierCV(estimator, method, cv)`` with fewer folds for a rare class.

    With at least ``cv`` examples of every class it is exactly ``CalibratedClassifierCV`` (same
    folds, same probabilities). With fewer, it calibrates on ``k`` folds, ``k`` the smallest class
    count (at least 2); a class with a single example cannot be held out and also trained on, so
    then the estimator is fitted on all the data and calibrated on that same data (its
    probabilities are overconfident). Either way it warns, naming the class.

    Parameters
    ----------
    estimator : classifier
        The classifier to calibrate (e.g. ``LinearSVC``), cloned before fitting.
    method : {"sigmoid", "isotonic"}
        Calibration method, as in ``CalibratedClassifierCV``.
    cv : int
        Calibration folds when every class has at least that many examples.

    Attributes
    ----------
    calibrated_ : CalibratedClassifierCV
        The fitted calibrated classifier; predictions and saved models use it.
    cv_used_ : int or None
        Folds used; None when calibrated on the training data itself.
    classes_ : ndarray
        Class labels.
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"])],
        "method": [StrOptions({"sigmoid", "isotonic"})],
        "cv": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(self, estimator=None, method="sigmoid", cv=3):
        self.estimator = estimator
        self.method = method
        self.cv = cv

    def fit(self, X, y):
        self._validate_params()
        check_classification_targets(y)
        classes, counts = np.unique(np.asarray(y), return_counts=True)
        rarest = int(np.argmin(counts))
        self.cv_used_ = min(self.cv, int(counts[rarest])) if counts[rarest] >= 2 else None
        if self.cv_used_ is None:
            warnings.warn(f"{_describe(classes, rarest)} has a single training example, too few to hold out for "
                          "calibration: calibrating on the training data itself instead, so the probabilities "
                          "are overconfident", CalibrationFoldsWarning, stacklevel=2)
            fitted = FrozenEstimator(clone(self.estimator).fit(X, y))
            # One "fold" holding out every row: the frozen classifier scores all of them once, and
            # the calibrator is fitted on those scores (the default cv would score them 5 times).
            every_row = [(np.arange(0), np.arange(len(y)))]
            self.calibrated_ = CalibratedClassifierCV(fitted, method=self.method, cv=every_row).fit(X, y)
        else:
            if self.cv_used_ < self.cv:
                warnings.warn(f"{_describe(classes, rarest)} has only {counts[rarest]} training examples: "
                              f"calibrating on {self.cv_used_} folds instead of {self.cv}",
                              CalibrationFoldsWarning, stacklevel=2)
            self.calibrated_ = CalibratedClassifierCV(clone(self.estimator), method=self.method,
                                                      cv=self.cv_used_).fit(X, y)
        self.classes_ = self.calibrated_.classes_
        if hasattr(self.calibrated_, "n_features_in_"):
            self.n_features_in_ = self.calibrated_.n_features_in_
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "calibrated_")
        return self.calibrated_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "calibrated_")
        return self.calibrated_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        return tags

    def __textclf_state__(self, writer):
        """Save the fitted ``CalibratedClassifierCV`` in this wrapper's place: a saved model holds
        only scikit-learn classes, and that one predicts exactly as the wrapper does. An unfitted
        one (the template a one-vs-rest classifier keeps beside its fitted copies) is saved as an
        unfitted ``CalibratedClassifierCV`` with the same settings."""
        if not hasattr(self, "calibrated_"):
            return writer.encode(CalibratedClassifierCV(self.estimator, method=self.method, cv=self.cv), "template")
        return writer.encode(self.calibrated_, "calibrated_")


def _describe(classes: np.ndarray, index: int) -> str:
    """How a warning names a class. One-vs-rest fits each label as classes 0 and 1, so there the
    rare class is a label's positives."""
    if classes.tolist() == [0, 1]:
        return "a label" if index == 1 else "a label's negative class"
    return f"class {classes[index].item()!r}"
