"""What the fault tests share: delivering a signal, waiting on train.py, and reading what the
store holds afterwards."""

import os
import signal
import sqlite3
import time

import psutil


def assert_store_is_truthful(client, runs, experiment: str) -> None:
    from mlflow.exceptions import MlflowException

    statuses = {run.info.run_id: run.info.status for run in runs}
    assert "RUNNING" not in statuses.values()
    for run in runs:
        if run.info.status == "FINISHED":
            assert "test/macro_f1" in run.data.metrics and run.data.tags.get("registered_version")
    registered = f"{experiment}-topics"
    for version in client.search_model_versions(f"name = '{registered}'"):
        assert statuses.get(version.run_id) == "FINISHED", (version.version, statuses)
    try:
        holder = client.get_model_version_by_alias(registered, "champion")
        assert statuses.get(holder.run_id) == "FINISHED"
    except MlflowException:
        pass  # no champion
    assert not client.search_registered_models(f"name LIKE '{registered}.textclf-lock%'")


def runs_of(client, experiment: str, from_test: str | None = None) -> list:
    """The experiment's runs. ``from_test``: the store's URI, while train.py is writing to it: a
    sqlite store is then read with sqlite3, read-only (an MLflow client opening it checks and may
    upgrade its schema, racing the worker's writes), and the answer is only whether a run exists."""
    if from_test and from_test.startswith("sqlite:///"):
        try:
            with sqlite3.connect(f"file:{from_test.removeprefix('sqlite:///')}?mode=ro", uri=True) as db:
                return db.execute("SELECT run_uuid FROM runs").fetchall()
        except sqlite3.Error:
            return []
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def wait_for(condition, process, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"train.py exited before {what}: {process.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def interrupt_group_when(condition, process, what: str, timeout: float = 120) -> str:
    """Ctrl-C as a terminal sends it (SIGINT to ``process``'s group) once ``condition()`` holds;
    the process's stderr once it has ended. The group is killed if it outlives the wait."""
    try:
        wait_for(condition, process, what, timeout)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            kill_group(process)
    return stderr


def deliver(signum: int, target: str, process, worker) -> None:
    if target == "training":
        process.send_signal(signum)
    elif target == "worker":
        worker.send_signal(signum)
    else:
        os.killpg(process.pid, signum)


def is_dead(worker) -> bool:
    """Gone, or exited and waiting for its parent (train.py, or init once train.py is gone) to
    collect its exit code. A killed process's first thread shows as a zombie while its other
    threads are still exiting, and until they have, its parent's ``poll()`` still finds it running
    (seen: a worker killed before the run began was taken for the run, 2 of 8 tries): so every
    thread must be gone."""
    try:
        if not worker.is_running():  # collected (its pid may already be another process's)
            return True
        return worker.status() == psutil.STATUS_ZOMBIE and len(os.listdir(f"/proc/{worker.pid}/task")) <= 1
    except (psutil.NoSuchProcess, FileNotFoundError):
        return True


def still_running(processes, timeout: float = 60) -> list:
    """Those of ``processes`` still running after waiting up to ``timeout`` seconds for them to end.
    An exited process counts as ended before anyone collects its exit code (``is_dead``), by the
    rule textclf follows (``procstat.has_exited``): one whose parent died waits for the machine's
    init to collect it, which took 1 to 1.5 s here."""
    deadline = time.monotonic() + timeout
    while (running := [process for process in processes if not is_dead(process)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return running


def kill_group(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)
