"""Hydra callback that gives a multirun sweep one MLflow parent run.

It runs in the launching process before any job starts, so it also creates the tracking store
and experiment once: parallel jobs (``hydra/launcher=joblib``) then never race to create a new
sqlite database. Jobs find the parent as ``tracking.sweep_parent`` says, whichever launcher
started them. When the sweep ends, it prints its jobs ranked by ``optimized_metric``.

A search (``hparams_search=NAME``) that continues an earlier study continues that study's parent
run too: one parent run per study, its trials from every invocation nested under it.
"""

from __future__ import annotations

import atexit
import os
import time

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from textclf.errors import SweepRefused, UserError, config_refused, interrupt_received
from textclf.tracking.description import SWEEP_METRIC_TAG, SWEEP_STARTED_TAG, SWEEP_TAG, storable_run_name

STUDY_TAG = "textclf.study"  # on a search's parent run and each of its trials' runs


class ParentRunCallback(Callback):
    """A sweep whose config or override was refused before any job started (a mistyped value,
    which Hydra finds when it composes the jobs) leaves the store as it was: a parent run it
    created goes, as a run that bad input ended does, and a study's parent it continued keeps the
    status it had."""

    def __init__(self):
        self.parent_run_id: str | None = None
        self._experiment_id: str | None = None
        self._status_before: str | None = None  # a continued study's parent: its status before this sweep
        self._children_before = 0
        self._tags_before: dict[str, str | None] = {}  # a continued study's parent: the tags this sweep replaces
        self._tracking_uri: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from mlflow.tracking import MlflowClient

        from textclf.config import check_sweep_settings
        from textclf.tracking.store import store_settings
        from textclf.tracking.sweep_parent import publish_parent_run
        from textclf.tracking.tracker import Tracker

        try:
            check_sweep_settings(config)
            tracker = Tracker.connect(**store_settings(config.tracking))
        except UserError as error:  # a setting, the store or a name refused: no job starts
            raise SweepRefused(error) from error
        overrides = " ".join(config.hydra.overrides.task)
        study = search_study_name(config)
        client = MlflowClient()
        self._tracking_uri = client.tracking_uri  # what _end reaches at exit, whatever is set by then
        self._experiment_id = tracker.experiment_id
        continued = study_parent_run(client, tracker.experiment_id, study) if study else None
        if continued is not None:
            self._continue(client, *continued)
        else:
            tags = {SWEEP_TAG: "parent", **({STUDY_TAG: study} if study else {})}
            run = client.create_run(tracker.experiment_id, run_name=storable_run_name(f"sweep {overrides}".strip()),
                                    tags=tags)
            self.parent_run_id = run.info.run_id
        # At once, so that a Ctrl-C from here on ends the parent (end_interrupted_sweep), and a
        # failed job, which makes Hydra raise before on_multirun_end, too.
        atexit.register(self._end, "FAILED")
        global _this_sweep
        _this_sweep = self
        self._stamp(client, str(config.optimized_metric))
        publish_parent_run(self.parent_run_id, str(config.hydra.sweep.dir))

    def _continue(self, client, parent_run_id: str, status_before: str) -> None:
        """Take over a continued study's parent run, keeping what ``_put_back`` restores if this
        sweep starts no job."""
        self.parent_run_id, self._status_before = parent_run_id, status_before
        self._children_before = child_run_count(client, self._experiment_id, parent_run_id)
        tags = client.get_run(parent_run_id).data.tags
        self._tags_before = {name: tags.get(name) for name in (SWEEP_STARTED_TAG, SWEEP_METRIC_TAG)}

    def _stamp(self, client, metric: str) -> None:
        """For ``textclf compare --sweep``: when the sweep started (a continued study's parent
        keeps its first start time) and the metric it ranks its jobs by (cv/macro_f1 with cv=kfold)."""
        from mlflow.entities import RunTag

        client.log_batch(self.parent_run_id, tags=[RunTag(SWEEP_STARTED_TAG, str(round(time.time() * 1000))),
                                                   RunTag(SWEEP_METRIC_TAG, metric)])

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        print_ranking(self.parent_run_id, config.optimized_metric, self._tracking_uri)
        self._end("FINISHED")

    def _end(self, status: str) -> None:
        if self.parent_run_id is None:
            return
        from mlflow.tracking import MlflowClient

        atexit.unregister(self._end)
        client = MlflowClient(self._tracking_uri)
        parent, self.parent_run_id = self.parent_run_id, None
        if status == "FAILED" and config_refused.is_set() and self._put_back(client, parent):
            return
        if status == "FAILED" and interrupt_received.is_set():  # Ctrl-C: as an interrupted run ends
            status = "KILLED"
        client.set_terminated(parent, status)
        print(f"sweep parent run {parent}: {status}")

    def end_interrupted(self) -> list[str] | None:
        """Ctrl-C: end the runs of the jobs this sweep lost (``recovery.end_killed_jobs``) and remove
        their model files, then end the parent KILLED. The names of the runs ended; None if the
        sweep had ended already."""
        from mlflow.tracking import MlflowClient

        from textclf.tracking.recovery import end_killed_jobs
        from textclf.tracking.scratch import remove_abandoned

        if self.parent_run_id is None:
            return None
        try:
            ended = end_killed_jobs(MlflowClient(self._tracking_uri), self._experiment_id, self.parent_run_id)
        finally:
            remove_abandoned()
            self._end("KILLED")
        return [run.info.run_name for run in ended]

    def _put_back(self, client, parent: str) -> bool:
        """Undo the parent run of a sweep that ran no job: delete the one it created, or give a
        continued study's parent its earlier status (and end time). False if a job had begun, or
        the store refused (a team server lets only an experiment's managers delete runs)."""
        from mlflow.exceptions import MlflowException

        try:
            if child_run_count(client, self._experiment_id, parent) > self._children_before:
                return False
            if self._status_before is None:
                client.update_run(parent, status="FAILED")  # not RUNNING in the UI's trash
                client.delete_run(parent)
            else:
                client.update_run(parent, status=self._status_before)
                for name, value in self._tags_before.items():  # compare --sweep latest: as before, too
                    if value is None:
                        client.delete_tag(parent, name)
                    else:
                        client.set_tag(parent, name, value)
                print(f"sweep parent run {parent}: {self._status_before} as before (this sweep started no job)")
        except MlflowException:
            return False
        return True


