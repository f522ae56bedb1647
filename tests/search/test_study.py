"""Where a study lives and what it is called: beside the tracking store, never in it; named by what
is searched, so the same command continues it; trials a killed sweep left running are closed."""

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from textclf.errors import Interrupted, UserError
from textclf.search.study import open_study, storage_url, study_name, summary_tags
from textclf.search.sweeper import _unfinished_if_stopped, close_abandoned_trials, counted_trials
from textclf.search.trial import record_value


def _search(**settings):
    return OmegaConf.create({"name": "tfidf_linearsvc", "study_name": None, "storage": None, **settings})


def test_the_name_is_what_is_searched_not_where_or_how():
    arguments = ["hparams_search=tfidf_linearsvc", "cv=kfold", "tracking.uri=sqlite:///x/mlflow.db",
                 "hydra.sweeper.n_trials=40", "hydra/launcher=joblib", "features=tfidf_word"]
    assert study_name(_search(), "diplomacy", arguments) == "tfidf_linearsvc diplomacy cv=kfold features=tfidf_word"
    # more trials, another store or launcher: the same study
    assert study_name(_search(), "diplomacy", arguments[:2] + arguments[-1:]) == study_name(_search(), "diplomacy", arguments)
    assert study_name(_search(study_name="mine"), "diplomacy", arguments) == "mine"


def test_the_study_sits_beside_a_sqlite_store_and_never_in_it(tmp_path):
    assert storage_url(_search(), f"sqlite:///{tmp_path}/mlflow.db", "/project") == f"sqlite:///{tmp_path}/optuna.db"
    # a server's study is its own: not the project store's optuna.db in the same folder, not another server's
    assert storage_url(_search(), "http://tracking:5000", "/project") == "sqlite:////project/optuna-tracking_5000.db"
    assert storage_url(_search(), "https://me:secret@mlflow.example.org:443/", "/project") == \
        "sqlite:////project/optuna-mlflow.example.org_443.db"
    assert storage_url(_search(), "sqlite:////project/mlflow.db", "/project") == "sqlite:////project/optuna.db"
    assert storage_url(_search(), "http://tracking", "/p") == storage_url(_search(), "http://tracking:80/", "/p")
    assert storage_url(_search(), "https://h.org/team-a", "/p") == "sqlite:////p/optuna-h.org_443_team-a.db"
    with pytest.raises(UserError, match="cannot share a database"):
        storage_url(_search(storage=f"sqlite:///{tmp_path}/mlflow.db"), f"sqlite:///{tmp_path}/mlflow.db", "/p")


def test_trials_a_killed_sweep_left_running_are_failed_and_the_best_is_tagged(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = open_study("s", url, sampler=optuna.samplers.RandomSampler(seed=0))
    space = {"C": optuna.distributions.FloatDistribution(0.1, 1.0)}
    finished = study.ask(space)
    study.tell(finished, 0.8)
    study.ask(space)  # its job was killed with the sweep: it stays RUNNING
    again = open_study("s", url)
    close_abandoned_trials(again)
    assert [t.state for t in again.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    tags = summary_tags(again)
    assert tags["optuna.best_value"] == "0.8" and tags["optuna.best.C"] == str(finished.params["C"])
    assert (tags["optuna.trials.complete"], tags["optuna.trials.fail"]) == ("1", "1")


def test_ctrl_c_while_a_trial_is_drawn_leaves_no_trial_running(tmp_path):
    study = open_study("s", f"sqlite:///{tmp_path}/optuna.db", sampler=optuna.samplers.RandomSampler(seed=0))
    space = {"C": optuna.distributions.FloatDistribution(0.1, 1.0)}
    study.tell(study.ask(space), 0.8)
    batch = []
    with pytest.raises(Interrupted, match=r"trial\(s\) 1, 2 did not finish"):
        with _unfinished_if_stopped(study, batch):
            batch.append(study.ask(space))
            study.ask(space)  # stored, RUNNING: Ctrl-C lands before ask returns it into the batch
            raise KeyboardInterrupt
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]
    assert [t.number for t in counted_trials(study)] == [0]  # a rerun runs both again


def test_a_trial_whose_job_finished_counts_when_ctrl_c_stops_the_sweep_before_it_heard(tmp_path):
    """The joblib launcher returns a batch's values all together: Ctrl-C while one job still fits
    would lose the value of one that finished. That job recorded its value on its trial, so the
    trial counts, with that value; the other does not."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = open_study("s", url, sampler=optuna.samplers.RandomSampler(seed=0))
    space = {"C": optuna.distributions.FloatDistribution(0.1, 1.0)}

    def job_of(trial: int):
        return OmegaConf.create({"hparams_search": {"trial": trial, "study_name": "s", "storage": url, "pruner": None}})

    batch = []
    with pytest.raises(Interrupted, match=r"trial\(s\) 1, 2 did not finish and do not count; trial\(s\) 0 had "
                                          r"finished and count \(rerun"):
        with _unfinished_if_stopped(study, batch):
            batch.extend(study.ask(space) for _ in range(3))
            record_value(job_of(0), 0.75)
            record_value(job_of(2), float("nan"))  # no score: a failed trial's, not a value
            raise KeyboardInterrupt
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]
    assert trials[0].value == 0.75 and [t.number for t in counted_trials(study)] == [0]  # a rerun runs 1 and 2 again
