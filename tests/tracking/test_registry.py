"""One task and one label set per registered model: refused at the start of a run, and again
under the registry lock when two runs of different tasks started before either registered."""

import pytest

from helpers.stores import all_runs, client
from helpers.training import background_tracker, log_a_model, run_description
from textclf.errors import UserError


def test_train_py_refuses_another_task_under_a_used_name_in_one_line(tmp_path, train_in_process):
    fast = ["model=tfidf_nb", "features=tfidf_word"]
    assert train_in_process(tmp_path, *fast).returncode == 0
    refused = train_in_process(tmp_path, *fast, "task=multilabel", "tracking.registered_model=diplomacy-topics")
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr[-2000:]
    assert lines[0].startswith("error: registered model 'diplomacy-topics' holds multiclass models")
    assert "tracking.registered_model=" in lines[0]
    assert len(all_runs(tmp_path)) == 1  # no run was created for it
    assert len(client(tmp_path).search_model_versions("name='diplomacy-topics'")) == 1
    # by default a multi-label run goes to a registered model of its own
    assert train_in_process(tmp_path, *fast, "task=multilabel").returncode == 0
    assert len(client(tmp_path).search_model_versions("name='diplomacy-topics-multilabel'")) == 1


def test_a_refusal_that_arrives_during_a_long_fit_stops_it(tmp_path, train_in_process):
    """The check runs in the tracking worker while training starts: a fit still going when the
    refusal arrives is stopped by it, with the refusal's one line, and nothing is logged."""
    import threading
    import time

    from mlflow.entities import ViewType

    from textclf.models.fitting import _on_interruptible_thread

    assert train_in_process(tmp_path, "model=tfidf_nb", "features=tfidf_word").returncode == 0
    started, fitting = time.monotonic(), threading.Event()
    try:
        with pytest.raises(UserError, match="registered model 'diplomacy-topics' holds multiclass models"):
            with background_tracker(tmp_path, "diplomacy-topics") as tracker, \
                    tracker.run(run_description("long", task="multilabel")):
                # a 60-second "fit" on a thread of its own, waited for as train.py waits for its fit
                _on_interruptible_thread(fitting.wait, 60)
        assert time.monotonic() - started < 30
    finally:  # the "fit" left running ends now: a later in-process train.py would exit past it
        fitting.set()
        for thread in threading.enumerate():
            if thread.name == "fit":
                thread.join(timeout=5)
    experiments = [e.experiment_id for e in client(tmp_path).search_experiments()]
    assert len(client(tmp_path).search_runs(experiments, run_view_type=ViewType.ALL)) == 1  # none created, even trashed
    assert len(client(tmp_path).search_model_versions("name='diplomacy-topics'")) == 1


def test_two_runs_of_different_tasks_started_together_cannot_both_register(tmp_path):
    from mlflow.tracking import MlflowClient

    from textclf.tracking.tracker import Tracker

    def tracker():
        return Tracker.connect(uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "mlruns"),
                               experiment="demo", registered_model="demo-topics", champion_alias="champion",
                               champion_metric="validation/macro_f1", connect_timeout=5)

    # Both start while the name has no version yet, so both pass the check at the start.
    single, multi = tracker(), tracker()
    multi.begin_run(run_description("multi", task="multilabel"), owner="host/boot/1/1")
    log_a_model(multi, tmp_path / "multi")
    import mlflow

    mlflow.end_run()  # the fluent API holds one active run per thread: park multi's, start single's
    single.begin_run(run_description("single"), owner="host/boot/1/1")
    log_a_model(single, tmp_path / "single")
    single.register_and_finish(0.5)
    mlflow.start_run(run_id=client(tmp_path).search_runs(["1"], "attributes.run_name = 'multi'")[0].info.run_id)
    try:
        with pytest.raises(UserError, match="holds multiclass models"):
            multi.register_and_finish(0.9)
    finally:
        mlflow.end_run("FAILED")  # as the worker would, once training saw the error
    versions = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").search_model_versions("name='demo-topics'")
    assert [v.tags["textclf.task"] for v in versions] == ["multiclass"]


def test_a_tie_keeps_the_champion_and_the_line_says_it_was_a_tie(tmp_path, train_in_process):
    """The same config twice scores the same: the second version is registered, the first stays
    champion, and the summary says why (it said only "champion stays v1")."""
    runs = [train_in_process(tmp_path, "features=tfidf_word", "model=tfidf_nb") for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr[-2000:]
    score = client(tmp_path).get_run(all_runs(tmp_path)[0].info.run_id).data.metrics["validation/macro_f1"]
    assert "(v1, now champion)" in runs[0].stdout
    assert f"(v2, champion stays v1: the same validation/macro_f1, {score:.3f}; a tie keeps it)" in runs[1].stdout
    assert str(client(tmp_path).get_model_version_by_alias("diplomacy-topics", "champion").version) == "1"


def test_a_refused_label_set_says_what_this_run_adds_and_lacks():
    """It said "(version 1: lacks 0)" of a run that lacked the version's label 0."""
    from textclf.tracking.registry import _difference

    assert _difference("-1,0,1", "-1,1") == "this run lacks 0"
    assert _difference("-1,1", "-1,0,1") == "this run adds 0"
    assert _difference("a,b", "a,c") == "this run adds c; it lacks b"


def test_a_champion_scored_on_another_validation_split_is_said_not_to_compare(tmp_path, train_in_process):
    """Every run on your own files registers under files-topics by default: a new user's runs on
    two files were ranked by validation scores of two different splits, silently."""
    from helpers.paths import SEEDS

    own = ["data=files", f"data.train={SEEDS / 'train.jsonl'}", "data.label_column=labels", "features=tfidf_word",
           "model=tfidf_nb"]
    runs = [train_in_process(tmp_path, *own, f"data.split_seed={seed}") for seed in (1, 1, 2)]
    assert [run.returncode for run in runs] == [0, 0, 0], runs[-1].stderr[-2000:]
    assert "(v1, now champion)" in runs[0].stdout
    assert "a tie keeps it)" in runs[1].stdout and "another validation split" not in runs[1].stdout  # the same split
    assert ("v1 was scored on another validation split, so the two scores do not compare "
            "(tracking.registered_model=NAME keeps a dataset's models apart)") in runs[2].stdout, runs[2].stdout
