"""MLflow's work happens in a worker process beside training; nothing is lost when either side fails."""

import os
import signal
import subprocess
import sys
import time

import psutil

from conftest import ROOT, all_runs, clean_env, client, start_long_finetune, store_overrides, wait_for_running_run


def test_a_tracking_failure_fails_the_run_and_registers_nothing(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("artifacts cannot go under a file")
    command = [sys.executable, str(ROOT / "train.py"), *store_overrides(tmp_path, not_a_folder / "mlruns")]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=clean_env())
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: tracking failed") and "Fix:" in lines[0], result.stderr
    assert "Not a directory" in lines[0] and "Traceback" not in result.stderr
    assert [run.info.status for run in all_runs(tmp_path)] == ["FAILED"]
    assert client(tmp_path).search_model_versions() == []


def test_when_training_is_killed_outright_the_worker_ends_the_run_killed(tmp_path):
    process = start_long_finetune(tmp_path)
    wait_for_running_run(tmp_path, process)
    (worker,) = psutil.Process(process.pid).children()
    assert "textclf.tracking_worker" in " ".join(worker.cmdline())
    os.kill(process.pid, signal.SIGKILL)  # no handler runs: out of memory, or kill -9
    process.communicate(timeout=60)
    worker.wait(timeout=60)  # the worker notices and exits: no orphan is left behind
    deadline = time.monotonic() + 10
    while all_runs(tmp_path)[0].info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED"
    assert client(tmp_path).search_model_versions() == []
