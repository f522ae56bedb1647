"""`python train.py` as users run it: tracked, registered, loadable anywhere, champion rules."""

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from helpers.paths import ROOT, SEEDS
from helpers.processes import WITHOUT_TEXTCLF, run_train
from helpers.stores import all_runs, client


def test_default_run_is_tracked_in_full(trained_store):
    folder, result = trained_store
    assert "models:/diplomacy-topics@champion" in result.stdout and "mlflow ui" in result.stdout
    (run,) = all_runs(folder)
    assert run.info.status == "FINISHED"
    metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
    for split in ("validation", "test"):
        for name in ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "log_loss", "predict_texts_per_second"):
            assert f"{split}/{name}" in metrics, f"{split}/{name}"
        # per-label scores in a chart group of their own in the MLflow UI, apart from the headline ones
        for name in ("f1/north_korea_security", "precision/trust_restoration", "recall/broadcast_boilerplate"):
            assert f"{split}_per_label/{name}" in metrics, f"{split}_per_label/{name}"
        assert not [key for key in metrics if key.startswith(f"{split}/") and key.count("/") > 1]
    assert metrics["fit_seconds"] > 0
    assert metrics["test/macro_f1"] > 0.7  # the keyword-rule baseline is ~0.43
    assert params["model.classifier._target_"] == "textclf.models.calibration.TemperatureScaledClassifier"
    assert params["data.name"] == "diplomacy" and params["seed"] == "42"
    # the features the corpus size chose, printed and tagged
    assert tags["features.corpus"].startswith("small: training texts total ")
    assert "features.corpus: small: training texts total " in result.stdout
    assert len(tags["data.hash"]) == 64 and tags["registered_version"] == "1" and tags["champion"] == "true"
    # what the run is, as the MLflow UI shows it: the script, a name, a span that covers the fit
    assert run.info.run_name == "tfidf_linearsvc" and tags["textclf.task"] == "multiclass"
    assert tags["mlflow.source.name"].endswith("train.py") and "textclf.overrides" in tags
    assert (run.info.end_time - run.info.start_time) / 1000 > metrics["fit_seconds"]
    version = client(folder).get_model_version("diplomacy-topics", "1")
    assert version.tags["textclf.model"] == "tfidf_linearsvc" and version.tags["textclf.task"] == "multiclass"
    assert version.tags["textclf.labels"].count(",") == 7 and version.tags["data.hash"] == tags["data.hash"]
    assert float(version.tags["validation/macro_f1"]) == pytest.approx(metrics["validation/macro_f1"], abs=1e-4)
    assert version.description.startswith("tfidf_linearsvc: multiclass, 8 labels, validation/macro_f1 0.")
    contexts = {tag.value for dataset_input in run.inputs.dataset_inputs for tag in dataset_input.tags
                if tag.key == "mlflow.data.context"}
    assert contexts == {"train", "validation", "test"}
    # each split's input carries the hash of its whole content, as train.py read it
    from helpers.training import composed
    from textclf.config import build

    dataset = build(composed().data, "data")
    logged = [{tag.key: tag.value for tag in dataset_input.tags} for dataset_input in run.inputs.dataset_inputs]
    assert {tags["mlflow.data.context"]: tags["content_hash"] for tags in logged} == {
        split.name: split.content_hash for split in dataset.splits}
    artifacts = {a.path for a in client(folder).list_artifacts(run.info.run_id)}
    for split in ("validation", "test"):
        assert {f"{split}_report.txt", f"{split}_confusion.svg", f"{split}_errors.csv",
                f"{split}_predictions.csv"} <= artifacts
    assert "config.yaml" in artifacts
    # the model's digest on the run and its version; the commit of textclf's code, from a checkout
    assert len(tags["textclf.model_sha256"]) == 64 and version.tags["textclf.model_sha256"] == tags["textclf.model_sha256"]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    if commit.returncode == 0:
        assert tags["git.commit"] == commit.stdout.strip()


def test_the_summarys_predict_and_compare_commands_work_as_printed(trained_store, cli_in_process):
    import shlex

    folder, result = trained_store
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("tag texts: ")]
    command = shlex.split(line.removeprefix("tag texts: "))
    assert command[:2] == ["textclf", "predict"] and "models:/diplomacy-topics@champion" in command
    tagged = cli_in_process(*command[1:], stdin="Pyongyang fired a ballistic missile on Sunday.\n", cwd=folder)
    assert tagged.returncode == 0 and "north_korea_security" in tagged.stdout, tagged.stderr
    # and the one that lists the run's experiment, wherever the data came from (compare's default is diplomacy)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("compare runs: ")]
    command = shlex.split(line.removeprefix("compare runs: "))
    assert command[:4] == ["textclf", "compare", "--experiment", "diplomacy"] and "--tracking-uri" in command
    compared = cli_in_process(*command[1:], cwd=folder)
    assert compared.returncode == 0 and "tfidf_linearsvc" in compared.stdout, compared.stderr


