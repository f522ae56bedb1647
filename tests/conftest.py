"""Shared helpers: run the real `python train.py` and `textclf` as users do, on temporary stores."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds" / "diplomacy"


# Start of a script run with `python -c` to load models as a user without textclf would.
WITHOUT_TEXTCLF = """
import json, os, sys
os.environ["HF_HUB_OFFLINE"] = "1"
class BlockTextclf:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "textclf":
            raise ImportError("textclf is not installed here")
sys.meta_path.insert(0, BlockTextclf())
import mlflow, pandas as pd
"""


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "TEXTCLF_PARENT_RUN_ID")}
    env.update(extra)
    return env


def store_overrides(folder: Path, artifact_location: Path | None = None) -> list[str]:
    """Point a run's tracking store, artifacts (default ``folder/mlruns``) and Hydra output at ``folder``."""
    return [
        f"tracking.uri=sqlite:///{folder}/mlflow.db",
        f"tracking.artifact_location={artifact_location or folder / 'mlruns'}",
        f"hydra.run.dir={folder}/outputs/${{now:%H-%M-%S-%f}}",
        f"hydra.sweep.dir={folder}/multirun/${{now:%H-%M-%S-%f}}",
    ]


def run_train(folder: Path, *overrides: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    flags = [o for o in overrides if o.startswith("-")]  # Hydra wants -m before the overrides
    command = [sys.executable, str(ROOT / "train.py"), *flags, *store_overrides(folder),
               *(o for o in overrides if not o.startswith("-"))]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=folder,
                          env=env or clean_env())


def start_long_finetune(folder: Path) -> subprocess.Popen:
    """Start `python train.py` fine-tuning a tiny BERT for (nearly) ever, to interrupt mid-fit."""
    from tiny_bert import build_tiny_bert

    tiny = build_tiny_bert(folder / "tiny")
    command = [sys.executable, str(ROOT / "train.py"), *store_overrides(folder), "model=minilm_finetune",
               f"model.encoder={tiny}", "model.estimator.max_length=64", "model.estimator.epochs=100000",
               "model.estimator.patience=100000", "model.estimator.progress=false"]
    return subprocess.Popen(command, cwd=folder, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textclf.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout, cwd=cwd, env=clean_env())


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


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory):
    """One default `python train.py` run on the seed corpus, shared by read-only tests."""
    folder = tmp_path_factory.mktemp("store")
    result = run_train(folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, result
