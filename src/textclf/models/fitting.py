"""Fit an estimator, and have the features of the splits to predict next ready when it ends.

A scikit-learn ``Pipeline`` fits its feature steps, then its final classifier. A linear
classifier such as LinearSVC fits in compiled code that releases the GIL, so during that fit
the second core sits idle, while the prediction that follows spends most of its time turning
texts into features, which is Python work. So once the feature steps are fitted, a thread
pushes the validation and test texts through them while the classifier fits, and after the fit
only the classifier's ``predict_proba`` is left. Only the order of the work changes: with TF-IDF
features (each text's own) the probabilities are exactly those of ``fit`` then
``predict_proba``. An estimator that is not a Pipeline (a fine-tuned transformer) fits first
and predicts after, as usual.
"""

from __future__ import annotations

import inspect
import os
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse
from sklearn.pipeline import Pipeline

from textclf.memory import release_freed_memory
from textclf.pause import pause_at
from textclf.procstat import START_TICKS, stat_fields


CHUNK_TEXTS = 2000  # texts transformed at a time ahead of need
LATENCY_TEXTS = 20  # one-text predictions timed for the latency metric


class FittedModel:
    """A fitted estimator, with the features of some splits computed while it fitted, and the
    timings of its fit.

    ``probabilities(split)`` gives the same numbers as ``estimator.predict_proba(split.texts)``,
    computed once per split.
    """

    def __init__(self, estimator, features_ahead: dict[str, Future], fit_seconds: float, startup_seconds: float,
                 latency_texts=()):
        self.estimator = estimator
        self.fit_seconds = fit_seconds
        self.startup_seconds = startup_seconds
        self._features_ahead = features_ahead
        self._latency_texts = list(latency_texts)[:LATENCY_TEXTS]
        self._probabilities: dict[str, tuple[np.ndarray, float]] = {}

    def probabilities(self, split) -> tuple[np.ndarray, float]:
        """The probabilities for ``split``, and the seconds spent on them (features included)."""
        if split.name not in self._probabilities:
            self._probabilities[split.name] = self._predict(split)
            release_freed_memory()  # the split's features, no longer needed
        return self._probabilities[split.name]

    def _predict(self, split) -> tuple[np.ndarray, float]:
        ahead = self._features_ahead.pop(split.name, None)
        started = time.perf_counter()
        if ahead is None:
            probabilities = self.estimator.predict_proba(list(split.texts))
            return np.asarray(probabilities), time.perf_counter() - started
        chunks, feature_seconds = ahead.result()
        probabilities = self.estimator[-1].predict_proba(_stack(chunks))
        return np.asarray(probabilities), feature_seconds + time.perf_counter() - started

    def timings(self) -> dict[str, float]:
        """Seconds from process start to the fit (our start-up cost), seconds to fit, and the median
        milliseconds to tag one text (what a caller of the served model feels)."""
        return {"startup_seconds": self.startup_seconds, "fit_seconds": self.fit_seconds,
                "predict_single_text_ms": self._single_text_ms()}

    def _single_text_ms(self) -> float:
        timings = []
        for text in self._latency_texts:
            started = time.perf_counter()
            self.estimator.predict_proba([text])
            timings.append(time.perf_counter() - started)
        return 1000 * float(np.median(timings)) if timings else float("nan")


def fit(estimator, texts: list[str], targets, predict_next: Sequence = (), calibration=None) -> FittedModel:
    """Fit ``estimator`` on ``texts``; a Pipeline meanwhile prepares the features of the splits
    in ``predict_next``, in that order. The last split's texts time single-text predictions.

    ``calibration``: ``(split, targets)`` held out from training (a run's validation split), one
    of ``predict_next``. A Pipeline whose classifier's ``fit`` takes a ``calibration_set`` (a
    temperature-scaled SVM) gets that split's features and targets there, as a function the
    classifier calls once fitted: the features are the ones prepared while it fits.

    The fit runs on a thread that this one waits for in short steps: compiled fits (liblinear,
    L-BFGS) only return to Python when done, and Ctrl-C or SIGTERM must stop training within a
    second even then. After an interrupt the thread is left to the process's exit.
    """
    return _on_interruptible_thread(_fit, estimator, texts, targets, predict_next, calibration)


