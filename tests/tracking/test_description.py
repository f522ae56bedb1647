"""What a run says it is: its name from the model and the overrides, and training from Python."""

import pytest

from helpers.training import composed
from textclf.tracking.description import describe_run, short_override


def test_a_run_is_named_after_its_model_and_the_overrides_that_say_what_it_is():
    overrides = ["model=tfidf_logreg", "model.classifier.C=5.0", "tracking.uri=sqlite:////tmp/x/mlflow.db",
                 "data=files", "data.train=/home/me/corpora/news/train.csv", "paths.root_dir=/x", "+seed=3"]
    cfg = composed("model=tfidf_logreg", "run_name=null")
    about = describe_run(cfg, overrides, "multiclass", ("a", "b"), 0)
    assert about.name == "tfidf_logreg C=5.0 data=files train=train.csv seed=3"
    assert about.run_tags()["textclf.overrides"] == " ".join(overrides)  # the full list, where-to included
    assert describe_run(composed("run_name=mine"), overrides, "multiclass", ("a",), 0).name == "mine"
    assert short_override("features.word_ngram_range=[1,3]") == "word_ngram_range=[1,3]"
    # a searched float to four digits, as compare shows params (the param keeps every digit)
    assert short_override("model.classifier.estimator.C=0.23345864076016243") == "C=0.2335"
    assert short_override("model.classifier.estimator.C=2.340677735927049e-05") == "C=2.341e-05"
    assert short_override("model.classifier.C=5.0") == "C=5.0" and short_override("seed=1234567") == "seed=1234567"
    # from 1,000 up a number keeps its digits: two runs stay apart (2024.01 and 2024.02 both read 2024)
    assert short_override("data.release=2024.0125") == "release=2024.0125" and short_override("a=12345678.9") == "a=12345678.9"
    assert short_override("data.name=" + "x" * 40) == "name=" + "x" * 21 + "..."
    # a search over many settings: the name fits MLflow's column on PostgreSQL (a team server)
    many = [f"+model.classifier.setting_{i}=value_{i}_abcdefgh" for i in range(20)]
    long_name = describe_run(cfg, many, "multiclass", ("a",), 0).name
    assert len(long_name) == 250 and long_name.startswith("tfidf_logreg setting_0=value_0_abcdefgh") and long_name.endswith("...")
    # a search's refit of its best trial: the trial's name, marked, even where the name is cut
    trial = describe_run(cfg, overrides, "multiclass", ("a",), 0)
    assert describe_run(cfg, overrides, "multiclass", ("a",), 0, refit=True).name == trial.name + " (refit)"
    long_refit = describe_run(cfg, many, "multiclass", ("a",), 0, refit=True).name
    assert len(long_refit) == 250 and long_refit.endswith("... (refit)")
    # a deleted setting is named as deleted, not as if it had been set
    assert short_override("~model.classifier.class_weight") == "~class_weight"
    assert short_override("~model.classifier.class_weight=balanced") == "~class_weight=balanced"
    # a quoted value is named as Hydra reads it, without its quotes
    assert short_override("model.encoder='/models/my encoder/'") == "encoder=my encoder"
    assert short_override('data.name="news 2026"') == "name=news 2026"
    assert short_override("data.name='") == "name='"


def test_the_multilabel_task_registers_under_a_name_of_its_own():
    assert composed().tracking.registered_model == "diplomacy-topics"
    assert composed("task=multilabel").tracking.registered_model == "diplomacy-topics-multilabel"
    assert composed("task=multilabel", "tracking.registered_model=mine").tracking.registered_model == "mine"


def test_textclf_train_trains_from_python_and_returns_the_metrics(tmp_path, monkeypatch, capsys):
    import textclf
    from helpers.paths import ROOT
    from helpers.stores import all_runs

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(ROOT / "seeds")  # a notebook somewhere inside the project
    metrics = textclf.train(["model=tfidf_nb", "model.classifier.alpha=0.5", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
                             f"tracking.artifact_location={tmp_path}/mlruns"])
    assert metrics["validation/macro_f1"] > 0.5
    (run,) = all_runs(tmp_path)
    assert run.info.run_name == "tfidf_nb alpha=0.5" and run.data.params["model.classifier.alpha"] == "0.5"
    monkeypatch.chdir(tmp_path)  # outside any project
    with pytest.raises(textclf.UserError, match="Fix: run from the project folder, or pass project=PATH"):
        textclf.train(["model=tfidf_nb"])
    with pytest.raises(textclf.UserError, match="tfidf_nope"):
        textclf.train(["model=tfidf_nope"], project=ROOT)
