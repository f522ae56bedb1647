"""An audit's report as an MLflow run in the ``<experiment>-audit`` experiment: its settings as
params, how many of each problem it found as metrics, and the report folder as artifacts."""

from __future__ import annotations

import time
from pathlib import Path

from textclf.tracking.description import AUDIT_TAG
from textclf.tracking.store import store_errors_as_user_errors
from textclf.tracking.tracker import MlflowClient, Tracker


def log_audit(settings: dict, run_name: str, params: dict[str, str], metrics: dict[str, float], folder: Path) -> str:
    """Log the audit to the store ``settings`` (``store_settings``) name, in the experiment
    ``<settings["experiment"]>-audit``; return the run id."""
    from mlflow.entities import Metric, Param  # after tracker's import, which sets MLflow's environment first

    with store_errors_as_user_errors(settings["uri"]):
        tracker = Tracker.connect(**{**settings, "experiment": f"{settings['experiment']}-audit"})
        client = MlflowClient()
        run = client.create_run(tracker.experiment_id, run_name=run_name, tags={AUDIT_TAG: "report"})
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            client.log_batch(run_id, params=[Param(key, str(value)[:6000]) for key, value in params.items()],
                             metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()])
            client.log_artifacts(run_id, str(folder))
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
    return run_id
