"""A process that trains more than once forks its later tracking workers from one fork server,
which has imported MLflow once (textclf.tracking.fork_server). A fork must be what a fresh worker
would be: it gets this process's environment and folder of the moment.
(The forks under faults, killed at the edges of a run: tests/faults/test_forked_workers.py.)"""

import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from helpers.stores import all_runs
from helpers.training import train_here

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="fork server: Linux only")


def release_when_paused(pause_file: Path, seen: list, timeout: float = 30) -> None:
    """Wait until a worker pauses at ``pause_file`` (``textclf.pause``), note who it is, let it go on."""
    deadline = time.monotonic() + timeout
    while not (pause_file.exists() and pause_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    _, pid = pause_file.read_text().split()
    worker = psutil.Process(int(pid))
    seen.append((worker.pid, worker.ppid(), " ".join(worker.parent().cmdline())))
    pause_file.unlink()


def test_later_workers_are_forks_of_one_server_each_with_the_environment_and_folder_of_its_moment(
        tmp_path, monkeypatch, capsys):
    quick = ("features=tfidf_word", "model=tfidf_nb")
    for _ in range(2):  # this process's first worker, if it had none yet, and the one that starts the server
        assert train_here(tmp_path, *quick, monkeypatch=monkeypatch, capsys=capsys).returncode == 0
    seen = []
    for number in (3, 4):
        here = tmp_path / f"folder-{number}"
        here.mkdir()
        monkeypatch.chdir(here)
        # Read by the worker when it registers: a relative path, so it lands in the worker's folder.
        monkeypatch.setenv("TEXTCLF_PAUSE_AT", "register")
        monkeypatch.setenv("TEXTCLF_PAUSE_FILE", "paused")
        releasing = threading.Thread(target=release_when_paused, args=(here / "paused", seen))
        releasing.start()
        result = train_here(tmp_path, *quick, f"seed={number}", monkeypatch=monkeypatch, capsys=capsys)
        releasing.join()
        assert result.returncode == 0, result.stderr[-3000:]
    (third, third_server, command), (fourth, fourth_server, _) = seen
    assert third != fourth and third_server == fourth_server != os.getpid()
    assert "textclf.tracking.fork_server" in command
    assert [run.info.status for run in all_runs(tmp_path)] == ["FINISHED"] * 4


def fork_servers() -> list:
    return [child for child in psutil.Process().children()
            if "textclf.tracking.fork_server" in " ".join(child.cmdline())]


def test_a_fork_server_killed_on_its_own_costs_one_fresh_worker_then_a_new_server_forks(
        tmp_path, monkeypatch, capsys):
    quick = ("features=tfidf_word", "model=tfidf_nb")
    for _ in range(2):
        assert train_here(tmp_path, *quick, monkeypatch=monkeypatch, capsys=capsys).returncode == 0
    (server,) = fork_servers()
    server.kill()
    server.wait(timeout=30)
    seen = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTCLF_PAUSE_AT", "register")
    monkeypatch.setenv("TEXTCLF_PAUSE_FILE", str(tmp_path / "paused"))
    for seed in (3, 4):
        releasing = threading.Thread(target=release_when_paused, args=(tmp_path / "paused", seen))
        releasing.start()
        result = train_here(tmp_path, *quick, f"seed={seed}", monkeypatch=monkeypatch, capsys=capsys)
        releasing.join()
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    (_, fresh_parent, _), (_, fork_parent, command) = seen
    assert fresh_parent == os.getpid()  # the run after the server's death: a fresh interpreter
    (new_server,) = fork_servers()
    assert fork_parent == new_server.pid != server.pid and "textclf.tracking.fork_server" in command
    assert [run.info.status for run in all_runs(tmp_path)] == ["FINISHED"] * 4
