"""The fault matrix's promises hold for a worker forked from the fork server (a sweep's second job
on: textclf.tracking.fork_server) as for a fresh one: killed at the worker's edges of a run (its
reports, between registering and ending the run), with training, the worker or the whole group
as the target. And neither the fork nor the server outlives train.py.

Each cell runs a two-job sweep, lets the first job's worker (a fresh interpreter) pass the moment,
and signals while the second job's worker (a fork) is paused there."""

import os
import signal
import subprocess

import psutil
import pytest

from helpers.faults import assert_store_is_truthful, deliver, is_dead, kill_group, still_running, wait_for
from helpers.processes import clean_env, train_command
from helpers.stores import all_runs, client

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="fork server: Linux only")

CELLS = {  # moment, target, signal: exit code, the second job's run, its model registered, the line said
    ("reports", "training", "SIGKILL"): (-9, "KILLED", False, None),
    ("register", "worker", "SIGKILL"): (1, "FAILED", False, "worker process was killed"),
    ("register", "group", "SIGINT"): (130, "FINISHED", True, "interrupted during the last step"),
}


def paused_worker(pause_file, process, after: int | None = None) -> int:
    """The process id of the worker paused at ``pause_file`` (other than ``after``)."""
    def paused():
        text = pause_file.exists() and pause_file.read_text().strip()
        return text and int(text.split()[1]) != after and int(text.split()[1])

    wait_for(paused, process, "a worker to pause")
    return paused()


@pytest.mark.parametrize("moment,target,name", list(CELLS), ids=["-".join(cell) for cell in CELLS])
def test_a_forked_worker_keeps_the_fault_matrixs_promises(tmp_path, moment, target, name, cli_in_process):
    exit_code, status, registered, says = CELLS[(moment, target, name)]
    pause_file, scratch = tmp_path / "paused", tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        train_command(tmp_path, "-m", "features=tfidf_word", "model=tfidf_nb", "seed=1,2"), cwd=tmp_path,
        env=clean_env(TEXTCLF_PAUSE_AT=moment, TEXTCLF_PAUSE_FILE=str(pause_file), TMPDIR=str(scratch)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = paused_worker(pause_file, process)
        pause_file.unlink()  # the first job goes on
        forked = psutil.Process(paused_worker(pause_file, process, after=first))
        server = forked.parent()
        assert "textclf.tracking.fork_server" in " ".join(server.cmdline()) and server.ppid() == process.pid
        deliver(getattr(signal, name), target, process, forked)
        if target == "worker":
            wait_for(lambda: is_dead(forked), process, "the worker to die")
        pause_file.unlink()
        _, stderr = process.communicate(timeout=90)
        assert still_running([forked, server]) == [], \
            f"the forked worker or the fork server outlived train.py: {stderr[-3000:]}"
    finally:
        kill_group(process)

    assert process.returncode == exit_code, stderr[-3000:]
    assert list(scratch.iterdir()) == [], "files were left in the temporary folder"
    assert "Traceback" not in stderr, stderr[-3000:]
    said = [line for line in stderr.splitlines() if line.startswith(("error:", "interrupted"))]
    assert said == [] if says is None else (len(said) == 1 and says in said[0]), stderr[-3000:]

    cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db")  # tidies what died
    runs = sorted((run for run in all_runs(tmp_path) if "mlflow.parentRunId" in run.data.tags),
                  key=lambda run: run.info.start_time)
    assert_store_is_truthful(client(tmp_path), runs, "diplomacy")
    assert [run.info.status for run in runs] == ["FINISHED", status]
    versions = client(tmp_path).search_model_versions("name = 'diplomacy-topics'")
    assert sorted(version.run_id for version in versions) == sorted(
        run.info.run_id for run in runs[: 2 if registered else 1])


def test_a_large_environment_is_forked_too(tmp_path):
    """Module systems on clusters export hundreds of KB of variables, more than one packet to the
    fork server holds: a request sends only what changed since the server started."""
    pause_file = tmp_path / "paused"
    process = subprocess.Popen(
        train_command(tmp_path, "-m", "features=tfidf_word", "model=tfidf_nb", "seed=1,2"), cwd=tmp_path,
        env=clean_env(**{f"MODULE_PATH_{n}": "x" * 60_000 for n in range(5)},  # one may hold 128 KB at most
                      TEXTCLF_PAUSE_AT="register", TEXTCLF_PAUSE_FILE=str(pause_file)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = paused_worker(pause_file, process)
        pause_file.unlink()
        forked = psutil.Process(paused_worker(pause_file, process, after=first))
        assert "textclf.tracking.fork_server" in " ".join(forked.parent().cmdline())
        pause_file.unlink()
        _, stderr = process.communicate(timeout=90)
    finally:
        kill_group(process)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
