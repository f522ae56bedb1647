"""`python train.py -m hparams_search=...` end to end, on real stores: an Optuna study whose trials
run through Hydra's launcher, one parent run per study with a nested run per trial, resumed by
rerunning the command, pruning by fold scores, and the best configuration registered once."""

import re
import sqlite3

import optuna
import pytest
from optuna.trial import TrialState

from helpers.processes import run_train
from helpers.stores import all_runs, client
from textclf.tracking.description import SWEEP_METRIC_TAG, SWEEP_STARTED_TAG

pytestmark = pytest.mark.timeout(600)

SEARCH = ["-m", "hparams_search=tfidf_linearsvc", "features=tfidf_word", "features.min_df=range(1,3)", "cv=kfold", "cv.folds=2",
          "hparams_search.study_name=contract", "hparams_search.pruner.n_startup_trials=3",
          "hparams_search.pruner.n_warmup_steps=1"]


def _study(folder):
    return _study_named(folder, "contract")


def _study_named(folder, name: str):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder}/optuna.db")


def test_a_study_runs_resumes_prunes_and_registers_only_its_best(tmp_path):
    # 3 trials, two at a time through the joblib launcher; none registers a model
    first = run_train(tmp_path, *SEARCH, "hydra.sweeper.n_trials=3")
    assert first.returncode == 0, first.stderr[-3000:]
    study = _study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    # each job kept its value on its trial too, for a sweep stopped before the job's return reached it
    assert [t.user_attrs["textclf.value"] for t in study.trials] == [t.value for t in study.trials]
    # a range given on the command line is searched as one: Hydra's range(1,3) is 1 or 2
    assert {t.params["features.min_df"] for t in study.trials} <= {1, 2}
    assert study.trials[0].distributions["features.min_df"] == optuna.distributions.IntDistribution(1, 2)
    assert client(tmp_path).search_model_versions() == []
    (parent,) = [r for r in all_runs(tmp_path) if r.data.tags.get("textclf.sweep") == "parent"]

    # the same command with a higher total continues the same study and parent run; a hopeless
    # C pinned on the command line makes both new trials fall below the median at fold 1
    second = run_train(tmp_path, *SEARCH, "hydra.sweeper.n_trials=5", "model.classifier.estimator.C=0.00001",
                       "hparams_search.register_best=true")
    assert second.returncode == 0, second.stderr[-3000:]
    study = _study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [1, 2] for t in study.trials[:3])  # each fold a step
    assert "trial 3 pruned after fold 1" in second.stderr
    # the best score as a run's summary gives it, three decimals (a 1.0 read "1")
    assert re.search(r"^best: trial \d, cv/macro_f1 \d\.\d{3}: ", second.stdout, re.MULTILINE), second.stdout[-2000:]

    runs = all_runs(tmp_path)
    parents = [r for r in runs if r.data.tags.get("textclf.sweep") == "parent"]
    assert [p.info.run_id for p in parents] == [parent.info.run_id]  # one parent per study
    # started again: `textclf compare --sweep latest` finds it by this, not by its first start
    assert int(parents[0].data.tags[SWEEP_STARTED_TAG]) > int(parent.data.tags[SWEEP_STARTED_TAG])
    assert parents[0].data.tags[SWEEP_METRIC_TAG] == "cv/macro_f1"  # what compare --sweep ranks by
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    trials = {int(r.data.tags["optuna.trial"]): r for r in children if "optuna.trial" in r.data.tags}
    assert sorted(trials) == [0, 1, 2, 3, 4]
    for number, run in trials.items():
        assert run.data.tags["textclf.study"] == "contract"
        if number < 3:
            assert run.info.status == "FINISHED"
            assert run.data.metrics["cv/macro_f1"] == pytest.approx(study.trials[number].value)
        else:
            assert run.info.status == "KILLED" and "pruned after fold 1" in run.data.tags["textclf.pruned"]
            # the score it was pruned on is where a finished trial's fold scores are, for comparing
            (fold,) = client(tmp_path).get_metric_history(run.info.run_id, "cv_fold/macro_f1")
            assert fold.step == 1 and fold.value == pytest.approx(study.trials[number].intermediate_values[1])

    # the best trial refitted once and registered; no trial registered anything
    best = study.best_trial
    (refit,) = [r for r in children if r.data.tags.get("textclf.search") == "refit of the best trial"]
    assert refit.info.run_name == trials[best.number].info.run_name + " (refit)"  # side by side in the UI
    (version,) = client(tmp_path).search_model_versions()
    assert version.run_id == refit.info.run_id
    assert float(refit.data.params["model.classifier.estimator.C"]) == pytest.approx(best.params["model.classifier.estimator.C"])
    assert parent.data.tags["optuna.best_value"] == f"{best.value:.6g}"
    assert parent.data.tags["optuna.best_trial"] == str(best.number)
    assert parent.data.tags["optuna.trials.pruned"] == "2"
    plots = {a.path for a in client(tmp_path).list_artifacts(parent.info.run_id, "study")}
    assert plots == {"study/history.png", "study/param_importances.png", "study/parallel_coordinates.png"}

    # the study lives beside the tracking store, never inside it
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "trials" not in tables and "studies" not in tables


