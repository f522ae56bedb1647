"""Run the real `python train.py` and `textclf` in fresh processes, on temporary stores."""

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers.paths import ROOT
from helpers.stores import migrated_store

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


def store_overrides(folder: Path, artifact_location: Path | None = None, new_store: bool = False) -> list[str]:
    """Point a run's tracking store, artifacts (default ``folder/mlruns``) and Hydra output at
    ``folder``, where an empty migrated store is put first (``stores.migrated_store``) unless
    ``new_store``: tests of a new store, or of runs that must leave no store, pass it."""
    if not new_store:
        migrated_store(folder)
    return [
        f"tracking.uri=sqlite:///{folder}/mlflow.db",
        f"tracking.artifact_location={artifact_location or folder / 'mlruns'}",
        f"hydra.run.dir={folder}/outputs/${{now:%H-%M-%S-%f}}",
        f"hydra.sweep.dir={folder}/multirun/${{now:%H-%M-%S-%f}}",
    ]


def train_command(folder: Path, *overrides: str, new_store: bool = False) -> list[str]:
    flags = [o for o in overrides if o.startswith("-")]  # Hydra wants -m before the overrides
    return [sys.executable, str(ROOT / "train.py"), *flags, *store_overrides(folder, new_store=new_store),
            *(o for o in overrides if not o.startswith("-"))]


def run_train(folder: Path, *overrides: str, timeout: int = 600, env: dict | None = None,
              new_store: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(train_command(folder, *overrides, new_store=new_store), capture_output=True, text=True,
                          timeout=timeout, cwd=folder, env=env or clean_env())


def start_long_finetune(folder: Path) -> subprocess.Popen:
    """Start `python train.py` fine-tuning a tiny BERT for (nearly) ever, to interrupt mid-fit."""
    from helpers.tiny_bert import build_tiny_bert

    tiny = build_tiny_bert(folder / "tiny")
    command = train_command(folder, "model=minilm_finetune", f"model.encoder={tiny}", "model.estimator.max_length=64",
                            "model.estimator.epochs=100000", "model.estimator.patience=100000",
                            "model.estimator.progress=false")
    return subprocess.Popen(command, cwd=folder, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None, timeout: int = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textclf.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout, cwd=cwd, env=env or clean_env())


def tracking_workers(pid: int | None = None) -> list:
    """The live tracking workers process ``pid`` (default: this one) has started: its children
    running ``textclf.tracking.worker``, and the children of its fork server (those are forks of
    the server, with its command line)."""
    import psutil

    workers = []
    for child in psutil.Process(pid).children():
        try:
            command = " ".join(child.cmdline())
            if "textclf.tracking.fork_server" in command:
                workers += [fork for fork in child.children() if fork.status() != psutil.STATUS_ZOMBIE]
            elif child.status() != psutil.STATUS_ZOMBIE and "textclf.tracking.worker" in command:
                workers.append(child)
        except psutil.NoSuchProcess:  # gone meanwhile
            pass
    return workers


def dead_owner() -> str:
    """The owner string (``textclf.tracking.ownership``) of a process that has since exited."""
    from textclf.tracking.ownership import describe

    process = subprocess.Popen(["sleep", "60"])
    owner = describe(process.pid)
    process.kill()
    process.wait()
    return owner


def until_zombie(pid: int, timeout: float = 10) -> None:
    """Wait until the uncollected child ``pid`` shows as a zombie (its first thread has ended)."""
    from textclf.procstat import STATE, stat_fields

    deadline = time.monotonic() + timeout
    while stat_fields(pid)[STATE] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stat_fields(pid)[STATE] == "Z", f"process {pid} did not exit in {timeout} s"
