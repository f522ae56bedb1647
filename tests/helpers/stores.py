"""Real sqlite stores for tests: an empty one ready for a run, and reading what a run left."""

import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from helpers.shared import built_once_in


def migrated_store(folder: Path) -> None:
    """Put an empty store with MLflow's tables at ``folder/mlflow.db``, unless the folder has one.

    MLflow migrates a new sqlite store on its first open: 2.2 s on 2 cores, in about a hundred
    tests that are about something else. The store is copied from one made once per test run (in
    the run's temporary folder, ``tests/conftest.py``). A copy differs from a store a run creates
    only in where its Default experiment, which textclf never uses, keeps artifacts. Tests of a first
    run on a new store say ``new_store=True`` where they start it (``helpers.processes``).
    """
    if (folder / "mlflow.db").exists():
        return
    template = built_once_in(Path(tempfile.gettempdir()), "migrated-store", _migrate)  # shared by both workers
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template / "mlflow.db", folder / "mlflow.db")


def _migrate(template: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(f"sqlite:///{template}/mlflow.db", str(template / "mlruns")).engine.dispose()


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