@pytest.mark.parametrize("launcher", ["joblib", "basic"])
def test_ctrl_c_mid_trial_stops_the_search_in_one_line_and_the_rerun_runs_every_trial_asked(tmp_path, launcher,
                                                                                           tiny, train_in_process):
    """Ctrl-C reaches the sweep's process and its jobs' while a trial fits: the search ends with one
    line, exit 130, and the stopped trial does not count, so the same command run again runs as many
    trials as it asks for. With the joblib launcher (the TF-IDF searches) the sweep says so; with
    Hydra's basic one a job runs in the sweep's own process and its run says how it ended."""
    import subprocess

    from helpers.faults import interrupt_group_when
    from helpers.processes import clean_env, train_command

    searched = {"joblib": ["hparams_search=tfidf_linearsvc", "features=tfidf_word"],  # two jobs at a time
                "basic": ["hparams_search=minilm_finetune", f"model.encoder={tiny}", "model.estimator.epochs=1",
                          "model.estimator.max_length=64", "model.estimator.progress=false"]}[launcher]
    search = ["-m", *searched, "hparams_search.study_name=contract", "hydra.sweeper.n_trials=1"]
    pause, scratch = tmp_path / "paused", tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(train_command(tmp_path, *search), cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env=clean_env(TEXTCLF_PAUSE_AT="fit", TEXTCLF_PAUSE_FILE=str(pause), TMPDIR=str(scratch)))
    stderr = interrupt_group_when(pause.exists, process, "trial 0 fits")
    assert process.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    # (after it, multiprocessing's resource tracker may warn of the killed workers' semaphores)
    said = [line for line in stderr.splitlines() if line.startswith(("error:", "interrupted"))]
    if launcher == "joblib":
        assert said == ["interrupted: the search stopped; trial(s) 0 did not finish and do not count (rerun the "
                        "same command to continue the study)"], stderr[-3000:]
        assert [t.state for t in _study(tmp_path).trials] == [TrialState.FAIL]
    else:  # the run's own line; the fit left on its thread makes the process leave at once (the rerun ends the trial)
        assert len(said) == 1 and said[0].startswith("interrupted: run ") and "ended KILLED" in said[0], stderr
    # the sweep's parent ends as an interrupted run does (it ended FAILED), and so do the trials'
    # runs, whose processes joblib killed (none is left RUNNING for the next process to end)
    runs = all_runs(tmp_path)
    (parent,) = [run for run in runs if run.data.tags.get("textclf.sweep") == "parent"]
    assert parent.info.status == "KILLED"
    assert all(run.info.status == "KILLED" for run in runs), [run.info.status for run in runs]
    assert list(scratch.iterdir()) == [], "the trials' model files were left in the temporary folder"

    rerun = train_in_process(tmp_path, *search)  # the same command (by train.py's main, in this process)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "0 trial(s) so far, 1 to run" in rerun.stdout
    assert [t.state for t in _study(tmp_path).trials] == [TrialState.FAIL, TrialState.COMPLETE]


