"""``TemperatureScaledClassifier``: a linear classifier's own decisions, with probabilities.

A linear SVM is the fast, accurate choice for TF-IDF features, but it has no probabilities, and
textclf needs them (thresholds, confidence, log loss). scikit-learn's sigmoid calibration on 3
folds trains the SVM 3 more times and averages 3 models that each saw two thirds of the data,
which on 20 Newsgroups costs 0.6 points of accuracy. This estimator instead:

* fits the classifier on all the training data (its predictions are exactly that model's);
* scores texts it was not trained on: a calibration set given to ``fit`` (a run's validation
  split, scored by the classifier itself: nothing more is trained), or else a held-out part of
  the training data (``holdout``, stratified), scored by a copy fitted on the rest in a forked
  child process while the first fits, so the two use both cores (``textclf.models.forked`` says
  why not a thread);
* chooses the temperature ``T`` that gives those texts' true labels the highest likelihood under
  ``softmax(scores / T)`` (``sigmoid(score / T)`` for two classes), with Platt's targets: a text's
  true class counts as ``(n + 1) / (n + 2)`` (``n``: that class's held-out texts), the rest
  spread over the other classes. With targets of exactly 1, held-out texts the classifier
  separates perfectly (a small corpus) drive ``T`` to its floor and every probability to 0 or 1
  (a 240-text multi-label corpus: ``T`` 0.0009, probabilities like 1e-131; with Platt's targets
  ``T`` 0.36). On the seed corpus: test log loss 0.483 -> 0.473 (multi-class), multi-label test
  macro-F1 0.865 -> 0.868; no prediction of a multi-class model changes.

Scaling every score by one positive number never changes which class scores highest, so
calibration cannot change a prediction. Fitted, it is a ``LogisticRegression`` with the
classifier's weights divided by ``T``: that computes exactly these probabilities, and it is what
a saved model stores (``__textclf_state__``), so the saved format needs nothing new.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_expit, log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted

from textclf.models.forked import ChildResult



class CalibrationWarning(UserWarning):
    """A class had too few examples to hold some out for calibration."""


class TemperatureScaledClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Probabilities for a linear classifier by temperature scaling on a held-out part.

    Parameters
    ----------
    estimator : linear classifier
        Has ``decision_function``, ``coef_`` and ``intercept_`` once fitted (``LinearSVC``).
    holdout : float
        Share of the training texts held out to fit the temperature (stratified by class), when
        ``fit`` is given no calibration set.
    min_held_out : int
        Fewer held-out examples of a class than this, and every text is held out once instead,
        over ``rare_folds`` stratified folds (rare labels of a multi-label corpus); fewer in a
        calibration set given to ``fit``, and a part of the training data is held out instead.
    rare_folds : int
        Folds for that case (at most the rarest class's count).
    random_state : int
        Seeds the held-out part.

    Attributes
    ----------
    temperature_ : float
        Scores are divided by it before the softmax (sigmoid for two classes).
    scaled_ : LogisticRegression
        The classifier fitted on all the training data, its weights divided by ``temperature_``;
        predictions and saved models use it. The classifier itself is not kept (its weights
        are ``scaled_``'s times ``temperature_``).
    choices_ : dict
        Which texts the temperature was fitted on (a run logs it as the tag ``calibration``).
    classes_ : ndarray
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "decision_function"])],
        "holdout": [Interval(Real, 0, 1, closed="neither")],
        "min_held_out": [Interval(Integral, 1, None, closed="left")],
        "rare_folds": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, holdout=0.1, min_held_out=5, rare_folds=3, random_state=None):
        self.estimator = estimator
        self.holdout = holdout
        self.min_held_out = min_held_out
        self.rare_folds = rare_folds
        self.random_state = random_state

    def fit(self, X, y, calibration_set=None):
        """Fit the classifier on ``X, y`` and the temperature on texts it was not trained on.

        ``calibration_set``: ``(X_calibration, y_calibration)``, texts that are not in ``X`` (a
        run's validation split), or a function returning them, called once the classifier is
        fitted (so their features can be computed while it fits). The temperature is fitted on the
        classifier's own scores for them, and no copy is trained. Without it, or when it holds
        fewer than ``min_held_out`` texts of a class (a handful of texts says little about a
        temperature), ``holdout`` of ``X`` is held out.
        """
        self._validate_params()
        check_classification_targets(y)
        X, y = check_array(X, accept_sparse=["csr", "csc"]), np.asarray(y)  # rows are picked below
        held_out = self._held_out_scores(X, y) if calibration_set is None else None  # a copy fits meanwhile
        classifier = clone(self.estimator).fit(X, y)
        self.classes_ = classifier.classes_
        too_few = None  # why a calibration set given was not used
        if held_out is None:
            X_calibration, y_calibration = calibration_set() if callable(calibration_set) else calibration_set
            too_few = self._too_few_to_calibrate(y_calibration)
            held_out = self._held_out_scores(X, y) if too_few else self._own_scores(classifier, X_calibration, y_calibration)
        scores, truth, fitted_on = held_out()
        self.choices_ = {"calibration": f"temperature fitted on {fitted_on}" + (f" ({too_few})" if too_few else "")}
        self.temperature_ = _best_temperature(scores, np.searchsorted(self.classes_, truth))
        if hasattr(classifier, "n_features_in_"):
            self.n_features_in_ = classifier.n_features_in_
        # The classifier's weights move into scaled_, divided in place: a second copy of a 20-class,
        # 331,874-term model is 51 MB more at the run's peak (benchmarks/RESULTS.md, December 5).
        self.scaled_ = _as_logistic_regression(classifier, self.temperature_)
        return self

    def _too_few_to_calibrate(self, y) -> str | None:
        """Why the calibration set cannot fit the temperature: a class with fewer than
        ``min_held_out`` texts in it. Not a warning: the held-out part of training takes its
        place, and the run's ``calibration`` line (and tag) says so, with this reason."""
        if len(y) == 0:
            raise ValueError("the calibration set has no texts")
        counts = np.array([np.sum(np.asarray(y) == label) for label in self.classes_])
        if counts.min() >= self.min_held_out:
            return None
        rarest = self.classes_[counts.argmin()].item()
        return (f"not the calibration set: it holds {counts.min()} text(s) of class {rarest!r}, fewer than "
                f"min_held_out={self.min_held_out}")

    def _own_scores(self, classifier, X, y):
        """A function giving the fitted ``classifier``'s scores for the calibration texts whose class
        it knows (a class absent from training has no score to calibrate), their classes, and what
        they are."""
        X, y = check_array(X, accept_sparse=["csr", "csc"]), np.asarray(y)
        known = np.isin(y, self.classes_)
        scores = classifier.decision_function(X[known])
        return lambda: (scores, y[known], f"the {int(known.sum())} texts of the calibration set")

    def _held_out_scores(self, X, y: np.ndarray):
        """Start fitting copies on all but a held-out part (``_held_out_folds``) in a forked child;
        a function that waits for the held-out scores, their classes, and what they are."""
        folds = self._held_out_folds(y)
        copies = ChildResult(_fit_and_score, (clone(self.estimator), X, y, folds), name="textclf-fit-copy")
        held = np.concatenate([rows for _, rows in folds])
        if len(folds) > 1:
            fitted_on = f"all {len(held)} training texts, each scored by one of {len(folds)} copies trained without it"
        elif len(folds[0][1]) == len(y) and len(folds[0][0]) == len(y):
            fitted_on = f"the {len(y)} training texts themselves (too few to hold any out)"
        else:
            fitted_on = f"{len(held)} held-out training texts, scored by a copy trained on the rest"
        return lambda: (copies.result(), y[held], fitted_on)

    def _held_out_folds(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(rows a copy fits on, rows it scores)`` for each copy. One copy holds out ``holdout``
        of the rows; but when that part would hold fewer than ``min_held_out`` examples of a class
        (a rare label of a multi-label corpus), its temperature would be fitted on one positive or
        none, so every row is held out once instead, over ``rare_folds`` stratified
        folds (fewer if a class has fewer examples). A class with one example cannot be both
        trained on and held out: it stays in training, with a warning."""
        classes, counts = np.unique(y, return_counts=True)
        single = np.flatnonzero(np.isin(y, classes[counts < 2]))
        rows = np.setdiff1d(np.arange(len(y)), single)
        if len(single):
            warnings.warn(f"{_describe(classes, counts)} has a single training example: it is not held out, so the "
                          "temperature is fitted without it", CalibrationWarning, stacklevel=3)
        row_classes, row_counts = np.unique(y[rows], return_counts=True)
        held_size = max(int(round(self.holdout * len(rows))), len(row_classes))
        if len(row_classes) == 0 or len(rows) - held_size < len(row_classes):  # too few to hold any out
            warnings.warn("too few training examples to hold some out: the temperature is fitted on the training "
                          "data itself, so the probabilities are overconfident", CalibrationWarning, stacklevel=3)
            return [(np.arange(len(y)), np.arange(len(y)))]
        kept, held = train_test_split(rows, test_size=held_size, random_state=self.random_state, stratify=y[rows])
        if np.unique(y[held], return_counts=True)[1].min() >= self.min_held_out:
            return [(np.sort(np.concatenate([kept, single])), np.sort(held))]
        folds = StratifiedKFold(min(self.rare_folds, int(row_counts.min())), shuffle=True,
                                random_state=self.random_state)
        return [(np.sort(np.concatenate([rows[fit], single])), np.sort(rows[score]))
                for fit, score in folds.split(rows, y[rows])]

    def decision_function(self, X):
        check_is_fitted(self, "scaled_")
        return self.scaled_.decision_function(X)

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "scaled_")
        return self.scaled_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "scaled_")
        return self.scaled_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        return tags

    def __textclf_state__(self, writer):
        """Saved as the ``LogisticRegression`` that predicts exactly as this does; an unfitted one
        (the template a one-vs-rest classifier keeps) as its unfitted classifier."""
        if not hasattr(self, "scaled_"):
            return writer.encode(self.estimator, "template")
        return writer.encode(self.scaled_, "scaled_")


def _fit_and_score(estimator, X, y, folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """For each fold, fit on its first rows and score its second; the scores in fold order."""
    return np.concatenate([clone(estimator).fit(X[fit], y[fit]).decision_function(X[score]) for fit, score in folds])


def _best_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The T that minimises the held-out cross-entropy of softmax(scores / T) (sigmoid for 1-D
    scores) against Platt's targets (``platt_targets``)."""
    targets = platt_targets(truth, 2 if scores.ndim == 1 else scores.shape[1])
    if scores.ndim == 1:  # two classes: the score is the second class's logit against the first's
        loss = lambda log_t: -(targets[:, 1] * log_expit(scores / np.exp(log_t))  # noqa: E731
                               + targets[:, 0] * log_expit(-scores / np.exp(log_t))).mean()
    else:
        loss = lambda log_t: -(targets * log_softmax(scores / np.exp(log_t), axis=1)).sum(axis=1).mean()  # noqa: E731
    # T from e^-7 to e^5: far beyond any useful scaling of SVM margins on either side.
    return float(np.exp(minimize_scalar(loss, bounds=(-7.0, 5.0), method="bounded").x))


def platt_targets(truth: np.ndarray, classes: int) -> np.ndarray:
    """One row per text: its true class ``(n + 1) / (n + 2)``, ``n`` the held-out texts of that
    class, and the rest shared by the other classes (Platt, 1999: for two classes, positives
    ``(N+ + 1) / (N+ + 2)`` and negatives ``1 / (N- + 2)``)."""
    truth = np.asarray(truth).ravel()
    counts = np.bincount(truth, minlength=classes)
    true = (counts[truth] + 1) / (counts[truth] + 2)
    targets = np.repeat(((1 - true) / (classes - 1))[:, None], classes, axis=1)
    targets[np.arange(len(truth)), truth] = true
    return targets


def _as_logistic_regression(linear, temperature: float) -> LogisticRegression:
    """A fitted ``LogisticRegression`` whose scores are ``linear``'s divided by ``temperature``:
    its ``predict_proba`` is then the softmax (sigmoid) of those scores. It takes ``linear``'s
    weights over (divided in place where they are float64), so ``linear`` is of no further use."""
    scaled = LogisticRegression()
    weights = np.asarray(linear.coef_, dtype=np.float64)
    scaled.coef_ = np.divide(weights, temperature, out=weights if weights.flags.writeable else None)
    scaled.intercept_ = np.atleast_1d(np.array(linear.intercept_, dtype=np.float64)) / temperature
    scaled.classes_ = linear.classes_
    scaled.n_features_in_ = scaled.coef_.shape[1]
    return scaled


def _describe(classes: np.ndarray, counts: np.ndarray) -> str:
    rare = classes[counts < 2]
    if classes.tolist() == [0, 1]:  # one-vs-rest fits each label as classes 0 and 1
        return "a label" if 1 in rare else "a label's negative class"
    return f"class {rare[0].item()!r}" + (f" (and {len(rare) - 1} more)" if len(rare) > 1 else "")
