"""Parallel runs on a store that does not exist yet: every run FINISHED with all its metrics.

(Parallel sweep jobs on a new store: tracking/test_sweep.py.)"""

import subprocess
import sys

from helpers.paths import ROOT
from helpers.processes import clean_env, store_overrides
from helpers.stores import all_runs, client


def assert_complete(runs, expected):
    finished = [r for r in runs if r.data.tags.get("textclf.sweep") != "parent"]
    assert len(finished) == expected
    for run in finished:
        assert run.info.status == "FINISHED"
        assert {"validation/macro_f1", "test/macro_f1", "fit_seconds"} <= set(run.data.metrics)


def test_two_train_processes_started_together_on_a_new_store(tmp_path):
    command = [sys.executable, str(ROOT / "train.py"), *store_overrides(tmp_path, new_store=True), "features=tfidf_word"]
    processes = [subprocess.Popen([*command, f"model={model}"], cwd=tmp_path, env=clean_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for model in ("tfidf_nb", "tfidf_sgd")]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-2000:]
        assert "database is locked" not in stderr
    assert_complete(all_runs(tmp_path), 2)
    versions = client(tmp_path).search_model_versions()
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    champion = client(tmp_path).get_model_version_by_alias("diplomacy-topics", "champion")
    scores = {str(v.version): client(tmp_path).get_run(v.run_id).data.metrics["validation/macro_f1"] for v in versions}
    assert scores[str(champion.version)] == max(scores.values())  # the lock kept the better one champion
