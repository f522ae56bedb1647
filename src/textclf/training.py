"""``run(cfg)``: the recipe behind ``python train.py``.

Seed, load and check the data, build the model, fit, decide, evaluate, log, register. Everything
that can be checked before training (data, config, tracking store) is checked before the MLflow
run starts, so bad input never leaves a run behind. How tracking reaches its worker process lives
in ``textclf.tracking.background``; how a Pipeline prepares predictions while it fits, in
``textclf.models.fitting``.
"""

from __future__ import annotations

import random
import time
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
from omegaconf import DictConfig

from textclf import held_out_reports
from textclf.config import build, config_choice
from textclf.data.checks import LIKELY_SEPARATORS, check_own_train_file_with_the_bundled_corpus
from textclf.errors import TextclfWarning, UserError
from textclf.evaluation import HEADLINE_METRICS
from textclf.evaluation.crossval import cross_validate, pool_of
from textclf.evaluation.evaluate import check_metric_setting, collect_metrics, evaluate
from textclf.models import fitting, steps_of
from textclf.models.blas import blas_threads, check_blas_threads
from textclf.models.data_parallel import launched_ranks, say_if_trained_alone, trains_data_parallel
from textclf.models.data_parallel import run_tags as data_parallel_tags
from textclf.models.params import check_estimator_params
from textclf.pause import pause_at
from textclf.search.trial import run_tags as search_run_tags
from textclf.search.trial import is_refit, search_trial
from textclf.tracking.background import check_store, open_tracker
from textclf.tracking.description import describe_run


def run(cfg: DictConfig, overrides: Sequence[str] = ()) -> dict[str, float]:
    """Train, evaluate, track and register the model ``cfg`` describes; return its metrics.

    ``overrides``: the ``key=value`` list ``cfg`` was composed with; with the model's name they
    name the run (``tfidf_logreg C=5.0``) unless ``cfg.run_name`` does.
    """
    started = time.time()  # the run's start time in MLflow: reading the data is part of the work
    seed_everything(cfg.seed)
    check_blas_threads(cfg.blas_threads)
    if launched_ranks().main:  # the process that tracks: a store it cannot use fails it before the data is read
        check_store(cfg.tracking)
    check_own_train_file_with_the_bundled_corpus(cfg.data, config_choice("data"), f"{cfg.paths.data_dir}/diplomacy")
    dataset = build(cfg.data, "data")
    report_dropped_rows(dataset)
    task = build(cfg.task, "task")
    say_if_labels_and_task_disagree(dataset, task, cfg.data.get("label_separator"))
    estimator = task.prepare(build(cfg.model.estimator, "model"), dataset.label_names)
    check_estimator_params(estimator, dataset.label_names)
    say_if_trained_alone(estimator, cfg.model.name)
    folds = build(cfg.cv, "cv") if cfg.get("cv") is not None else None
    if folds is not None:
        folds.check(pool_of(dataset.train, dataset.validation), task.name)
    check_metric_settings(cfg, task.name, dataset.label_names, cross_validated=folds is not None)
    calibration = calibration_split(cfg.model, dataset, task)
    if not launched_ranks().main:  # another torchrun process: it trains alongside rank 0, which reports
        with blas_threads(cfg.blas_threads):
            return train_alongside(estimator, dataset, task, folds)
    description = describe_run(cfg, overrides, task.name, dataset.label_names, round(started * 1000), is_refit(cfg))

    pause_at("before_run")
    with (open_tracker(cfg, dataset, description) as tracker, held_out_reports.listening(search_trial(cfg)),
          blas_threads(cfg.blas_threads)):
        tracker.log_tags({**search_run_tags(cfg), **data_parallel_tags(estimator)})
        cv = cross_validate(estimator, dataset, task, folds) if folds is not None else None
        if cv is not None:
            tracker.log_cross_validation(cv)
        fitted = fit(estimator, dataset, task, calibration)
        tracker.log_tags(report_choices(estimator))
        decision = task.fit_decision(fitted, dataset)
        tracker.log_history(training_history(estimator), training_steps(estimator))
        tracker.log_model(estimator, decision, example_texts=dataset.validation.texts[:3])
        evaluations = []
        for split in dataset.eval_splits:  # each split's reports are drawn while the next is scored
            evaluations.append(evaluate(fitted, split, decision, task))
            tracker.log_reports(split, evaluations[-1], decision)
        metrics = collect_metrics(fitted, evaluations, cv)
        registration = tracker.register(metrics) if cfg.tracking.register else tracker.finish(metrics)
    print_summary(tracker, metrics, registration, HEADLINE_METRICS[task.name])
    return metrics


