"""The real all-MiniLM-L6-v2, fine-tuned briefly through `python train.py`, registered, loaded
back in a fresh offline process without textclf, and served by `mlflow models serve`."""

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from helpers.paths import SEEDS

from helpers.shared import built_once
from helpers.processes import WITHOUT_TEXTCLF, run_train
from helpers.stores import all_runs, client
from helpers.serving import invoke, served_model


def slice_of(split: str, n: int, folder):
    rows = [json.loads(line) for line in (SEEDS / f"{split}.jsonl").read_text().splitlines()]
    per_label = {}
    for row in rows:  # the first n/8 passages of each primary label
        per_label.setdefault(row["labels"][0], [])
        if len(per_label[row["labels"][0]]) < n // 8:
            per_label[row["labels"][0]].append(row)
    path = folder / f"{split}.jsonl"
    path.write_text("\n".join(json.dumps(r) for group in per_label.values() for r in group) + "\n")
    return path


@pytest.fixture(scope="session")
def finetuned_store(tmp_path_factory):
    def build(folder):
        result = run_train(
            folder, "model=minilm_finetune", "model.estimator.epochs=1", "model.estimator.max_length=64",
            "data=files", "data.name=slice", "data.label_column=labels", "data.id_column=id",
            f"data.train={slice_of('train', 96, folder)}", f"data.validation={slice_of('validation', 24, folder)}",
            f"data.test={slice_of('test', 24, folder)}",
        )
        assert result.returncode == 0, result.stderr[-3000:]

    return built_once(tmp_path_factory, "finetuned-minilm", build)


def test_finetuned_run_logs_epochs_as_steps(finetuned_store):
    from textclf.models.finetune import chosen_precision

    (run,) = all_runs(finetuned_store)
    # precision: auto, as this machine's CPU decides, said in a tag
    assert run.data.tags["finetune.precision"].startswith(chosen_precision("auto", "cpu") + " (auto: ")
    history = client(finetuned_store).get_metric_history(run.info.run_id, "train/held_out_macro_f1")
    assert [point.step for point in history] == [1]
    assert run.data.tags["registered_model"] == "slice-topics"


def test_finetuned_model_reloads_offline_without_textclf(finetuned_store, tmp_path):
    (run,) = all_runs(finetuned_store)
    expected = pd.read_csv(client(finetuned_store).download_artifacts(run.info.run_id, "test_predictions.csv",
                                                                      str(tmp_path)))
    script = WITHOUT_TEXTCLF + textwrap.dedent(f"""
        mlflow.set_tracking_uri("sqlite:///{finetuned_store}/mlflow.db")
        model = mlflow.pyfunc.load_model("models:/slice-topics@champion")
        rows = [json.loads(line) for line in open("{finetuned_store}/test.jsonl")]
        model.predict(pd.DataFrame({{"text": [r["text"] for r in rows]}})).to_csv(sys.argv[1], index=False)
    """)
    produced = tmp_path / "loaded.csv"
    subprocess.run([sys.executable, "-c", script, str(produced)], check=True, cwd=tmp_path, timeout=300)
    loaded = pd.read_csv(produced)
    assert list(loaded["label"]) == list(expected["predicted"])
    columns = [c for c in expected.columns if c.startswith("prob_")]
    assert (loaded[columns] - expected[columns]).abs().max().max() < 1e-4


def test_mlflow_models_serve_answers_with_the_finetuned_model(finetuned_store):
    texts = ["Pyongyang launched a ballistic missile toward the East Sea.", "Reporter Kim Ji-won, Seoul."]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{finetuned_store}/mlflow.db")
    in_process = mlflow.pyfunc.load_model("models:/slice-topics@champion").predict(pd.DataFrame({"text": texts}))
    with served_model("models:/slice-topics@champion", f"sqlite:///{finetuned_store}/mlflow.db") as url:
        served = invoke(url, texts)
    assert [row["label"] for row in served] == list(in_process["label"])
    assert abs(served[0]["prob_north_korea_security"] - in_process.loc[0, "prob_north_korea_security"]) < 1e-6


def test_zero_shot_is_evaluated_and_registered_without_training_examples(finetuned_store, tmp_path):
    """`train.py` treats zero-shot like any model: scored on validation and test, then registered."""
    result = run_train(
        tmp_path, "model=minilm_zeroshot", "data=files", "data.name=zs", "data.label_column=labels",
        "data.id_column=id", f"data.train={finetuned_store / 'train.jsonl'}",
        f"data.validation={finetuned_store / 'validation.jsonl'}", f"data.test={finetuned_store / 'test.jsonl'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = all_runs(tmp_path)
    # Nothing is trained: no epoch or step is logged, and the training texts served only as the
    # unlabeled pool the similarities are calibrated on (their labels unused).
    assert not [name for name in run.data.metrics if name.startswith("train/")]
    assert run.data.tags["zeroshot.calibration_pool"].endswith("texts (fit's texts, labels unused)")
    assert run.data.metrics["test/macro_f1"] > 0.2  # well above chance (0.125) with no examples
    assert run.data.tags["registered_version"] == "1"
    # it runs int8 (the config's inference): it needs no torch, and where ONNX Runtime is missing,
    # predict says so in one line
    def predict_without(package):
        hidden = (f"import sys; sys.modules[{package!r}] = None; from textclf.cli import main; "
                  f"main(['predict', '--model-uri', 'models:/zs-topics@champion', '--tracking-uri', "
                  f"'sqlite:///{tmp_path}/mlflow.db'])")
        return subprocess.run([sys.executable, "-c", hidden], input="a missile test\n", capture_output=True,
                              text=True, timeout=300, cwd=tmp_path)

    without_torch = predict_without("torch")
    assert without_torch.returncode == 0 and "label" in without_torch.stdout, without_torch.stderr[-2000:]
    refused = predict_without("onnxruntime")
    (line,) = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and line.startswith(
        "error: cannot load model 'models:/zs-topics@champion': it needs onnxruntime and onnx, which are not "
        "installed") and line.endswith("Fix: pip install -e '.[int8]'"), refused.stderr[-2000:]
    # and with everything installed, predict loads it: its transformer files match their digests
    tagged = subprocess.run([sys.executable, "-m", "textclf.cli", "predict", "--model-uri", "models:/zs-topics@champion",
                             "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"], input="a missile test\n",
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert tagged.returncode == 0 and "label" in tagged.stdout.splitlines()[0], tagged.stderr[-2000:]
