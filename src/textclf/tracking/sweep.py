"""Hydra callback that gives a multirun sweep one MLflow parent run.

It runs in the launching process before any job starts, so it also creates the tracking store
and experiment once: parallel jobs (``hydra/launcher=joblib``) then never race to create a new
sqlite database. Jobs find the parent through an environment variable, which joblib's worker
processes inherit. When the sweep ends, it prints its jobs ranked by ``optimized_metric``.
"""

from __future__ import annotations

import atexit
import os

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class ParentRunCallback(Callback):
    def __init__(self):
        self.parent_run_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from mlflow.tracking import MlflowClient

        from textclf.tracking.store import PARENT_RUN_ENV
        from textclf.tracking.tracker import Tracker

        tracker = Tracker.connect(**config.tracking)
        overrides = " ".join(config.hydra.overrides.task)
        run = MlflowClient().create_run(tracker.experiment_id, run_name=f"sweep {overrides}".strip(),
                                        tags={"textclf.sweep": "parent"})
        self.parent_run_id = run.info.run_id
        os.environ[PARENT_RUN_ENV] = self.parent_run_id
        # A failed job makes Hydra raise before on_multirun_end; the parent must still end.
        atexit.register(self._end, "FAILED")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        print_ranking(self.parent_run_id, config.optimized_metric)
        self._end("FINISHED")

    def _end(self, status: str) -> None:
        if self.parent_run_id is None:
            return
        from mlflow.tracking import MlflowClient

        MlflowClient().set_terminated(self.parent_run_id, status)
        print(f"sweep parent run {self.parent_run_id}: {status}")
        self.parent_run_id = None


def print_ranking(parent_run_id: str | None, metric: str) -> None:
    """The sweep's jobs in one table, best first (per task, as ``textclf compare`` ranks them)."""
    from textclf.tracking.comparison import render, sweep_rankings

    if parent_run_id is None:
        return
    for ranking in sweep_rankings(parent_run_id, metric):
        print(f"\nsweep {parent_run_id[:8]}, {render(ranking, wide=False)}")
