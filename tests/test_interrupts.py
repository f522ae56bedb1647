"""Ctrl-C and SIGTERM during fitting: the run ends KILLED, nothing is registered, the store lives on."""

import signal
import time

import pytest

from helpers.processes import run_train
from helpers.stores import all_runs, client, wait_for_running_run


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_fit_kills_the_run_cleanly(tmp_path, signum, long_finetune):
    process = long_finetune  # many epochs of a tiny BERT: long enough to interrupt
    wait_for_running_run(tmp_path, process)
    time.sleep(2)  # inside fit: the run exists, no metric is logged yet
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "interrupted" in stderr
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED"
    assert client(tmp_path).search_model_versions() == []
    if signum != signal.SIGTERM:
        return
    # The store lives on: the next run works beside the killed one (checked once, it costs a run).
    after = run_train(tmp_path, "features=tfidf_word", "model=tfidf_nb")
    assert after.returncode == 0, after.stderr[-2000:]
    statuses = sorted(r.info.status for r in all_runs(tmp_path))
    assert statuses == ["FINISHED", "KILLED"]
    assert [str(v.version) for v in client(tmp_path).search_model_versions()] == ["1"]
