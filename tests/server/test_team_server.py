"""`textclf server start | status | stop`: a real PostgreSQL cluster (Debian's package; .ci/run
installs it) and MLflow's server with basic auth, started as a user would, trained against with
credentials, read back through `textclf predict` and MLflow, then stopped with nothing left."""

import json
import os
import pwd
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from helpers.processes import clean_env, run_cli, run_train
from helpers.serving import free_port

PASSWORD = "a-long-enough-password-for-tests"


def server_folder() -> Path:
    """An empty folder for the server. PostgreSQL refuses root, and started by root the cluster runs
    as the folder's owner: the postgres account (Debian's package makes it), in a folder it can reach."""
    if os.geteuid() != 0:
        return Path(tempfile.mkdtemp(prefix="textclf-team-server-"))
    folder = Path(tempfile.mkdtemp(prefix="textclf-team-server-", dir="/tmp"))
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("no postgres account: PostgreSQL is not installed. Fix: apt-get install postgresql "
                    "(.ci/run installs it when missing)")
    os.chown(folder, account.pw_uid, account.pw_gid)
    return folder


def processes_using(folder: Path) -> list[str]:
    """Command lines of live processes that name ``folder`` (PostgreSQL's and MLflow's do)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(folder) in command and state != "Z" and entry != str(os.getpid()):
            found.append(command)
    return found


def credentials(password=PASSWORD, **extra) -> dict:
    return clean_env(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password, **extra)


@pytest.fixture(scope="module")
def team_server():
    """A server started with `textclf server start`: (url, its folder). Stopped at the end, and
    checked to have left no process behind."""
    folder, port = server_folder(), free_port()
    result = run_cli("server", "start", "--data", str(folder), "--port", str(port), env=credentials(), timeout=300)
    assert result.returncode == 0, result.stderr + "".join(
        path.read_text() for path in (folder / "logs").glob("*.log"))
    url = f"http://127.0.0.1:{port}"
    assert f"running at {url}" in result.stdout
    try:
        yield url, folder
    finally:
        stopped = run_cli("server", "stop", "--data", str(folder), env=clean_env(), timeout=120)
        assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped", stopped.stderr
        status = run_cli("server", "status", "--data", str(folder), env=clean_env())
        assert status.returncode == 3 and status.stdout.startswith("not running")
        assert processes_using(folder) == []
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def trained(team_server, tmp_path_factory):
    """One default `python train.py` against the server, with credentials."""
    url, _ = team_server
    folder = tmp_path_factory.mktemp("client")
    result = run_train(folder, f"tracking.uri={url}", env=credentials())
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_requests_without_credentials_are_refused(team_server):
    url, _ = team_server
    for path in ("/api/2.0/mlflow/experiments/search?max_results=1", "/api/2.0/mlflow/registered-models/search"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + path, timeout=30)
        assert refused.value.code == 401
    urllib.request.urlopen(url + "/health", timeout=30).close()  # the health check needs no sign-in


def test_status_says_where_it_runs(team_server):
    url, folder = team_server
    result = run_cli("server", "status", "--data", str(folder), env=clean_env())
    assert result.returncode == 0 and result.stdout.startswith(f"running at {url}, healthy")


def test_the_run_its_artifacts_the_version_and_the_champion_are_on_the_server(team_server, trained, monkeypatch):
    url, folder = team_server
    assert not (trained / "mlflow.db").exists() and not (trained / "mlruns").exists()
    for name, value in credentials().items():
        monkeypatch.setenv(name, value)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    (run,) = client.search_runs([client.get_experiment_by_name("diplomacy").experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics["test/macro_f1"] > 0.8
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied: clients never see the folder
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"model_manifest.json", "test_confusion.png", "test_predictions.csv", "config.yaml"} <= artifacts, artifacts
    champion = client.get_model_version_by_alias("diplomacy-topics", "champion")
    assert champion.run_id == run.info.run_id and champion.version == "1"
    assert list((folder / "artifacts").rglob("state.json"))  # stored in the server's folder

    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    model = mlflow.pyfunc.load_model("models:/diplomacy-topics@champion")
    answer = model.predict(pd.DataFrame({"text": ["Pyongyang fired a ballistic missile on Sunday."]}))
    assert answer.loc[0, "label"] == "north_korea_security"


def test_textclf_predict_and_compare_work_through_it(team_server, trained):
    url, _ = team_server
    result = run_cli("predict", "--format", "jsonl", stdin="Pyongyang fired a ballistic missile on Sunday.\n",
                     env=credentials(MLFLOW_TRACKING_URI=url))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "north_korea_security"
    result = run_cli("compare", env=credentials(MLFLOW_TRACKING_URI=url))
    assert result.returncode == 0 and "tfidf_linearsvc" in result.stdout


def test_a_wrong_password_is_one_line_naming_the_fix(team_server, tmp_path):
    url, _ = team_server
    result = run_train(tmp_path, f"tracking.uri={url}", env=credentials(password="not-the-password"))
    assert result.returncode != 0
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "401" in line and "Fix: export MLFLOW_TRACKING_USERNAME" in line
    assert "Traceback" not in result.stderr


def test_a_first_start_without_a_password_is_refused_and_leaves_nothing(tmp_path):
    folder = server_folder()
    try:
        result = run_cli("server", "start", "--data", str(folder), "--port", str(free_port()), env=clean_env(
            MLFLOW_TRACKING_PASSWORD=""))
        assert result.returncode == 2 and result.stderr.startswith("error: the first start creates the user admin")
        assert "Fix: export MLFLOW_TRACKING_PASSWORD" in result.stderr and len(result.stderr.splitlines()) == 1
        assert list(folder.iterdir()) == [] and processes_using(folder) == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)
