"""A changed model is refused: its files are checked against the digest recorded when it was
logged before anything of it is loaded (``textclf.tracking.verify``)."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers.processes import WITHOUT_TEXTCLF, clean_env, run_cli, run_train
from helpers.stores import all_runs

TEXT = "Pyongyang fired a missile toward the sea on Sunday."


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    result = run_train(folder, "features=tfidf_word", "model=tfidf_nb")
    assert result.returncode == 0, result.stderr[-2000:]
    (model,) = (folder / "mlruns" / "models").iterdir()
    return folder, model / "artifacts"


@pytest.fixture
def model_files(store, tmp_path):
    """The stored model's folder; whatever a test changes in it is put back afterwards."""
    _, files = store
    backup = shutil.copytree(files, tmp_path / "backup")
    yield files
    shutil.rmtree(files)
    shutil.copytree(backup, files)


def predict(folder, *extra, run=run_cli, **options):
    """``textclf predict`` of TEXT on the store in ``folder``: a fresh process, or ``run``
    (``cli_in_process``)."""
    return run("predict", "--tracking-uri", f"sqlite:///{folder}/mlflow.db", *extra, stdin=TEXT + "\n", **options)


def swap_two_class_names(files):
    state = files / "artifacts" / "state" / "state.json"
    text = state.read_text()
    state.write_text(text.replace("alliance_reassurance", "@@").replace("north_korea_security", "alliance_reassurance")
                     .replace("@@", "north_korea_security"))
    return "artifacts/state/state.json"


def negate_an_array(files):
    array = max((files / "artifacts" / "state" / "arrays").glob("*.npy"), key=lambda p: p.stat().st_size)
    np.save(array, -np.load(array))
    return f"artifacts/state/arrays/{array.name}"


def edit_the_code(files):
    code = files / "code" / "textclf_serving" / "tagging.py"
    code.write_text(code.read_text() + "\nimport os  # harmless here, but it runs on load\n")
    return "code/textclf_serving/tagging.py"


def edit_the_entry_file(files):
    entry = files / "mlflow_entry.py"
    entry.write_text(entry.read_text() + "\n# anything\n")
    return "mlflow_entry.py"


def add_a_file(files):
    (files / "code" / "sitecustomize.py").write_text("print('hello')\n")
    return "code/sitecustomize.py"


def remove_a_file(files):
    (files / "conda.yaml").unlink()
    return "conda.yaml"


def test_an_unchanged_model_verifies_and_predicts(store, tmp_path):
    folder, _ = store
    verified = run_cli("verify", "--tracking-uri", f"sqlite:///{folder}/mlflow.db")
    assert verified.returncode == 0 and verified.stdout.startswith("ok: "), verified.stderr
    result = predict(folder, env=clean_env(TMPDIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert ",north_korea_security," in result.stdout
    assert list(tmp_path.iterdir()) == []  # its private folder for compiled code is gone with it
    (run,) = all_runs(folder)
    by_run = predict(folder, "--model-uri", f"runs:/{run.info.run_id}/model", env=clean_env(TMPDIR=str(tmp_path)))
    assert by_run.returncode == 0 and ",north_korea_security," in by_run.stdout, by_run.stderr
    assert list(tmp_path.iterdir()) == []  # MLflow copies a run's model to read it; the copy goes too
    verified = run_cli("verify", "--tracking-uri", f"sqlite:///{folder}/mlflow.db", "--model-uri",
                       f"runs:/{run.info.run_id}/model", env=clean_env(TMPDIR=str(tmp_path)))
    assert verified.returncode == 0 and "(in a downloaded copy, removed on exit)" in verified.stdout, verified.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change", [swap_two_class_names, negate_an_array, edit_the_code, edit_the_entry_file,
                                    add_a_file, remove_a_file])
