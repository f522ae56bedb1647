"""`textclf predict` loads a registered version from a local sqlite store without importing
MLflow (``textclf.tracking.local_registry``), gives exactly what MLflow's path gives, and leaves
anything unusual to MLflow's path: a changed file, a version whose run never finished, a URI or
store it does not handle."""

import inspect
import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers.paths import ROOT
from helpers.processes import run_train
from textclf.tracking.local_registry import load_registered_locally

TEXTS = ["Pyongyang fired a missile toward the sea on Sunday.", "The ministers will meet in Jakarta next week."]

# `textclf predict` in a fresh process, reporting on stderr whether MLflow was imported by the end.
PREDICT_AND_REPORT = """
import sys
from pathlib import Path
sys.argv = ["textclf", "predict", *sys.argv[1:]]
from textclf.cli import main
try:
    main()
finally:
    sys.stderr.write("MLFLOW IMPORTED\\n" if "mlflow" in sys.modules else "NO MLFLOW\\n")
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("local-registry")
    result = run_train(folder, "features=tfidf_word")
    assert result.returncode == 0, result.stderr[-2000:]
    return folder


def predict(folder, *extra):
    return subprocess.run([sys.executable, "-c", PREDICT_AND_REPORT, "--tracking-uri", f"sqlite:///{folder}/mlflow.db",
                           *extra], input="\n".join(TEXTS) + "\n", capture_output=True, text=True, cwd=ROOT)


def test_a_registered_version_loads_without_mlflow_and_predicts_as_mlflow_does(store):
    fast = predict(store)
    assert fast.returncode == 0, fast.stderr
    assert fast.stderr.strip().endswith("NO MLFLOW")
    through_mlflow = predict(store, "--no-verify")  # unchecked loads always take MLflow's path
    assert through_mlflow.returncode == 0, through_mlflow.stderr
    assert through_mlflow.stderr.strip().endswith("MLFLOW IMPORTED")
    assert fast.stdout == through_mlflow.stdout
    table = pd.read_csv(io.StringIO(fast.stdout))
    assert list(table["label"]) == ["north_korea_security", "high_level_engagement"]


def test_both_uri_forms_resolve_and_others_are_left_to_mlflow(store):
    uri = f"sqlite:///{store}/mlflow.db"
    by_alias = load_registered_locally("models:/diplomacy-topics@champion", uri)
    by_number = load_registered_locally("models:/diplomacy-topics/1", uri)
    assert by_alias is not None and by_number is not None and by_alias.folder == by_number.folder
    assert load_registered_locally("models:/diplomacy-topics@nobody", uri) is None
    assert load_registered_locally("models:/diplomacy-topics/7", uri) is None
    assert load_registered_locally("runs:/0123abcd/model", uri) is None
    assert load_registered_locally("models:/diplomacy-topics@champion", f"sqlite:///{store}/missing.db") is None
    assert load_registered_locally("models:/diplomacy-topics@champion", "http://127.0.0.1:1") is None


def test_a_changed_file_is_left_to_mlflows_path_which_refuses_it(store):
    model = load_registered_locally("models:/diplomacy-topics@champion", f"sqlite:///{store}/mlflow.db")
    state = model.folder / "artifacts" / "state" / "state.json"
    original = state.read_text()
    try:
        state.write_text(original.replace("north_korea_security", "alliance_reassurance"))
        assert load_registered_locally("models:/diplomacy-topics@champion", f"sqlite:///{store}/mlflow.db") is None
        result = predict(store)
        assert result.returncode == 2
        assert "is not the model that was logged" in result.stderr and "state.json" in result.stderr
    finally:
        state.write_text(original)


def test_a_version_whose_run_is_still_running_is_left_to_mlflows_path(store):
    """Its process may have died after registering; MLflow's path ends such runs (and deletes
    their versions) before loading anything."""
    uri = f"sqlite:///{store}/mlflow.db"
    with sqlite3.connect(store / "mlflow.db") as connection:
        (run_id,) = connection.execute("SELECT run_id FROM model_versions WHERE version = 1").fetchone()
        connection.execute("UPDATE runs SET status = 'RUNNING' WHERE run_uuid = ?", (run_id,))
    try:
        assert load_registered_locally("models:/diplomacy-topics@champion", uri) is None
    finally:
        with sqlite3.connect(store / "mlflow.db") as connection:
            connection.execute("UPDATE runs SET status = 'FINISHED' WHERE run_uuid = ?", (run_id,))
    assert load_registered_locally("models:/diplomacy-topics@champion", uri) is not None


def test_two_models_loaded_in_one_process_each_run_their_own_serving_code(two_model_store):
    """``tag_articles`` twice in a notebook: the second model ran the first's copy of the code."""
    folder, _ = two_model_store
    first, second = (load_registered_locally(f"models:/diplomacy-topics/{version}", f"sqlite:///{folder}/mlflow.db")
                     for version in (1, 2))
    assert first.folder != second.folder
    for model in (first, second):
        code = Path(sys.modules[type(model._saved).__module__].__file__)
        assert code.is_relative_to(model.folder / "code"), (code, model.folder)
    assert load_registered_locally("models:/diplomacy-topics/1", f"sqlite:///{folder}/mlflow.db").predict(
        pd.DataFrame({"text": TEXTS})).equals(first.predict(pd.DataFrame({"text": TEXTS})))


def test_two_models_loaded_through_mlflow_each_run_their_own_serving_code(two_model_store):
    """MLflow's path (unverified, a server's store...) too: Python kept the first model's
    ``textclf_serving`` and the second ran it."""
    from textclf.tracking.runs import load_model

    folder, _ = two_model_store
    first, second = (load_model(f"models:/diplomacy-topics/{version}", f"sqlite:///{folder}/mlflow.db", verify=False)
                     for version in (1, 2))
    code = [Path(inspect.unwrap(type(model.unwrap_python_model()).predict).__code__.co_filename)
            for model in (first, second)]
    assert code[0] != code[1] and all(path.name == "pyfunc.py" for path in code), code
    texts = pd.DataFrame({"text": TEXTS})
    assert first.predict(texts).equals(load_model("models:/diplomacy-topics/1", f"sqlite:///{folder}/mlflow.db",
                                                  verify=False).predict(texts))
