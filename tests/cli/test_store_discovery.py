"""Which store `textclf predict`, `compare`, `verify` and `textclf.load_model` read: found as
train.py finds it (--tracking-uri, MLFLOW_TRACKING_URI, the project's mlflow.db), never created."""

import io
import shutil
import subprocess
import sys

import pandas as pd
import pytest

import textclf
from helpers.processes import WITHOUT_TEXTCLF, clean_env
from textclf.errors import UserError
from textclf.tracking.background import pyfunc_load_line
from textclf.tracking.discovery import find_tracking_uri, project_store_uri

TEXT = "Pyongyang fired two short-range ballistic missiles into the sea off its east coast on Sunday morning."


def make_project(folder, store_folder=None):
    """A folder train.py would run in (its two marker files), with a copy of ``store_folder``'s
    store (its artifacts stay where they are: the store records their absolute paths)."""
    (folder / "configs").mkdir(parents=True)
    (folder / "train.py").write_text("")
    (folder / "configs" / "train.yaml").write_text("")
    (folder / "notes" / "deeper").mkdir(parents=True)
    if store_folder is not None:
        shutil.copy(store_folder / "mlflow.db", folder / "mlflow.db")
    return folder


def assert_one_error_line(result, *words):
    assert result.returncode == 2 and result.stdout == "", (result.returncode, result.stderr[-2000:])
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Fix:" in lines[0], result.stderr[-2000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_the_store_is_the_flag_else_the_environment_else_the_project(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project / "notes" / "deeper")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert find_tracking_uri() == f"sqlite:///{project.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert find_tracking_uri() == "http://127.0.0.1:5000"
    assert find_tracking_uri("sqlite:////elsewhere/mlflow.db") == "sqlite:////elsewhere/mlflow.db"
    (project / "configs" / "train.yaml").unlink()  # train.py alone does not make a project folder
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with pytest.raises(UserError, match="not inside a textclf project folder"):
        find_tracking_uri()


@pytest.mark.parametrize("command", [["predict"], ["compare"], ["verify"]])
def test_outside_a_project_no_store_is_found_or_created(command, tmp_path, cli_in_process):
    result = cli_in_process(*command, stdin="a text\n", cwd=tmp_path)
    assert_one_error_line(result, f"no tracking store found: {tmp_path}", "not inside a textclf project folder",
                          "MLFLOW_TRACKING_URI is not set", "--tracking-uri URI")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["predict"], ["compare"], ["verify"]])
def test_a_missing_sqlite_store_is_refused_not_created(command, tmp_path, cli_in_process):
    missing = tmp_path / "typo" / "mlflow.db"
    missing.parent.mkdir()
    result = cli_in_process(*command, "--tracking-uri", f"sqlite:///{missing}", stdin="a text\n", cwd=tmp_path)
    assert_one_error_line(result, f"tracking store {missing} does not exist", "never creates one")
    assert list(missing.parent.iterdir()) == []


def test_a_project_without_a_store_yet_is_refused_not_given_one(tmp_path, cli_in_process):
    project = make_project(tmp_path / "project")
    result = cli_in_process("predict", stdin="a text\n", cwd=project / "notes")
    assert_one_error_line(result, f"tracking store {project / 'mlflow.db'} does not exist")
    assert not (project / "mlflow.db").exists() and not (project / "notes" / "mlflow.db").exists()


def test_predict_compare_and_verify_find_the_projects_store_from_a_subfolder(trained_store, tmp_path,
                                                                            cli_in_process):
    project = make_project(tmp_path / "project", trained_store[0])
    here = project / "notes" / "deeper"
    predicted = cli_in_process("predict", stdin=TEXT + "\n", cwd=here)
    assert predicted.returncode == 0, predicted.stderr
    assert pd.read_csv(io.StringIO(predicted.stdout)).loc[0, "label"] == "north_korea_security"
    verified = cli_in_process("verify", cwd=here)
    assert verified.returncode == 0 and verified.stdout.startswith("ok: models:/diplomacy-topics@champion"), \
        verified.stderr
    compared = cli_in_process("compare", "--format", "csv", cwd=here)
    assert compared.returncode == 0, compared.stderr
    assert len(pd.read_csv(io.StringIO(compared.stdout))) == 1
    assert not (here / "mlflow.db").exists()


def test_a_model_not_in_the_store_names_the_store_searched(trained_store, tmp_path, cli_in_process):
    project = make_project(tmp_path / "project", trained_store[0])
    store = f"sqlite:///{project.resolve()}/mlflow.db"
    for command in ("predict", "verify"):
        result = cli_in_process(command, "--model-uri", "models:/no-such-model@champion", stdin="a text\n",
                                cwd=project / "notes")
        line = assert_one_error_line(result, "no-such-model", f"(tracking store {store}). Fix:")
        assert line.count(store) == 1


def test_the_environment_wins_over_the_project(trained_store, tmp_path):
    """A real process with MLFLOW_TRACKING_URI set, in a project folder whose own store does not exist."""
    folder, _ = trained_store
    project = make_project(tmp_path / "project")
    result = subprocess.run([sys.executable, "-m", "textclf.cli", "predict"], input=TEXT + "\n", capture_output=True,
                            text=True, timeout=300, cwd=project,
                            env=clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{folder}/mlflow.db"))
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(io.StringIO(result.stdout)).loc[0, "label"] == "north_korea_security"
    assert not (project / "mlflow.db").exists()


def test_load_model_from_python_finds_the_store_as_the_command_does(trained_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # so that the value loading sets is undone after the test
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="not inside a textclf project folder.*pass tracking_uri=URI"):
        textclf.load_model()
    with pytest.raises(UserError, match=f"tracking store {tmp_path / 'missing.db'} does not exist"):
        textclf.load_model(tracking_uri=f"sqlite:///{tmp_path / 'missing.db'}")
    assert list(tmp_path.iterdir()) == []
    project = make_project(tmp_path / "project", trained_store[0])
    monkeypatch.chdir(project / "notes")
    model = textclf.load_model()
    assert model.predict(pd.DataFrame({"text": [TEXT]})).loc[0, "label"] == "north_korea_security"


def test_the_load_line_a_run_prints_for_the_projects_store_loads_from_a_subfolder(trained_store, tmp_path,
                                                                                 monkeypatch):
    """MLflow does not look for the project's store as textclf's commands do: the summary's
    ``load it:`` line names it (before, it did not for the project's own store, and run from a
    subfolder it opened and created an empty mlflow.db there: "model not found")."""
    project = make_project(tmp_path / "project", trained_store[0])
    here = project / "notes" / "deeper"
    monkeypatch.chdir(here)
    line = pyfunc_load_line(project_store_uri(), "models:/diplomacy-topics@champion")  # what a run prints
    script = WITHOUT_TEXTCLF + line.replace("mlflow.pyfunc", "model = mlflow.pyfunc") + (
        f"\nprint(model.predict(pd.DataFrame({{'text': [{TEXT!r}]}})).loc[0, 'label'])")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=here,
                            env=clean_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["north_korea_security"]
    assert list(here.iterdir()) == []  # no stray store
