"""Ctrl-C and SIGTERM during fitting: the run ends KILLED, nothing is registered, the store lives on."""

import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, all_runs, clean_env, client, run_train, store_overrides, wait_for_running_run
from tiny_bert import build_tiny_bert


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_fit_kills_the_run_cleanly(tmp_path, signum):
    tiny = build_tiny_bert(tmp_path / "tiny")
    # A fine-tuning long enough to be interrupted mid-fit: many epochs of a tiny BERT.
    command = [sys.executable, str(ROOT / "train.py"), *store_overrides(tmp_path), "model=minilm_finetune",
               f"model.encoder={tiny}", "model.estimator.max_length=64", "model.estimator.epochs=100000",
               "model.estimator.patience=100000",
               "model.estimator.progress=false"]
    process = subprocess.Popen(command, cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_for_running_run(tmp_path, process)
    time.sleep(2)  # inside fit: the run exists, no metric is logged yet
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "interrupted" in stderr
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED"
    assert client(tmp_path).search_model_versions() == []

    after = run_train(tmp_path, "features=tfidf_word", "model=tfidf_nb")
    assert after.returncode == 0, after.stderr[-2000:]
    statuses = sorted(r.info.status for r in all_runs(tmp_path))
    assert statuses == ["FINISHED", "KILLED"]
    assert [str(v.version) for v in client(tmp_path).search_model_versions()] == ["1"]