def _on_interruptible_thread(function, *args):
    outcome: Future = Future()

    def work() -> None:
        try:
            outcome.set_result(function(*args))
        except BaseException as error:  # reaches the caller's thread
            outcome.set_exception(error)

    threading.Thread(target=work, name="fit", daemon=True).start()
    while True:
        try:
            return outcome.result(timeout=0.2)  # between waits, this thread runs signal handlers
        except FutureTimeout:
            continue


def _fit(estimator, texts: list[str], targets, predict_next: Sequence, calibration) -> FittedModel:
    pause_at("fit")
    # What reading the data freed (the parsed tables) stays mapped in the heap of the thread that
    # freed it; this thread, which fits, allocates from its own.
    release_freed_memory()
    startup_seconds, started = seconds_since_process_start(), time.perf_counter()
    latency_texts = predict_next[-1].texts if predict_next else texts
    if not isinstance(estimator, Pipeline) or len(estimator) < 2:
        estimator.fit(texts, targets)
        return FittedModel(estimator, {}, time.perf_counter() - started, startup_seconds, latency_texts)
    # Fitting the steps one by one is what Pipeline.fit does (its steps are fitted in place).
    train_features = estimator[:-1].fit_transform(texts, targets)
    release_freed_memory()  # hand back what counting the terms built and dropped
    features_ahead = _in_background(estimator[:-1].transform, predict_next)
    estimator[-1].fit(train_features, targets, **_calibration_set(estimator[-1], calibration, features_ahead))
    del train_features
    release_freed_memory()  # the classifier's working copies
    return FittedModel(estimator, features_ahead, time.perf_counter() - started, startup_seconds, latency_texts)


def _calibration_set(classifier, calibration, features_ahead: dict[str, Future]) -> dict:
    """The classifier's ``calibration_set`` fit parameter: a function giving the calibration
    split's features (prepared ahead) and targets; nothing where there is no such split or
    parameter."""
    if calibration is None or "calibration_set" not in inspect.signature(classifier.fit).parameters:
        return {}
    split, split_targets = calibration
    if not split.texts:
        return {}
    if split.name not in features_ahead:
        raise ValueError(f"the calibration split {split.name!r} is not one of the splits to predict next")
    return {"calibration_set": lambda: (_stack(features_ahead[split.name].result()[0]), split_targets)}


def _in_background(transform, splits: Sequence) -> dict[str, Future]:
    """Transform each split's texts on a thread, in order; one future per split name."""
    futures = {split.name: Future() for split in splits}

    def work() -> None:
        for split in splits:
            try:
                futures[split.name].set_result(_transformed(transform, split))
            except BaseException as error:  # reaches whoever asks for this split
                futures[split.name].set_exception(error)

    # A daemon thread: after Ctrl-C or a failed fit the process exits without waiting for it.
    threading.Thread(target=work, name="features-ahead", daemon=True).start()
    return futures


def _transformed(transform, split) -> tuple[list, float]:
    """The split's features in chunks, and the seconds they took. In chunks: one whole split's
    scratch memory on top of the fit's peak would raise the run's peak memory; a chunk's does not."""
    started = time.perf_counter()
    texts = list(split.texts)
    chunks = [transform(texts[i:i + CHUNK_TEXTS]) for i in range(0, len(texts), CHUNK_TEXTS)]
    return chunks, time.perf_counter() - started


def _stack(chunks: list):
    """One feature matrix from the chunks' rows (sparse or dense, as the feature steps made them)."""
    if len(chunks) == 1:
        return chunks[0]
    return scipy.sparse.vstack(chunks, format="csr") if scipy.sparse.issparse(chunks[0]) else np.concatenate(chunks)


def seconds_since_process_start() -> float:
    """Seconds from the start of this process to now (Linux; NaN elsewhere)."""
    fields = stat_fields("self")
    if fields is None:  # not Linux
        return float("nan")
    try:
        ticks = int(fields[START_TICKS])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return uptime - ticks / os.sysconf("SC_CLK_TCK")
