"""``run(cfg)``: the recipe behind ``python train.py``.

Seed, load and check the data, build the model, fit, evaluate, log, register. Everything that can
be checked before training (data, config, tracking store) is checked before the MLflow run starts,
so bad input never leaves a run behind. MLflow's work runs in a second process beside training
(``tracking_worker``): each ``tracker.*`` call below returns at once.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from textclf import fitting
from textclf.config import build, flatten_config, to_yaml
from textclf.errors import UserError
from textclf.model_state import save_state
from textclf.pyfunc_model import decide_labels, tag_texts
from textclf.report import Evaluation
from textclf.tracking_worker import TrackingWorker, check_reachable
from textclf.validation import check_estimator_params


def run(cfg: DictConfig) -> dict[str, float]:
    """Train, evaluate, track and register the model ``cfg`` describes; return its metrics."""
    seed_everything(cfg.seed)
    dataset = build(cfg.data, "data")
    task = build(cfg.task, "task")
    estimator = task.prepare(build(cfg.model.estimator, "model"))
    check_estimator_params(estimator)
    check_reachable(cfg.tracking.uri, cfg.tracking.connect_timeout)

    with TrackingWorker(OmegaConf.to_container(cfg.tracking, resolve=True)) as tracker, tracker.start_run(cfg.run_name):
        tracker.call("log_config", flatten_config(cfg), to_yaml(cfg), urgent=True)  # the first artifact written
        tracker.log_dataset(dataset.summary())

        startup_seconds = seconds_since_process_start()
        started = time.perf_counter()
        model = fit(estimator, dataset, task)
        fit_seconds = time.perf_counter() - started

        # Validation probabilities serve twice: to fit the decision rule (thresholds), and to score.
        validation_probabilities, validation_seconds = model.probabilities(dataset.validation)
        decision = task.fit_decision(estimator, dataset.validation, dataset.label_names, validation_probabilities)
        tracker.log_history(training_history(estimator))
        with tempfile.TemporaryDirectory() as folder:  # the worker logs from it before it is removed
            example = example_io(estimator, decision, dataset.validation.texts[:3])
            with ThreadPoolExecutor(1) as background:
                # Writing the model files is mostly waiting on the disk, with the GIL released:
                # predict meanwhile.
                saving = background.submit(save_and_log_model, tracker, estimator, decision,
                                           Path(folder) / "state", example)
                evaluations = [evaluate(dataset.validation, validation_probabilities, validation_seconds, decision, task)]
                tracker.log_reports(dataset.validation, evaluations[0], decision)
                evaluations.append(evaluate(dataset.test, *model.probabilities(dataset.test), decision, task))
                tracker.log_reports(dataset.test, evaluations[1], decision)
                saving.result()
            metrics = {"fit_seconds": fit_seconds, "startup_seconds": startup_seconds}
            for evaluation in evaluations:
                metrics.update({f"{evaluation.split}/{key}": value for key, value in evaluation.metrics.items()})
            metrics["predict_single_text_ms"] = single_text_latency_ms(estimator, dataset.test.texts)
            tracker.log_metrics(metrics)
            registration = tracker.result(tracker.register(metrics[tracker.champion_metric]))
    print_summary(tracker.run_id, metrics, registration, tracker)
    return metrics


def fit(estimator, dataset, task) -> fitting.FittedModel:
    """Fit on the train split, preparing the validation and test features meanwhile where the
    estimator allows it (see ``textclf.fitting``)."""
    try:
        return fitting.fit(estimator, list(dataset.train.texts), task.targets(dataset.train, dataset.label_names),
                           predict_next=(dataset.validation, dataset.test))
    except ValueError as error:  # scikit-learn's word for settings and data it cannot fit
        raise UserError(f"the model could not be fitted: {str(error).rstrip('.')}. Fix: check the model.* and features.* settings") from None


def training_history(estimator) -> list[dict]:
    """Per-epoch metrics of an estimator that trains in epochs (``history_``), else nothing."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return list(getattr(final, "history_", []))


def evaluate(split, probabilities: np.ndarray, seconds: float, decision: dict, task) -> Evaluation:
    """Apply the saved decision rule to ``split``'s probabilities, and score the labels."""
    started = time.perf_counter()
    predicted = tuple(decide_labels(probabilities, decision))
    seconds += time.perf_counter() - started
    metrics = task.score(split, predicted, probabilities, decision)
    metrics["predict_texts_per_second"] = len(split) / seconds
    report, confusion = task.tables(split, predicted, decision)
    return Evaluation(split.name, predicted, probabilities, metrics, seconds, report, confusion)


def save_and_log_model(tracker, estimator, decision: dict, folder: Path, example) -> None:
    packages = save_state(estimator, decision, folder)
    tracker.log_model(folder, packages, *example)


def example_io(estimator, decision: dict, texts) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An input example and the model's output for it, for the saved model's signature."""
    return pd.DataFrame({"text": list(texts)}), tag_texts(estimator, decision, list(texts))


def single_text_latency_ms(estimator, texts, repeats: int = 20) -> float:
    """Median milliseconds to tag one text, the latency a caller of the served model feels."""
    timings = []
    for text in list(texts)[:repeats]:
        started = time.perf_counter()
        estimator.predict_proba([text])
        timings.append(time.perf_counter() - started)
    return 1000 * float(np.median(timings))


def seconds_since_process_start() -> float:
    """Seconds from the start of this process to now (Linux; NaN elsewhere): our start-up cost."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


def seed_everything(seed: int) -> None:
    """Seed Python and NumPy; estimators get ``random_state: ${seed}`` in their YAML."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"seed must be an integer, got {seed!r}. Fix: pass seed=42")
    random.seed(seed)
    np.random.seed(seed)


def print_summary(run_id: str, metrics: dict[str, float], registration, tracker) -> None:
    headline = ", ".join(
        f"{key} {metrics[key]:.3f}"
        for key in ("validation/macro_f1", "test/macro_f1", "test/accuracy", "fit_seconds")
        if key in metrics
    )
    champion = "now champion" if registration.promoted else f"champion stays v{registration.champion_version}"
    print(
        f"\nrun {run_id}: {headline}\n"
        f"model {registration.uri} (v{registration.version}, {champion})\n"
        f"load it: mlflow.pyfunc.load_model('{tracker.champion_uri}')\n"
        f"browse runs: {tracker.ui_command()}"
    )
