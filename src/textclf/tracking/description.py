"""What a run is, in the words a person reads in the MLflow UI (no MLflow here).

A run is named after its model and the overrides it was given (``tfidf_logreg C=5.0``); the
full override list, the task and the label set are tags; the model version it registers carries
the same facts as tags and one line of description. ``registry`` uses the task and label set to
keep one task per registered model.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

# Overrides that say where a run is stored or written, or how many threads it uses, not what it
# is: left out of its name (the threads are logged as params).
WHERE_NOT_WHAT = ("tracking.", "paths.", "hydra.", "hydra/", "run_name", "hparams_search", "threads",
                  "blas_threads")
LONGEST_VALUE = 24  # characters of an override's value shown in a run name
LONGEST_STORED_RUN_NAME = 250  # MLflow's runs.name column: PostgreSQL and MySQL refuse longer (sqlite does not)
LONGEST_LABEL_TAG = 4000  # MLflow refuses longer tag values on some stores; longer label sets are hashed

OVERRIDES_TAG = "textclf.overrides"
MODEL_TAG = "textclf.model"
TASK_TAG = "textclf.task"
LABELS_TAG = "textclf.labels"
SWEEP_TAG = "textclf.sweep"  # "parent" on a sweep's parent run (its jobs have mlflow.parentRunId)
SWEEP_STARTED_TAG = "textclf.sweep_started"  # on a sweep's parent run: ms since the epoch, at each (re)start
SWEEP_METRIC_TAG = "textclf.sweep_metric"  # on a sweep's parent run: the metric its jobs are ranked by
AUDIT_TAG = "textclf.audit"  # "report" on a textclf audit's run (in the <experiment>-audit experiment)
MULTILABEL_TARGET = "MultilabelTask"  # the class name in a run's param task._target_


@dataclass(frozen=True)
class RunDescription:
    """A run's name and what it trains; ``started_ms``: when the work began (the run's start time)."""

    name: str
    model: str
    task: str
    labels: tuple[str, ...]
    overrides: tuple[str, ...]
    source: str
    started_ms: int
    parent_run_id: str | None = None  # the sweep's parent run, for a job of a sweep (tracking.sweep)

    def run_tags(self) -> dict[str, str]:
        """Tags the run is created with: its overrides, model, task and labels, and the script
        that ran it as MLflow's source (the worker process that creates the run is not it)."""
        tags = {OVERRIDES_TAG: " ".join(self.overrides), MODEL_TAG: self.model, TASK_TAG: self.task,
                LABELS_TAG: label_set(self.labels), "mlflow.source.name": self.source,
                "mlflow.source.type": "LOCAL"}
        return tags if self.parent_run_id is None else {**tags, "mlflow.parentRunId": self.parent_run_id}

    def version_tags(self, data_hash: str | None, metric: str, score: float) -> dict[str, str]:
        tags = {MODEL_TAG: self.model, TASK_TAG: self.task, LABELS_TAG: label_set(self.labels), metric: f"{score:.4f}"}
        return {**tags, "data.hash": data_hash} if data_hash else tags

    def version_description(self, metric: str, score: float, run_id: str) -> str:
        return (f"{self.name}: {self.task}, {len(self.labels)} labels, {metric} {score:.4f} "
                f"(run {run_id[:8]})")


def describe_run(cfg: DictConfig, overrides, task: str, labels, started_ms: int, refit: bool = False) -> RunDescription:
    """The description of the run ``cfg`` configures; ``overrides``: the command line's
    ``key=value`` list. ``cfg.run_name`` names it when set. ``refit``: a search's refit of its best
    trial, named as that trial is (the same settings) and marked, so the two tell apart in a list."""
    overrides = tuple(str(override) for override in overrides)
    model = cfg.model.get("name") or cfg.model.estimator["_target_"].rsplit(".", 1)[-1]
    name = cfg.run_name or " ".join([model, *(short_override(o) for o in overrides if _says_what(o))])
    mark = " (refit)" if refit else ""
    name = storable_run_name(name, room_for=mark) + mark
    source = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    from textclf.tracking.sweep_parent import sweep_parent_run  # Hydra's runtime: only train.py's jobs have one

    return RunDescription(name, model, task, tuple(labels), overrides, source, started_ms, sweep_parent_run())


def storable_run_name(name: str, room_for: str = "") -> str:
    """``name``, cut to what MLflow's runs.name column holds on PostgreSQL and MySQL, leaving
    ``room_for`` what will follow it."""
    longest = LONGEST_STORED_RUN_NAME - len(room_for)
    return name if len(name) <= longest else name[: longest - 3] + "..."


def _says_what(override: str) -> bool:
    key = override.lstrip("+~").split("=", 1)[0]
    return key != "model" and not key.startswith(WHERE_NOT_WHAT)


def short_override(override: str) -> str:
    """``model.classifier.C=5.0`` -> ``C=5.0``; a path's value -> its file name; a deletion
    (``~model.classifier.class_weight``) keeps its ``~``: ``~class_weight``; a quoted value
    (``model.encoder='/models/my encoder'``) loses its quotes, as Hydra reads it: ``encoder=my encoder``."""
    deleted = "~" if override.startswith("~") else ""
    key, _, value = override.lstrip("+~").partition("=")
    key = deleted + key.rsplit(".", 1)[-1]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    value = value.rstrip("/").rsplit("/", 1)[-1] if "/" in value and not value.startswith("[") else value
    value = four_digits(value)
    if len(value) > LONGEST_VALUE:
        value = value[: LONGEST_VALUE - 3] + "..."
    return f"{key}={value}" if _ else key


def four_digits(value: str) -> str:
    """A long decimal number to four significant digits, as run names and ``textclf compare``
    show a searched setting (``0.23345864076016243`` -> ``0.2335``, ``2.340677735927049e-05`` ->
    ``2.341e-05``); the param keeps every digit. From 1,000 up a number keeps its digits
    (``2024.01`` and ``2024.02`` stay apart), and anything not plainly a number is left as written."""
    try:
        number = float(value)
    except ValueError:
        return value
    plain = "_" not in value and ("." in value or "e" in value.lower()) and len(value) > 6
    return f"{number:.4g}" if plain and abs(number) < 1000 else value  # (nan and inf fail the bound)


def task_from_config(target: str) -> str:
    """A run's task from its param ``task._target_``: for runs logged before the task tag."""
    return "multilabel" if target.endswith(MULTILABEL_TARGET) else "multiclass"


def label_set(labels) -> str:
    """The label set as a tag value: the names joined by commas, or their digest when too long."""
    joined = ",".join(labels)
    if len(joined) <= LONGEST_LABEL_TAG:
        return joined
    return "sha256:" + hashlib.sha256(joined.encode()).hexdigest()


def git_commit() -> str | None:
    """The commit textclf's own code is at, when it runs from a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
