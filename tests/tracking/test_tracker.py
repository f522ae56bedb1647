"""The MLflow tracker in this process, against a real sqlite store: runs, logging, the champion rule."""

import pytest

from helpers.training import log_a_model, run_description
from textclf.data import DatasetSummary, SplitSummary
from textclf.errors import UserError
from textclf.tracking.reachability import check_reachable
from textclf.tracking.store import StoreKind, store_kind, ui_command


@pytest.fixture
def tracker(tmp_path):
    return connected(tmp_path, "validation/macro_f1")


def connected(folder, champion_metric: str):
    from textclf.tracking.tracker import Tracker

    return Tracker.connect(uri=f"sqlite:///{folder}/mlflow.db", artifact_location=str(folder / "mlruns"),
                           experiment="demo", registered_model="demo-topics", champion_alias="champion",
                           champion_metric=champion_metric, connect_timeout=5)


def registered(tracker, folder, metric: str, scores) -> list:
    """A run per score, each logging it as ``metric`` and registering its model: the Registrations."""
    registrations = []
    for i, score in enumerate(scores):
        tracker.begin_run(run_description(f"run {i}"), owner="host/boot/1/1")
        tracker.log_metrics({metric: score})
        log_a_model(tracker, folder / f"state{i}")
        registrations.append(tracker.register_and_finish(score))
    return registrations


def test_artifacts_go_beside_a_sqlite_store_unless_told(tmp_path, monkeypatch):
    """tracking.artifact_location=null: a store pointed elsewhere (MLFLOW_TRACKING_URI, tracking.uri)
    keeps its models beside it, in its folder's mlruns/ (they went to the project's mlruns/)."""
    from mlflow.tracking import MlflowClient

    from textclf.tracking.tracker import Tracker

    monkeypatch.chdir(tmp_path)
    settings = dict(registered_model="demo-topics", champion_alias="champion", champion_metric="validation/macro_f1",
                    connect_timeout=5)
    for folder, artifact_location, expected in [
            ("elsewhere", None, tmp_path / "elsewhere" / "mlruns"),
            ("told", str(tmp_path / "chosen"), tmp_path / "chosen")]:
        (tmp_path / folder).mkdir()
        uri = f"sqlite:///{tmp_path / folder}/mlflow.db"
        tracker = Tracker.connect(uri=uri, artifact_location=artifact_location, experiment="demo", **settings)
        assert MlflowClient(uri).get_experiment(tracker.experiment_id).artifact_location == expected.as_uri()


def test_a_run_records_config_dataset_metrics_and_steps(tracker, tmp_path):
    from mlflow.tracking import MlflowClient

    run_id = tracker.begin_run(run_description("demo run"), owner="host/boot/1/1")
    tracker.log_config({"model.C": "1.0", "seed": "7"}, "seed: 7\n")
    tracker.log_dataset(DatasetSummary("demo", "f" * 64, ("nk", "visit"),
                                       (SplitSummary("train", str(tmp_path / "train.csv"), 4, "a" * 64),)))
    steps = [{"step_loss": 1.0 / step, "grad_norm": step / 10} for step in range(1, 602)]  # over 1,000 metrics
    tracker.log_history([{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.4}], steps)
    tracker.log_metrics({"validation/macro_f1": 0.5})
    tracker.end_run("FINISHED")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "demo run"
    assert run.data.params == {"model.C": "1.0", "seed": "7"}
    assert run.data.tags["data.hash"] == "f" * 64 and run.data.tags["data.labels"] == "nk,visit"
    assert [m.value for m in client.get_metric_history(run_id, "train/train_loss")] == [0.9, 0.4]
    for name in ("step_loss", "grad_norm"):
        logged = sorted((m.step, m.value) for m in client.get_metric_history(run_id, f"train/{name}"))
        assert logged == [(number, step[name]) for number, step in enumerate(steps, start=1)]
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.yaml"]
    assert {t.value for i in run.inputs.dataset_inputs for t in i.tags if t.key == "mlflow.data.context"} == {"train"}


def test_the_champion_alias_moves_only_to_a_better_score(tracker, tmp_path):
    from mlflow.tracking import MlflowClient

    registrations = registered(tracker, tmp_path, "validation/macro_f1", [0.5, 0.7, 0.6])
    assert [r.promoted for r in registrations] == [True, True, False]
    assert [r.version for r in registrations] == ["1", "2", "3"]
    assert registrations[2].champion_version == "2"
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert {run.info.status for run in client.search_runs(["1"])} == {"FINISHED"}
    assert [m.name for m in client.search_registered_models()] == ["demo-topics"]  # the lock is gone
    assert str(client.get_model_version_by_alias("demo-topics", "champion").version) == "2"
    # only the current champion's run says it is one: run 0 lost the title to run 1
    runs = sorted(client.search_runs(["1"]), key=lambda run: run.info.run_name)
    assert [run.data.tags["champion"] for run in runs] == ["false", "true", "false"]
    assert client.get_model_version("demo-topics", "3").description.startswith("run 2: multiclass, 2 labels")