def test_mlflow_tracking_uri_names_the_store_when_tracking_uri_is_not_given(tmp_path, monkeypatch, capsys):
    from helpers.training import train_here

    result = train_here(tmp_path, "features=tfidf_word", "model=tfidf_nb", monkeypatch=monkeypatch, capsys=capsys,
                        tracking_uri_from_environment=True)
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = all_runs(tmp_path)
    assert run.info.status == "FINISHED"
    # the user's next shell may lack the variable: the summary's command names the store
    assert f"--model-uri models:/diplomacy-topics@champion --tracking-uri sqlite:///{tmp_path}/mlflow.db\n" in result.stdout


def test_champion_loads_in_a_fresh_process_without_textclf(trained_store, tmp_path):
    """The registered model predicts exactly what training predicted, with textclf unimportable,
    loaded by the code the run's summary prints (it lacked the store's URI: the script found none)."""
    folder, result = trained_store
    (run,) = all_runs(folder)
    expected_csv = client(folder).download_artifacts(run.info.run_id, "test_predictions.csv", str(tmp_path))
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("load it: ")]
    *store, load = line.removeprefix("load it: ").split("; ")
    assert store == [f"mlflow.set_tracking_uri('sqlite:///{folder}/mlflow.db')"]
    script = WITHOUT_TEXTCLF + "\n".join([*store, f"model = {load}"]) + textwrap.dedent(f"""
        rows = [json.loads(line) for line in open("{SEEDS}/test.jsonl")]
        out = model.predict(pd.DataFrame({{"text": [r["text"] for r in rows]}}))
        out.insert(0, "id", [r["id"] for r in rows])
        out.to_csv(sys.argv[1], index=False)
    """)
    produced = tmp_path / "loaded.csv"
    subprocess.run([sys.executable, "-c", script, str(produced)], check=True, cwd=tmp_path, timeout=300)
    expected, loaded = pd.read_csv(expected_csv), pd.read_csv(produced)
    assert list(loaded["id"]) == list(expected["id"])
    assert list(loaded["label"]) == list(expected["predicted"])
    prob_columns = [c for c in expected.columns if c.startswith("prob_")]
    assert len(prob_columns) == 8
    assert (loaded[prob_columns] - expected[prob_columns]).abs().max().max() < 1e-5


def test_champion_stays_when_a_weaker_model_is_registered(two_model_store):
    """(That the alias moves to a better version is tested on a real store in tracking/test_tracker.py.)"""
    folder, (stronger, weaker) = two_model_store
    assert "now champion" in stronger.stdout and "champion stays v1" in weaker.stdout
    mlflow_client = client(folder)
    versions = {int(v.version): v for v in mlflow_client.search_model_versions("name='diplomacy-topics'")}
    assert sorted(versions) == [1, 2]
    score = {n: mlflow_client.get_run(v.run_id).data.metrics["validation/macro_f1"] for n, v in versions.items()}
    assert score[1] > score[2]  # logistic regression beats word-only naive Bayes on this corpus
    # the line says why: the champion's score against this run's
    assert f"champion stays v1: its validation/macro_f1 {score[1]:.3f} against {score[2]:.3f}" in weaker.stdout
    assert str(mlflow_client.get_model_version_by_alias("diplomacy-topics", "champion").version) == "1"


def test_multilabel_run_saves_thresholds_and_returns_label_lists(tmp_path):
    result = run_train(tmp_path, "task=multilabel")
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = all_runs(tmp_path)
    metrics = run.data.metrics
    assert {"test/subset_accuracy", "test/hamming_loss", "test/micro_f1"} <= set(metrics)
    assert "test/accuracy" not in metrics  # subset accuracy is named as such
    assert run.info.run_name == "tfidf_linearsvc task=multilabel"
    assert metrics["test/micro_f1"] > 0.6
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    model = mlflow.pyfunc.load_model("models:/diplomacy-topics-multilabel@champion")  # its own default name
    texts = [json.loads(line)["text"] for line in (SEEDS / "test.jsonl").read_text().splitlines()[:20]]
    out = model.predict(pd.DataFrame({"text": texts}))
    assert "labels" in out.columns and "label" not in out.columns
    assert all(isinstance(row, list) and len(row) >= 1 for row in out["labels"])
    state = json.loads(next((tmp_path / "mlruns").rglob("state.json")).read_text())
    assert len(state["decision"]["thresholds"]) == 8


def test_bad_input_from_the_real_command_is_one_line_and_exit_2(tmp_path):
    """The contract of bad input as a user meets it: a real `python train.py` process."""
    for overrides, word in ((["data=files", f"data.train={tmp_path / 'nope.csv'}"], "nope.csv"),
                            (["model=tfidf_nope"], "tfidf_nope")):
        result = run_train(tmp_path, *overrides, new_store=True)
        assert result.returncode == 2, result.stderr[-2000:]
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and word in lines[0], result.stderr
    assert not (tmp_path / "mlflow.db").exists()