def seed_everything(seed: int) -> None:
    """Seed Python and NumPy; estimators get ``random_state: ${seed}`` in their YAML."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"seed must be an integer, got {seed!r}. Fix: pass seed=42")
    random.seed(seed)
    np.random.seed(seed)


def fit(estimator, dataset, task, calibration=None) -> fitting.FittedModel:
    """Fit on the train split, preparing the validation and test features meanwhile where the
    estimator allows it. ``calibration``: a split whose texts a temperature-scaled classifier
    fits its temperature on (``calibration_split``)."""
    calibration = (calibration, task.targets(calibration, dataset.label_names)) if calibration is not None else None
    try:
        return fitting.fit(estimator, list(dataset.train.texts), task.targets(dataset.train, dataset.label_names),
                           predict_next=dataset.eval_splits, calibration=calibration)
    except ValueError as error:  # scikit-learn's word for settings and data it cannot fit
        raise UserError(f"the model could not be fitted: {str(error).rstrip('.')}. "
                        "Fix: check the model.* and features.* settings") from None


def check_metric_settings(cfg, task: str, label_names, cross_validated: bool) -> None:
    """The metric the champion rule compares and the one a sweeper optimises are metrics this run
    will have (a misspelt one was a KeyError once all the work was done)."""
    check_metric_setting("tracking.champion_metric", cfg.tracking.champion_metric, task, label_names, cross_validated)
    optimized = cfg.get("optimized_metric")
    if optimized is not None and optimized != cfg.tracking.champion_metric:
        check_metric_setting("optimized_metric", optimized, task, label_names, cross_validated)


def calibration_split(model_cfg, dataset, task):
    """The split named by ``model.calibration_set`` (``validation``, or null for none): a
    temperature-scaled classifier fits its temperature on its texts instead of training a copy.
    None for a multi-label task: each label gets a temperature of its own, and a rare label has
    too few validation texts for one, so the copies hold out part of train (rare labels by folds)."""
    name = model_cfg.get("calibration_set")
    if name is not None and name != "validation":
        raise UserError(f"model.calibration_set must be validation or null, got {name!r}. "
                        "Fix: pass model.calibration_set=validation, or model.calibration_set=null to hold out "
                        "part of the training data instead")
    return dataset.validation if name == "validation" and task.name != "multilabel" else None


def train_alongside(estimator, dataset, task, folds) -> dict[str, float]:
    """What a torchrun process other than rank 0 does: every fit rank 0 does (they share each
    batch), nothing else, or nothing at all for a model that cannot share. It reports no metrics."""
    if not trains_data_parallel(estimator):
        return {}
    if folds is not None:
        cross_validate(estimator, dataset, task, folds)
    fit(estimator, dataset, task)
    return {}


def report_dropped_rows(dataset) -> None:
    """What ``data.missing=drop`` and ``data.overlap=drop`` left out, a line each."""
    if dataset.dropped_missing:
        counts = " and ".join(f"{rows} {split}" for split, rows in dataset.missing_counts())
        print(f"data.missing=drop: dropped {counts} row(s) with no text or no label")
    if dataset.dropped_overlap:
        counts = " and ".join(f"{rows} {split}" for split, rows in dataset.dropped_overlap)
        print(f"data.overlap=drop: dropped {counts} text(s) that also appear in train (or, for test, in validation)")


def say_if_labels_and_task_disagree(dataset, task, separator: str | None) -> None:
    """A separator asks for label sets; a multiclass task trains on each text's first label only.
    (Lists in a JSONL or Parquet column, as the seed corpus has, are its primary label and others.)
    A multilabel task whose texts have one label each, some of them holding a likely separator
    (``economy|tech``), most likely reads label sets as labels: no separator was given."""
    several = sum(len(row) > 1 for row in dataset.train.labels)
    if separator is not None and task.name == "multiclass" and several:
        warnings.warn(f"data.label_separator={separator!r} gives {several} of {len(dataset.train)} training texts "
                      "several labels, and task=multiclass trains on the first of each. Fix: pass task=multilabel "
                      "to train on all of them", TextclfWarning, stacklevel=2)
    if separator is not None or task.name != "multilabel" or several:
        return
    names = set(dataset.label_names)
    for mark in LIKELY_SEPARATORS:
        # a label made of other labels (``economy|tech`` beside ``economy``) was said as the data was read
        joined = [name for name in dataset.label_names
                  if mark in name and not all(part.strip() in names for part in name.split(mark))]
        if joined:
            warnings.warn(f"task=multilabel, yet every training text has one label, and {len(joined)} of the "
                          f"{len(dataset.label_names)} labels hold {mark!r} (e.g. {joined[0]!r}). Fix: if a cell "
                          f"lists several labels, pass \"data.label_separator='{mark}'\"", TextclfWarning, stacklevel=2)
            return


def report_choices(estimator) -> dict[str, str]:
    """What the fitted steps chose from the data under their configured rules (``choices_``, e.g.
    which TF-IDF features suit the corpus size), and those of a one-vs-rest step's per-label copies
    (``task=multilabel``): printed, and returned for the run's tags."""
    choices = {}
    for step in steps_of(estimator):
        choices.update(getattr(step, "choices_", {}))
        choices.update(per_label_choices(getattr(step, "estimators_", ())))
    for key, value in choices.items():
        print(f"{key}: {value}")
    return choices


