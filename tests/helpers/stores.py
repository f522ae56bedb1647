"""Read what a run left in a real sqlite store."""

import sqlite3
import time
from pathlib import Path


def client(folder: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db")


def all_runs(folder: Path):
    mlflow_client = client(folder)
    experiments = mlflow_client.search_experiments()
    return mlflow_client.search_runs([e.experiment_id for e in experiments]) if experiments else []


def wait_for_running_run(folder, process, timeout=120):
    """Poll the store read-only with sqlite3: an MLflow client here could race train.py creating it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()[-2000:]
        try:
            with sqlite3.connect(f"file:{folder / 'mlflow.db'}?mode=ro", uri=True) as db:
                statuses = [row[0] for row in db.execute("SELECT status FROM runs")]
                metrics = db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
        except sqlite3.Error:  # not created yet
            statuses, metrics = [], 0
        if statuses == ["RUNNING"] and metrics == 0:
            return
        time.sleep(0.5)
    raise TimeoutError("the run never started")