def test_a_loss_as_the_champion_metric_promotes_the_lowest(tmp_path):
    """tracking.champion_metric=validation/log_loss: the alias went to the higher loss, the worse model."""
    registrations = registered(connected(tmp_path, "validation/log_loss"), tmp_path, "validation/log_loss",
                               [0.9, 0.7, 1.4])
    assert [r.promoted for r in registrations] == [True, True, False]
    assert registrations[2].outcome() == "champion stays v2: its validation/log_loss 0.700 against 1.400"


def test_a_champion_without_a_score_is_beaten_and_no_score_beats_none(tmp_path):
    """NaN (a time with nothing timed) compares false with everything: a NaN champion was never beaten."""
    registrations = registered(connected(tmp_path, "validation/macro_f1"), tmp_path, "validation/macro_f1",
                               [float("nan"), 0.5, float("nan")])
    assert [r.promoted for r in registrations] == [True, True, False]


@pytest.mark.parametrize(("task", "labels", "says"), [("multilabel", ("nk", "visit"), "holds multiclass models"),
                                                      ("multiclass", ("nk", "visit", "trade"), "adds trade")])
def test_a_run_of_another_task_or_label_set_is_refused_before_it_starts(tracker, tmp_path, task, labels, says):
    from mlflow.tracking import MlflowClient

    tracker.begin_run(run_description("first"), owner="host/boot/1/1")
    log_a_model(tracker, tmp_path / "state")
    tracker.register_and_finish(0.5)
    with pytest.raises(UserError, match=f"{says}.*Fix: pass tracking.registered_model="):
        tracker.begin_run(run_description("second", task=task, labels=labels), owner="host/boot/1/1")
    assert len(MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").search_runs(["1"])) == 1  # no run was started


def test_store_kinds_and_reachability(tmp_path):
    assert store_kind("sqlite:////x/mlflow.db") is StoreKind.SQLITE
    assert store_kind("http://127.0.0.1:5000") is StoreKind.SERVER
    assert store_kind("postgresql://u@h/db") is StoreKind.OTHER
    with pytest.raises(UserError, match="not a URI"):
        store_kind("mlflow.db")
    with pytest.raises(UserError, match="does not exist"):
        check_reachable(f"sqlite:///{tmp_path}/missing/mlflow.db", 1)
    with pytest.raises(UserError, match="unreachable"):
        check_reachable("http://127.0.0.1:9", 1)
    assert ui_command("http://h:5000") == "open http://h:5000"
    # without MLflow's job runner (benchmarks/mlflow_ui.py: 7 processes and ~1 GB, not 15 and ~2.4 GB)
    assert ui_command("sqlite:////x.db").startswith("MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri")


def test_a_server_is_asked_who_is_asking_as_mlflow_s_client_signs_in(tmp_path, monkeypatch):
    """A server that wants a user (here a proxy's stand-in: /health open, 401 without a right
    Authorization) refuses a run only when MLflow's own client is refused too: a bearer token from
    MLFLOW_TRACKING_TOKEN, a user and password from MLflow's credentials file, not only the
    environment the first, MLflow-free request signs in from."""
    import base64
    import http.server
    import threading

    right = {"Bearer right-token", "Basic " + base64.b64encode(b"analyst:right-password").decode()}

    class SignInProxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" or self.headers.get("Authorization") in right else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SignInProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mlflow/credentials, no ~/.netrc of the user's
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    try:
        for token in (None, "wrong-token"):
            if token:
                monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
            with pytest.raises(UserError, match=r"the server asks who you are \(401\)"):
                check_reachable(url, 5)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "right-token")
        check_reachable(url, 5)
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
        (tmp_path / ".mlflow").mkdir()
        (tmp_path / ".mlflow" / "credentials").write_text(
            "[mlflow]\nmlflow_tracking_username = analyst\nmlflow_tracking_password = right-password\n")
        check_reachable(url, 5)  # MLflow's client signs in from its file: not refused
    finally:
        server.shutdown()


def test_the_store_is_checked_before_the_data_is_read(tmp_path, train_in_process):
    """A store that cannot be used fails a run in a second, not after the data's minutes: here
    the data is missing too, and the store is what the one line names."""
    result = train_in_process(tmp_path, f"tracking.uri=sqlite:///{tmp_path}/missing/mlflow.db", "data=files",
                              f"data.train={tmp_path}/missing.csv")
    assert result.returncode == 2 and "tracking store folder" in result.stderr and "missing.csv" not in result.stderr
