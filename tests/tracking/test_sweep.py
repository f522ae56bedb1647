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
                       "features=tfidf_word", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", new_store=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "database is locked" not in result.stderr
    assert len(client(tmp_path).search_model_versions()) == 4
    _check_sweep(tmp_path, ["ComplementNB", "LogisticRegression", "SGDClassifier", "TemperatureScaledClassifier"])


def test_a_mistyped_value_ends_the_sweep_with_one_line_and_leaves_no_parent_run(tmp_path):
    """Hydra composes every job of a batch before it launches any, after the parent run exists: a
    value that names no option fails them all, and the parent it created goes (as a run that bad
    input ended does), not left FAILED with no jobs under it."""
    from mlflow.entities import ViewType

    result = run_train(tmp_path, "-m", "model=tfidf_nb,tfidf_nbb", "features=tfidf_word")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Could not find 'model/tfidf_nbb'" in line
    assert all_runs(tmp_path) == [] and "sweep parent run" not in result.stdout
    store = client(tmp_path)
    (deleted,) = store.search_runs([e.experiment_id for e in store.search_experiments()], run_view_type=ViewType.DELETED_ONLY)
    assert deleted.data.tags["textclf.sweep"] == "parent" and deleted.info.status == "FAILED"


def test_a_failed_continuation_of_a_study_leaves_its_parent_as_it_was(tmp_path, monkeypatch, request):
    """A search sweep continues its study's parent run: refused before any job of its own starts,
    it puts back the parent's earlier status, end time and start tag (what `compare --sweep latest`
    reads); once a job started, the parent ends FAILED."""
    import mlflow

    from textclf.errors import config_refused
    from textclf.tracking.sweep import ParentRunCallback, study_parent_run

    # The callback's client reads the current store, as in the launching process; set_tracking_uri
    # also sets MLFLOW_TRACKING_URI, which monkeypatch removes after the test.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    request.addfinalizer(lambda: mlflow.set_tracking_uri(None))
    store = client(tmp_path)
    experiment = store.create_experiment("search", artifact_location=str(tmp_path / "mlruns"))
    parent = store.create_run(experiment, tags={"textclf.sweep": "parent", "textclf.study": "contract",
                                                "textclf.sweep_started": "1"}).info.run_id
    store.create_run(experiment, tags={"mlflow.parentRunId": parent})  # a trial of the earlier sweep
    store.set_terminated(parent, "FINISHED")
    ended = store.get_run(parent).info.end_time
    config_refused.set()  # as report_config_errors leaves it
    request.addfinalizer(config_refused.clear)
    for job_starts in (False, True):
        callback = ParentRunCallback()  # what on_multirun_start does for a study it continues
        callback._experiment_id = experiment
        callback._continue(store, *study_parent_run(store, experiment, "contract"))
        callback._stamp(store, "validation/macro_f1")
        assert store.get_run(parent).info.status == "RUNNING"
        if job_starts:
            store.create_run(experiment, tags={"mlflow.parentRunId": parent})
        callback._end("FAILED")
        run = store.get_run(parent)
        assert run.info.status == ("FAILED" if job_starts else "FINISHED") and run.info.lifecycle_stage == "active"
        assert (run.info.end_time == ended) != job_starts
        assert (run.data.tags["textclf.sweep_started"] == "1") != job_starts
        assert ("textclf.sweep_metric" in run.data.tags) == job_starts  # the earlier sweep had none

    # Stopped some other way (Ctrl-C; a launcher's remote jobs may still come): a parent it created
    # with no job under it yet ends FAILED, and stays
    config_refused.clear()
    callback, fresh = ParentRunCallback(), store.create_run(experiment).info.run_id
    callback.parent_run_id, callback._experiment_id = fresh, experiment
    callback._end("FAILED")
    assert store.get_run(fresh).info.status == "FAILED" and store.get_run(fresh).info.lifecycle_stage == "active"


def test_ctrl_c_before_a_sweep_began_says_nothing_was_logged(monkeypatch):
    """Ctrl-C while Hydra starts a sweep, before its parent run: the line says nothing was logged
    (it was a bare "interrupted"); once a sweep began and ended, a bare "interrupted" is all there is."""
    import textclf.tracking.sweep
    from textclf.cli.errors import BEFORE_A_RUN, interrupted_sweep_line

    monkeypatch.setattr(textclf.tracking.sweep, "_this_sweep", None)
    assert interrupted_sweep_line(KeyboardInterrupt()) == BEFORE_A_RUN == "interrupted before a run began: nothing was logged"
    monkeypatch.setattr(textclf.tracking.sweep, "_this_sweep", textclf.tracking.sweep.ParentRunCallback())  # ended
    assert interrupted_sweep_line(KeyboardInterrupt()) == "interrupted"


