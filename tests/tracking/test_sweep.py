"""`python train.py -m ...`: one nested run per job under one parent run, none lost in parallel."""

from helpers.processes import run_train
from helpers.stores import all_runs, client


def _check_sweep(folder, models):
    runs = all_runs(folder)
    parents = [r for r in runs if r.data.tags.get("textclf.sweep") == "parent"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED"
    assert sorted(r.data.params["model.classifier._target_"].rsplit(".", 1)[1] for r in children) == sorted(models)
    assert all(r.info.status == "FINISHED" and "test/macro_f1" in r.data.metrics for r in children)
    assert len(runs) == len(models) + 1


def test_sequential_sweep_nests_every_job(tmp_path):
    result = run_train(tmp_path, "-m", "model=tfidf_nb,tfidf_sgd", "features=tfidf_word")
    assert result.returncode == 0, result.stderr[-2000:]
    _check_sweep(tmp_path, ["ComplementNB", "SGDClassifier"])
    # each job's summary names its run; the sweep ends with its jobs ranked in one table
    assert "(tfidf_nb features=tfidf_word)" in result.stdout and "(tfidf_sgd features=tfidf_word)" in result.stdout
    table = result.stdout.split("multiclass: 2 run(s), highest validation/macro_f1 first")[1].splitlines()
    ranked = [line.split()[0] for line in table[2:4]]
    scores = {run.info.run_name.split()[0]: run.data.metrics["validation/macro_f1"] for run in all_runs(tmp_path)
              if "validation/macro_f1" in run.data.metrics}
    assert ranked == sorted(scores, key=scores.get, reverse=True)


def test_parallel_sweep_on_a_new_store_loses_no_run(tmp_path):
    """Four jobs at once on a store that does not exist yet: all nested, FINISHED, registered."""
    assert not (tmp_path / "mlflow.db").exists()
    result = run_train(tmp_path, "-m", "model=tfidf_logreg,tfidf_linearsvc,tfidf_nb,tfidf_sgd",
                       "features=tfidf_word", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "database is locked" not in result.stderr
    assert len(client(tmp_path).search_model_versions()) == 4
    _check_sweep(tmp_path, ["ComplementNB", "LogisticRegression", "SGDClassifier", "TemperatureScaledClassifier"])