_this_sweep: ParentRunCallback | None = None  # the sweep this process runs, once its parent run exists


def end_interrupted_sweep() -> list[str] | None:
    """After Ctrl-C in a sweep's own process: end what its jobs' processes, killed, could not
    (``ParentRunCallback.end_interrupted``); the names of the runs ended. None outside a running sweep."""
    return _this_sweep.end_interrupted() if _this_sweep is not None else None


def end_as_at_exit() -> None:
    """End this process's sweep as the process's exit would (a refused sweep's parent put back, any
    other FAILED), and forget it: for a caller that runs train.py's main again in the same process."""
    global _this_sweep
    if _this_sweep is not None:
        _this_sweep._end("FAILED")
    _this_sweep = None


def sweep_began() -> bool:
    """Whether this process began a sweep (made its parent run)."""
    return _this_sweep is not None


def search_study_name(config: DictConfig) -> str | None:
    """The Optuna study a search sweep continues or starts (``search.study``); None for a plain sweep."""
    if config.get("hparams_search") is None:
        return None
    from textclf.search.study import study_name

    return study_name(config.hparams_search, config.data.name, config.hydra.overrides.task)


def study_parent_run(client, experiment_id: str, study: str) -> tuple[str, str] | None:
    """The parent run of an earlier sweep of ``study``, running again, and its status before;
    None if there is none."""
    escaped = study.replace("'", "\\'")
    runs = client.search_runs([experiment_id], f"tags.`{STUDY_TAG}` = '{escaped}' and tags.`{SWEEP_TAG}` = 'parent'",
                              max_results=1, order_by=["attributes.start_time DESC"])
    if not runs:
        return None
    client.update_run(runs[0].info.run_id, status="RUNNING")
    return runs[0].info.run_id, runs[0].info.status


