"""k-fold cross-validation (``cv=kfold``): each fold's scores, their mean and spread, and the
out-of-fold probabilities of every text.

One 280-text validation split cannot tell two models apart by less than about two points
(experiments/baselines.md); the mean over k folds of train + validation can. The folds are
stratified by primary label, and with ``cv.group_column`` a group (say, an article's passages)
stays inside one fold, so no fold is scored on near-copies of what it trained on.

Each fold's model is a fresh clone of the run's estimator. A multi-label fold is scored with
thresholds tuned on the *other* folds' out-of-fold probabilities (cross-fitting): tuning them on
the fold itself would score it too kindly. While the folds run, each one's score is also reported
(``held_out_reports``) so that a search trial can be pruned; for multi-label data that early
score uses thresholds tuned on the fold itself, since the other folds are not done yet.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from tqdm.auto import tqdm

from textclf import held_out_reports
from textclf.data import Split
from textclf.data.splitting import subset
from textclf.errors import UserError
from textclf.evaluation.metrics import SUMMARY_SCORES, per_label_score_names
from textclf.models import fitting


@dataclass(frozen=True)
class KFold:
    """How to cut train + validation into folds (``configs/cv/kfold.yaml``).

    Parameters
    ----------
    folds : int
        Number of folds (at least 2).
    group_column : str or None
        The data column naming each text's group (read by the data config as
        ``data.group_column``); None: every text on its own.
    score : str
        The fold metric reported as each fold's step (pruning) and averaged as ``cv/<score>``.
    seed : int
        Shuffles the rows before they are cut.
    setting : str
        The setting that chose ``folds``, as an error names it (``audit.folds`` for the audit).
    """

    folds: int = 5
    group_column: str | None = None
    score: str = "macro_f1"
    seed: int = 0
    setting: str = "cv.folds"

    def __post_init__(self):  # checked as the config is built, before any run exists
        if not isinstance(self.folds, int) or isinstance(self.folds, bool) or self.folds < 2:
            raise UserError(f"{self.setting} must be an integer of at least 2, got {self.folds!r}. "
                            f"Fix: pass {self.setting}=5")

    def check(self, pool: Split, task: str | None = None) -> None:
        """Raise ``UserError`` if ``pool`` cannot be cut into ``folds`` stratified folds, or (given
        the ``task``) the folds' scores have no ``score``: called by ``split`` and, before a run
        starts, by ``training.run``."""
        if task is not None and self.score not in (*SUMMARY_SCORES[task], *_per_label_scores(pool)):
            raise UserError(f"cv.score={self.score} is not a score of a {task} fold (one of "
                            f"{', '.join(SUMMARY_SCORES[task])}, or f1/LABEL, precision/LABEL, recall/LABEL). "
                            "Fix: pass cv.score=macro_f1")
        units = len(set(pool.groups)) if self.group_column else len(pool)
        if units < self.folds:
            what = f"groups in {self.group_column!r}" if self.group_column else "texts"
            raise UserError(f"{self.setting}={self.folds} needs at least {self.folds} {what}; train and validation "
                            f"hold {units}. Fix: pass a smaller {self.setting}")
        label, largest = Counter(pool.primary_labels).most_common(1)[0]
        if largest < self.folds:  # scikit-learn's stratified folds need one label at least that common
            fix = f"pass {self.setting}={largest} or fewer" if largest >= 2 else "give some label a second text"
            raise UserError(f"{self.setting}={self.folds} is more folds than any label has texts (the most: "
                            f"{largest}, {label!r}). Fix: {fix}")

    def split(self, pool: Split) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(rows to fit, rows to score)`` per fold; every row is scored by exactly one fold."""
        self.check(pool)
        rows, primary = np.arange(len(pool)), np.asarray(pool.primary_labels)
        with warnings.catch_warnings():  # a label rarer than the fold count: scikit-learn says so per call
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            if self.group_column:
                cutter = StratifiedGroupKFold(self.folds, shuffle=True, random_state=self.seed)
                return list(cutter.split(rows, primary, groups=np.asarray(pool.groups)))
            return list(StratifiedKFold(self.folds, shuffle=True, random_state=self.seed).split(rows, primary))