def test_any_change_is_refused_with_one_line_naming_the_file(store, model_files, change, cli_in_process):
    """In this process (the unchanged model above is the subprocess contract): the check runs
    before anything of the model is loaded."""
    folder, _ = store
    changed = change(model_files)
    result = predict(folder, run=cli_in_process)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "is not the model that was logged" in lines[0]
    assert changed in lines[0] and "Fix:" in lines[0]
    verified = cli_in_process("verify", "--tracking-uri", f"sqlite:///{folder}/mlflow.db")
    assert verified.returncode == 2 and changed in verified.stderr


def test_the_python_loader_refuses_a_change_too(store, model_files, monkeypatch):
    import textclf

    folder, _ = store
    negate_an_array(model_files)
    with pytest.raises(textclf.UserError, match="is not the model that was logged"):
        textclf.load_model(tracking_uri=f"sqlite:///{folder}/mlflow.db")


def test_a_plain_mlflow_load_does_not_spoil_verification(store, model_files):
    """Loading a model in place can leave Python's compiled copies (__pycache__) beside its code:
    they are not part of the model, and textclf's loader never reads them."""
    folder, files = store
    script = WITHOUT_TEXTCLF + f"""
mlflow.set_tracking_uri("sqlite:///{folder}/mlflow.db")
model = mlflow.pyfunc.load_model("models:/diplomacy-topics@champion")
print(model.predict(pd.DataFrame({{"text": [{TEXT!r}]}})).loc[0, "label"])
"""
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert loaded.stdout.strip() == "north_korea_security", loaded.stderr[-2000:]
    cache = model_files / "code" / "textclf_serving" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "tagging.cpython-311.pyc").write_bytes(b"not what the source says")
    assert predict(folder).returncode == 0


def test_a_model_without_a_recorded_digest_needs_no_verify(store, cli_in_process, monkeypatch):
    from mlflow.tracking import MlflowClient

    import mlflow

    folder, _ = store
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    # MLflow's registry looks the logged model up in the current store; set_tracking_uri also sets
    # MLFLOW_TRACKING_URI, which monkeypatch then removes after the test, so no later test inherits it.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    try:
        champion = client.get_model_version_by_alias("diplomacy-topics", "champion")
        unsigned = client.create_model_version("diplomacy-topics", champion.source, champion.run_id)
    finally:
        mlflow.set_tracking_uri(None)
    uri = f"models:/diplomacy-topics/{unsigned.version}"
    refused = predict(folder, "--model-uri", uri, run=cli_in_process)
    assert refused.returncode == 2 and "without a digest" in refused.stderr and "--no-verify" in refused.stderr
    trusted = predict(folder, "--model-uri", uri, "--no-verify")
    assert trusted.returncode == 0 and ",north_korea_security," in trusted.stdout


@pytest.mark.parametrize("kind", ["tfidf", "transformer"])
def test_digests_taken_while_saving_cover_every_file_written(tmp_path, tiny, kind):
    """The manifest is hashed as the files are written; a transformer part writes its weights and
    tokenizer itself, and those must be in it too, or its model would read as changed."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import ComplementNB
    from sklearn.pipeline import make_pipeline

    from textclf.models.zeroshot import ZeroShotClassifier
    from textclf.serving.decision import ArgmaxDecision
    from textclf.serving.writer import save_state
    from textclf.tracking.manifest import DigestsAsWritten, file_digests

    texts, labels = ["a missile test", "a summit visit"] * 3, ["security", "visit"] * 3
    model = (make_pipeline(TfidfVectorizer(), ComplementNB()) if kind == "tfidf" else
             ZeroShotClassifier(encoder=tiny, descriptions={"security": "missile", "visit": "summit"}))
    model.fit(texts, labels)
    hashing = DigestsAsWritten(tmp_path / "state")
    save_state(model, ArgmaxDecision(("security", "visit")), tmp_path / "state", on_written=hashing)
    assert hashing.digests() == file_digests(tmp_path / "state")
