"""What a process that died mid-run leaves behind is tidied by the next `train.py`, `textclf
predict` or `textclf compare` on the store, each run as the user runs it: this host's RUNNING runs
whose owner is gone end FAILED with a tag saying who found them, a version registered from one is
deleted, a registry lock whose holder is gone is released; a run owned by another host is left
alone. `predict` does this too on a local sqlite store, where it otherwise loads without MLflow."""

import shutil
import subprocess
import sys
import time

import pytest

from helpers.processes import dead_owner, until_zombie
from helpers.stores import client
from textclf.tracking.ownership import ENDED_BY_TAG, OWNER_TAG, describe, is_gone, this_process

MODEL = "diplomacy-topics"


def test_a_process_is_gone_once_it_exits_and_only_on_this_host_and_boot():
    owner = dead_owner()
    assert is_gone(owner) and not is_gone(this_process())
    host, boot, pid, ticks = this_process().split("/")
    assert not is_gone(f"elsewhere/{boot}/{pid}/{ticks}")  # another host's process cannot be checked
    assert is_gone(f"{host}/another-boot/{pid}/{ticks}")    # the machine restarted since
    assert not is_gone("written by an older textclf")


def test_a_process_is_gone_as_soon_as_it_exits_before_anyone_collects_it():
    """Killed with train.py, a worker is a zombie until init collects it (or for ever, in a
    container whose first process collects none): it is gone for the next process at once."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        owner = describe(child.pid)
        assert not is_gone(owner)
        child.stdin.close()  # it exits; nobody collects it yet
        until_zombie(child.pid)
        assert is_gone(owner)
    finally:
        child.kill()
        child.wait()
    assert is_gone(owner)


def test_a_process_whose_main_thread_ended_while_another_runs_is_not_gone():
    """Its first thread shows as a zombie, but the process can still write: not gone until every
    thread has ended (a killed process's threads end one after another too)."""
    code = ("import ctypes, sys, threading\n"
            "threading.Thread(target=sys.stdin.read).start()\n"
            "ctypes.CDLL(None).pthread_exit(None)\n")  # the main thread ends; the reader goes on
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        owner = describe(child.pid)
        until_zombie(child.pid)
        assert not is_gone(owner)
        child.stdin.close()  # the last thread ends
        deadline = time.monotonic() + 10
        while not is_gone(owner) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert is_gone(owner)
    finally:
        child.kill()
        child.wait()


def leave_abandoned_work(folder) -> dict:
    """In the store at ``folder``: a RUNNING run of a dead process with a version registered from
    it, a RUNNING run of another host's process, and a registry lock held by a dead process."""
    mlflow_client = client(folder)
    experiment = mlflow_client.get_experiment_by_name("diplomacy")
    experiment_id = (experiment.experiment_id if experiment else
                     mlflow_client.create_experiment("diplomacy", artifact_location=(folder / "mlruns").as_uri()))
    if not mlflow_client.search_registered_models(f"name = '{MODEL}'"):
        mlflow_client.create_registered_model(MODEL)
    abandoned = mlflow_client.create_run(experiment_id, tags={OWNER_TAG: dead_owner()}).info.run_id
    version = mlflow_client.create_model_version(MODEL, str(folder / "nowhere"), run_id=abandoned).version
    elsewhere = mlflow_client.create_run(experiment_id, tags={OWNER_TAG: "elsewhere/boot/1/1"}).info.run_id
    mlflow_client.create_registered_model(f"{MODEL}.textclf-lock", description=dead_owner())
    return dict(abandoned=abandoned, version=version, elsewhere=elsewhere)


def assert_tidied(folder, left: dict, found_by: str) -> None:
    mlflow_client = client(folder)
    run = mlflow_client.get_run(left["abandoned"])
    assert run.info.status == "FAILED" and run.data.tags[ENDED_BY_TAG].startswith(f"{found_by}: its process")
    assert [v.version for v in mlflow_client.search_model_versions(f"run_id = '{left['abandoned']}'")] == []
    assert mlflow_client.get_run(left["elsewhere"]).info.status == "RUNNING"
    assert mlflow_client.search_registered_models(f"name = '{MODEL}.textclf-lock'") == []


@pytest.mark.parametrize("command", ["predict", "compare"])
def test_the_next_predict_or_compare_tidies_the_store(command, trained_store, tmp_path, cli_in_process):
    folder, _ = trained_store
    shutil.copyfile(folder / "mlflow.db", tmp_path / "mlflow.db")  # the model's files stay where they are
    left = leave_abandoned_work(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    if command == "predict":
        from textclf.tracking.local_registry import load_registered_locally

        assert load_registered_locally(f"models:/{MODEL}@champion", uri) is None  # MLflow's path tidies
        result = cli_in_process("predict", "--tracking-uri", uri, stdin="Pyongyang fired a missile.\n")
        assert result.returncode == 0 and "north_korea_security" in result.stdout, result.stderr
        assert load_registered_locally(f"models:/{MODEL}@champion", uri) is not None  # fast again
    else:
        result = cli_in_process("compare", "--tracking-uri", uri)
        assert result.returncode == 0, result.stderr
    assert_tidied(tmp_path, left, f"textclf {command}")


def test_the_next_train_py_tidies_the_store(tmp_path, train_in_process):
    left = leave_abandoned_work(tmp_path)
    result = train_in_process(tmp_path, "features=tfidf_word", "model=tfidf_nb")
    assert result.returncode == 0, result.stderr[-2000:]
    assert_tidied(tmp_path, left, "python train.py")


def test_a_run_whose_tracking_worker_lives_on_is_left_to_it(tmp_path):
    """Training killed on its own: its worker ends the run itself (KILLED, or FINISHED once it was
    registering), so the next process leaves the run alone until the worker is gone too. The SQL
    reading of a local store (``predict``'s path without MLflow) agrees."""
    import sqlite3

    from textclf.tracking.local_registry import _left_by_a_dead_process
    from textclf.tracking.ownership import WORKER_TAG
    from textclf.tracking.recovery import end_abandoned_runs

    mlflow_client = client(tmp_path)
    experiment = mlflow_client.create_experiment("diplomacy", artifact_location=(tmp_path / "mlruns").as_uri())
    run = mlflow_client.create_run(experiment, tags={OWNER_TAG: dead_owner(), WORKER_TAG: this_process()}).info.run_id
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert not _left_by_a_dead_process(db)
    assert end_abandoned_runs(mlflow_client, found_by="test") == []
    assert mlflow_client.get_run(run).info.status == "RUNNING"

    mlflow_client.set_tag(run, WORKER_TAG, dead_owner())  # the worker is gone too
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert _left_by_a_dead_process(db)
    assert end_abandoned_runs(mlflow_client, found_by="test") == [run]
    assert mlflow_client.get_run(run).info.status == "FAILED"