def test_learning_curves_are_drawn_and_tabled_on_the_parent_run(tmp_path):
    """experiment=learning_curve's end: per model and data.per_label, the mean and spread over
    seeds of the finished jobs' test macro-F1, as a plot and a table on the parent run."""
    import csv
    import statistics

    import mlflow

    from textclf.tracking.sweep import log_learning_curves

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    store = mlflow.MlflowClient()
    experiment = store.create_experiment("curves", artifact_location=str(tmp_path / "mlruns"))
    parent = store.create_run(experiment, tags={"textclf.sweep": "parent"}).info.run_id
    scores = {("tfidf_linearsvc", "8"): [0.50, 0.54], ("tfidf_linearsvc", "None"): [0.86, 0.86],
              ("minilm_logreg", "8"): [0.61, 0.65, 0.66]}
    for (model, size), values in scores.items():
        for value in values:
            run = store.create_run(experiment, tags={"mlflow.parentRunId": parent, "textclf.model": model}).info.run_id
            store.log_param(run, "data.per_label", size)
            store.log_metric(run, "test/macro_f1", value)
            store.set_terminated(run, "FINISHED")
    killed = store.create_run(experiment, tags={"mlflow.parentRunId": parent, "textclf.model": "minilm_logreg"})
    store.log_param(killed.info.run_id, "data.per_label", "8")
    store.log_metric(killed.info.run_id, "test/macro_f1", 0.0)
    store.set_terminated(killed.info.run_id, "KILLED")  # an interrupted job is left out

    curves = log_learning_curves(parent, "test/macro_f1")
    assert [size for size, *_ in curves["tfidf_linearsvc"]] == ["8", "all"]
    (size, mean, spread), = curves["minilm_logreg"]
    assert mean == statistics.mean([0.61, 0.65, 0.66]) and spread == statistics.stdev([0.61, 0.65, 0.66])
    folder = store.download_artifacts(parent, "learning_curve", str(tmp_path / "out"))
    with open(f"{folder}/learning_curve.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [(row["model"], row["per_label"], row["seeds"]) for row in table] == [
        ("minilm_logreg", "8", "3"), ("tfidf_linearsvc", "8", "2"), ("tfidf_linearsvc", "all", "2")]
    assert (tmp_path / "out" / "learning_curve" / "learning_curve.png").stat().st_size > 10_000


def test_ctrl_c_of_a_parallel_sweep_ends_the_runs_of_the_jobs_it_stops_and_leaves_nothing_behind(tmp_path):
    """joblib kills its jobs' process trees when Ctrl-C stops a sweep, before they can end their
    runs: the sweep's own process ends them KILLED, deletes the version one was registering (its
    worker paused between registering and ending the run, holding the registry lock), releases the
    lock, removes the jobs' model files, and says in one line which runs it ended."""
    import subprocess

    from helpers.faults import assert_store_is_truthful, interrupt_group_when
    from helpers.processes import clean_env, train_command

    pause, scratch = tmp_path / "paused", tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        train_command(tmp_path, "-m", "model=tfidf_nb,tfidf_sgd,tfidf_logreg", "features=tfidf_word",
                      "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "tracking.registered_model=sweep-topics"),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env=clean_env(TEXTCLF_PAUSE_AT="register", TEXTCLF_PAUSE_FILE=str(pause), TMPDIR=str(scratch)))
    stderr = interrupt_group_when(lambda: pause.exists() and pause.read_text().strip(), process,
                                  "a job's worker registered its version")
    assert process.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    (said,) = [line for line in stderr.splitlines() if line.startswith(("error:", "interrupted"))]
    runs = all_runs(tmp_path)
    jobs = [run for run in runs if run.data.tags.get("textclf.sweep") != "parent"]
    killed = sorted(run.info.run_name for run in jobs if run.info.status == "KILLED")
    assert killed and all(run.info.status in ("KILLED", "FINISHED") for run in jobs), [r.info.status for r in jobs]
    assert said.startswith(f"interrupted: the sweep stopped; the run(s) of the {len(killed)} job(s) it stopped "
                           "ended KILLED and registered nothing: ") and sorted(said.split(": ", 2)[2].split(", ")) == killed
    assert_store_is_truthful(client(tmp_path), runs, "sweep")  # no version of a KILLED run, no lock left
    assert list(scratch.iterdir()) == [], "the jobs' model files were left in the temporary folder"