def child_run_count(client, experiment_id: str, parent_run_id: str) -> int:
    """How many runs name ``parent_run_id`` as their parent, deleted ones included."""
    from mlflow.entities import ViewType

    return len(client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'",
                                  run_view_type=ViewType.ALL, max_results=50000))


def log_study(parent_run_id: str, tags: dict[str, str], plots) -> None:
    """A study's summary tags and plot files on its parent run (plots under ``study/``)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for key, value in tags.items():
        client.set_tag(parent_run_id, key, value)
    for plot in plots:
        client.log_artifact(parent_run_id, str(plot), artifact_path="study")


def print_ranking(parent_run_id: str | None, metric: str, tracking_uri: str) -> None:
    """The sweep's jobs in one table, best first (per task, as ``textclf compare`` ranks them)."""
    from textclf.tracking.comparison import render, sweep_rankings
    from textclf.tracking.discovery import store_flag

    if parent_run_id is None:
        return
    rankings, pruned = sweep_rankings(parent_run_id, metric)
    # this sweep's runs only; plain `textclf compare --wide` shows the experiment's every run
    wide_command = f"textclf compare --sweep {parent_run_id[:8]} --wide{store_flag(tracking_uri)}"
    for ranking in rankings:
        print(f"\nsweep {parent_run_id[:8]}, {render(ranking, wide=False, wide_command=wide_command)}")
    if pruned:
        print(f"({pruned} pruned trial(s) left out: their runs ended KILLED, tagged textclf.pruned)")


class LearningCurveCallback(Callback):
    """At the end of a sweep over ``data.per_label`` (``experiment=learning_curve``): the test
    score of each model at each training size, mean and spread over seeds, drawn and tabled on the
    sweep's parent run (``learning_curve/``)."""

    def __init__(self, metric: str = "test/macro_f1"):
        self.metric = metric

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from textclf.tracking.sweep_parent import PARENT_RUN_ENV

        parent = os.environ.get(PARENT_RUN_ENV)
        if parent:
            log_learning_curves(parent, self.metric)


def log_learning_curves(parent_run_id: str, metric: str) -> dict:
    """Draw and log the learning curves of a sweep's finished jobs; return them."""
    import statistics
    import tempfile
    from pathlib import Path

    from mlflow.tracking import MlflowClient

    from textclf.evaluation.plots import plot_learning_curves
    from textclf.safe_csv import write_rows

    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              max_results=5000)
    scores: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        if run.info.status == "FINISHED" and metric in run.data.metrics:
            size = run.data.params.get("data.per_label", "None")
            scores.setdefault(run.data.tags.get("textclf.model", "model"), {}).setdefault(
                "all" if size == "None" else size, []).append(run.data.metrics[metric])
    order = lambda size: float("inf") if size == "all" else float(size)  # noqa: E731
    curves = {model: [(size, statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
                      for size, values in sorted(by_size.items(), key=lambda item: order(item[0]))]
              for model, by_size in sorted(scores.items())}
    if curves:
        with tempfile.TemporaryDirectory() as folder:
            plot_learning_curves(curves, metric, Path(folder) / "learning_curve.png")
            with (Path(folder) / "learning_curve.csv").open("w", newline="", encoding="utf-8") as handle:
                write_rows(handle, [["model", "per_label", f"{metric}_mean", f"{metric}_std", "seeds"]] + [
                    [model, size, f"{mean:.4f}", f"{std:.4f}", len(scores[model][size])]
                    for model, points in curves.items() for size, mean, std in points])
            client.log_artifacts(parent_run_id, folder, artifact_path="learning_curve")
        for model, points in curves.items():
            print(f"learning curve {model}: " + ", ".join(f"{size} {mean:.3f}±{std:.3f}" for size, mean, std in points))
    return curves