def test_a_finetuning_trial_is_pruned_by_its_epoch_scores_and_keeps_them(tmp_path, tiny, train_in_process):
    """Without cv the steps are epochs: a fine-tuning trial below the median after its first epoch
    stops there, and its run keeps that epoch's held-out score where a finished run logs it."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="epochs", storage=storage, direction="maximize")
    # a finished trial that scored 1.0 at every epoch: the median the next trial is held to
    study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={1: 1.0, 2: 1.0}))
    trial = study.ask()
    result = train_in_process(tmp_path, "hparams_search=minilm_finetune", f"hparams_search.trial={trial.number}",
                              "hparams_search.study_name=epochs", f"hparams_search.storage={storage}",
                              "hparams_search.pruner.n_startup_trials=1", "hparams_search.pruner.n_warmup_steps=0",
                              f"model.encoder={tiny}", "model.estimator.max_length=64", "model.estimator.epochs=3",
                              "model.estimator.progress=false")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"trial {trial.number} pruned after epoch 1" in result.stderr
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED" and "pruned after epoch 1" in run.data.tags["textclf.pruned"]
    (epoch,) = client(tmp_path).get_metric_history(run.info.run_id, "train/held_out_macro_f1")
    assert epoch.step == 1 and epoch.value == pytest.approx(_study_named(tmp_path, "epochs").trials[1].intermediate_values[1])
    assert client(tmp_path).search_model_versions() == []


def test_the_timeout_stops_new_rounds_and_a_bad_setting_stops_the_search_with_one_line(tmp_path, train_in_process):
    """``hydra.sweeper.timeout=0``: the first round runs, no second one starts. A pinned setting the
    model refuses ends the search with the trial's one error line and exit 2. The timeout's search
    and the refusals before the sweep makes its parent run are run by train.py's own main in this
    process; the others as `python train.py`: a trial's line comes from the launcher's process,
    and a parent run made before a refusal is removed as the process exits."""
    short = train_in_process(tmp_path, "-m", "hparams_search=tfidf_linearsvc", "features=tfidf_word",
                      "hparams_search.study_name=short", "hydra.sweeper.timeout=0", "hydra.sweeper.n_jobs=1",
                      "hydra.launcher.n_jobs=1")
    assert short.returncode == 0, short.stderr[-3000:]
    study = optuna.load_study(study_name="short", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]

    bad = run_train(tmp_path, "-m", "hparams_search=tfidf_linearsvc", "features=tfidf_word",
                    "hparams_search.study_name=bad", "hydra.sweeper.n_trials=2", "model.classifier.estimator.C=-1")
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'C' parameter of LinearSVC" in errors[0] and "Traceback" not in bad.stderr
    # its trial failed, as a failed trial does (was left RUNNING, failed only by the next sweep)
    assert [t.state for t in _study_named(tmp_path, "bad").trials] == [TrialState.FAIL]

    # A mistyped choice is found before the study opens, whichever trial would have drawn it
    typo = run_train(tmp_path, "-m", "hparams_search=tfidf_linearsvc", "features=tfidf_word,tfidf_wrd",
                     "hparams_search.study_name=typo", "hydra.sweeper.n_trials=4")
    assert typo.returncode == 2 and "Traceback" not in typo.stderr, typo.stderr[-2000:]
    (line,) = [line for line in typo.stderr.splitlines() if line.startswith("error:")]
    assert "features=tfidf_wrd names no option of features" in line and "tfidf_word_char" in line
    assert "typo" not in optuna.get_all_study_names(storage=f"sqlite:///{tmp_path}/optuna.db")
    # A searched key the config lacks: found before the study opens (a space written for another
    # model, or a typo); under a searched group (features.* beside features=...), by the first
    # trial, which runs alone, and the new study goes (was kept with trial 0 RUNNING)
    for name, settings, says in [
            ("other", ["features=tfidf_word", "model=tfidf_nb"],
             "the search's key model.classifier.estimator.C is not a key of model=tfidf_nb"),
            ("key", ["features=tfidf_word,tfidf_word_char", "features.min_dff=1,2"], "unknown config key 'features.min_dff'")]:
        key = run_train(tmp_path, "-m", "hparams_search=tfidf_linearsvc", f"hparams_search.study_name={name}", *settings)
        assert key.returncode == 2 and "Traceback" not in key.stderr, key.stderr[-2000:]
        (line,) = [line for line in key.stderr.splitlines() if line.startswith("error:")]
        assert says in line
        assert name not in optuna.get_all_study_names(storage=f"sqlite:///{tmp_path}/optuna.db")
    assert sorted(run.data.tags.get("textclf.study") for run in all_runs(tmp_path)
                  if run.data.tags.get("textclf.sweep") == "parent") == ["bad", "short"]  # none for the typo

    # the sweeper's other refusals are one line too
    ranged = train_in_process(tmp_path, "-m", "hparams_search=tfidf_linearsvc", "model.classifier.estimator.C=interval(5,1)")
    assert ranged.returncode == 2 and "Traceback" not in ranged.stderr, ranged.stderr[-2000:]
    (line,) = [line for line in ranged.stderr.splitlines() if line.startswith("error:")]
    assert "'model.classifier.estimator.C=interval(5,1)' is not a range to search" in line
    # no trial to run: was exit 0, Optuna's warning, an empty study and an empty parent run
    none = train_in_process(tmp_path, "-m", "hparams_search=tfidf_linearsvc", "hparams_search.study_name=none",
                     "hydra.sweeper.n_trials=0")
    assert none.returncode == 2 and "Traceback" not in none.stderr, none.stderr[-2000:]
    (line,) = [line for line in none.stderr.splitlines() if line.startswith("error:")]
    assert "hydra.sweeper.n_trials must be a whole number of 1 or more" in line
    assert "none" not in optuna.get_all_study_names(storage=f"sqlite:///{tmp_path}/optuna.db")
    # no trial asked for at a time: was a search that never ended; no job side by side: joblib's
    # traceback after the parent run was made. Both refused before the sweep makes anything.
    # A config group swept by a range: Hydra's traceback in a search or a plain sweep, its parent FAILED
    runs_before, sweeps_before = len(all_runs(tmp_path)), sorted((tmp_path / "multirun").iterdir())
    for settings, says in [
            (["hparams_search=tfidf_linearsvc", "hparams_search.study_name=idle", "hydra.sweeper.n_jobs=0"],
             "hydra.sweeper.n_jobs must be a whole number"),
            (["model=tfidf_nb,tfidf_logreg", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"],
             "hydra.launcher.n_jobs must be a whole number"),
            (["hparams_search=tfidf_linearsvc", "hparams_search.study_name=grouped", "features=range(1,2)"],
             "features is a config group, whose options are names"),
            (["features=tfidf_word", "model=range(1,3)"], "model is a config group")]:
        refused = train_in_process(tmp_path, "-m", *settings)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-2000:]
        (line,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert says in line and "Launching" not in refused.stdout + refused.stderr  # Hydra logs it to stdout
    assert len(all_runs(tmp_path)) == runs_before and sorted((tmp_path / "multirun").iterdir()) == sweeps_before
    # a parent run made before a refusal went as the process exited (the sweeper's: n_trials, ranges)
    assert sorted(run.data.tags.get("textclf.study") for run in all_runs(tmp_path)
                  if run.data.tags.get("textclf.sweep") == "parent") == ["bad", "short"]