@dataclass(frozen=True)
class CrossValidation:
    """What cross-validation found: per-fold metrics and every pooled text's out-of-fold
    probabilities (columns: ``label_names``)."""

    pool: Split
    label_names: tuple[str, ...]
    fold_of_row: np.ndarray
    probabilities: np.ndarray
    fold_metrics: tuple[dict[str, float], ...]

    def metrics(self) -> dict[str, float]:
        """``cv/<metric>`` (the mean over folds) and ``cv/<metric>_std`` for every overall metric
        (per-label ones stay in the folds' reports)."""
        keys = [key for key in self.fold_metrics[0] if "/" not in key]
        summary = {}
        for key in keys:
            values = np.array([fold[key] for fold in self.fold_metrics])
            summary[f"cv/{key}"] = float(values.mean())
            summary[f"cv/{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return summary

    def oof_rows(self):
        """``oof_predictions.csv``'s rows, header first: id, text, given labels, fold, and a
        ``prob_<label>`` column per label."""
        yield ["id", "text", "labels", "fold", *(f"prob_{name}" for name in self.label_names)]
        for row in range(len(self.pool)):
            yield [self.pool.ids[row], self.pool.texts[row], "|".join(self.pool.labels[row]),
                   int(self.fold_of_row[row]), *(round(float(p), 6) for p in self.probabilities[row])]


def cross_validate(estimator, dataset, task, plan: KFold) -> CrossValidation:
    """Fit a clone of ``estimator`` per fold of train + validation; score each fold."""
    return cross_validate_pool(estimator, pool_of(dataset.train, dataset.validation), dataset.label_names, task, plan)


def cross_validate_pool(estimator, pool: Split, label_names, task, plan: KFold) -> CrossValidation:
    """Fit a clone of ``estimator`` per fold of ``pool``; score each fold (``textclf audit`` pools
    every split)."""
    label_names = tuple(label_names)
    folds = plan.split(pool)
    probabilities = np.zeros((len(pool), len(label_names)))
    fold_of_row = np.empty(len(pool), dtype=np.int64)
    with each_warning_once():
        for number, (fit_rows, held_rows) in enumerate(tqdm(folds, desc="cross-validation", unit="fold"), start=1):
            held = subset(pool, held_rows, f"fold{number}")
            fitted = _fit_fold(estimator, subset(pool, fit_rows, "train"), held, task, label_names)
            fold_probabilities, _ = fitted.probabilities(held)
            probabilities[held_rows] = _in_label_order(fold_probabilities, fitted.estimator, label_names, task)
            fold_of_row[held_rows] = number
            early = _score(task, held, label_names, probabilities[held_rows], tuned_on=(held, probabilities[held_rows]))
            held_out_reports.report("fold", number, early[plan.score])
    fold_metrics = []
    for number, (_, held_rows) in enumerate(folds, start=1):
        others = np.flatnonzero(fold_of_row != number)
        tuned_on = (subset(pool, others, "other folds"), probabilities[others])
        fold_metrics.append(_score(task, subset(pool, held_rows, f"fold{number}"), label_names,
                                   probabilities[held_rows], tuned_on))
    return CrossValidation(pool, label_names, fold_of_row, probabilities, tuple(fold_metrics))


@contextlib.contextmanager
def each_warning_once():
    """Each warning of the block said once, at its end: every fold's model says the same of the
    data (a label with one text), and four copies broke the progress bar's line. (The "once"
    filter is not enough: any ``catch_warnings`` in the libraries a fold calls resets it.)"""
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            yield
    finally:  # a fold that fails keeps what was said before it: often why it failed
        for message in {(str(w.message), w.category): w for w in said}.values():
            warnings.warn_explicit(message.message, message.category, message.filename, message.lineno)


def pool_of(*splits: Split) -> Split:
    """One split holding the rows of ``splits``, in order (an empty split adds nothing: the
    audit's splits not given)."""
    splits = tuple(split for split in splits if len(split))
    groups = sum((split.groups for split in splits), ()) if all(split.groups for split in splits) else ()
    return Split("cv", sum((split.texts for split in splits), ()), sum((split.labels for split in splits), ()),
                 sum((split.ids for split in splits), ()), " + ".join(split.source for split in splits), groups)


def _fit_fold(estimator, train: Split, held: Split, task, label_names) -> fitting.FittedModel:
    try:
        return fitting.fit(clone(estimator), list(train.texts), task.targets(train, label_names), predict_next=(held,))
    except ValueError as error:  # scikit-learn's word for settings and data it cannot fit
        raise UserError(f"a cross-validation fold could not be fitted: {str(error).rstrip('.')}. "
                        "Fix: check the model.* and features.* settings, or pass a smaller cv.folds") from None


def _in_label_order(probabilities: np.ndarray, estimator, label_names, task) -> np.ndarray:
    """Columns in ``label_names`` order. A multi-class fold that never saw a rare label has no
    column for it: that label gets probability 0 there."""
    if task.name != "multiclass":
        return probabilities  # one-vs-rest over every label's column
    classes = [str(name) for name in estimator.classes_]
    if classes == list(label_names):
        return probabilities
    ordered = np.zeros((len(probabilities), len(label_names)))
    ordered[:, [label_names.index(name) for name in classes]] = probabilities
    return ordered


def _score(task, split: Split, label_names, probabilities: np.ndarray, tuned_on) -> dict[str, float]:
    """Scores of ``split`` under the decision tuned on ``tuned_on`` (a split and its probabilities)."""
    tuning_split, tuning_probabilities = tuned_on
    decision = task.decide(tuning_split, label_names, tuning_probabilities)
    return task.score(split, tuple(decision.labels(probabilities)), probabilities, decision)


def _per_label_scores(pool: Split) -> list[str]:
    """The per-label scores a fold of ``pool`` gives (``f1/LABEL``, ``precision/LABEL``, ``recall/LABEL``)."""
    return per_label_score_names({label for row in pool.labels for label in row})