def per_label_choices(estimators) -> dict[str, str]:
    """The choices of per-label copies (a one-vs-rest classifier's ``estimators_``): each distinct
    one with how many labels made it, e.g. which texts each label's temperature was fitted on."""
    made: dict[str, Counter] = {}
    for copy in estimators:
        for key, value in getattr(copy, "choices_", {}).items():
            made.setdefault(key, Counter())[value] += 1
    return {key: "per label: " + "; ".join(f"{value} ({count} label{'s' * (count > 1)})" for value, count in values.items())
            for key, values in made.items()}


def training_history(estimator) -> list[dict]:
    """Per-epoch metrics of the step that trains in epochs (``history_``: a fine-tuned classifier, a
    contrastively tuned embedder), else nothing."""
    return next((list(step.history_) for step in steps_of(estimator) if hasattr(step, "history_")), [])


def training_steps(estimator) -> list[dict]:
    """Each optimizer step's metrics (loss, gradient norm), where the training step records them
    (``step_history_``)."""
    return next((list(step.step_history_) for step in steps_of(estimator) if hasattr(step, "step_history_")), [])


def print_summary(tracker, metrics: dict[str, float], registration, headline_metrics) -> None:
    headline = ", ".join(f"{key} {metrics[key]:.3f}" for key in ("cv/macro_f1", *headline_metrics) if key in metrics)
    if registration is None:
        print(f"\nrun {tracker.run_id} ({tracker.run_name}): {headline}\n"
              "model logged with the run, not registered (tracking.register=false)")
        return
    champion = registration.outcome()
    print(
        f"\nrun {tracker.run_id} ({tracker.run_name}): {headline}\n"
        f"model {registration.uri} (v{registration.version}, {champion})\n"
        f"load it: {tracker.load_code()}\n"
        f"tag texts: {tracker.predict_command()}\n"
        f"compare runs: {tracker.compare_command()}\n"
        f"browse runs: {tracker.ui_command()}"
    )
