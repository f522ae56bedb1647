"""Training against a real `mlflow server` on loopback: tracked, registered, loaded back from it,
with no copy of the model left in the temporary folder by train.py or `textclf predict`, and the
model's state not downloaded again by the run that uploaded it."""

import pandas as pd

from helpers.processes import clean_env, dead_owner, run_cli, run_train


def test_train_register_and_load_through_a_server(tracking_server, tmp_path):
    url, server_folder = tracking_server
    scratch = tmp_path / "tmp"  # the temporary folder of train.py, its worker and predict
    scratch.mkdir()
    access_log = AccessLog(server_folder / "access.log")
    result = run_train(tmp_path, f"tracking.uri={url}", "features=tfidf_word", "model=tfidf_nb",
                       env=clean_env(TMPDIR=str(scratch)), new_store=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert list((server_folder / "artifacts").rglob("state.json"))  # the server stored the model
    assert list(scratch.iterdir()) == []  # the worker downloads the model to digest it, then removes the copy
    # ...all but the state, whose digests were taken as it was written
    requests = access_log.new_lines()
    assert asked(requests, "PUT", STATE) and asked(requests, "GET", "/MLmodel")
    assert not asked(requests, "GET", STATE)

    predicted = run_cli("predict", "--tracking-uri", url, stdin="Pyongyang fired a missile on Sunday.\n",
                        env=clean_env(TMPDIR=str(scratch)))
    assert predicted.returncode == 0 and "north_korea_security" in predicted.stdout, predicted.stderr[-2000:]
    assert list(scratch.iterdir()) == []  # its verified download is removed on exit
    assert asked(access_log.new_lines(), "GET", STATE)  # predict checks every file, the state too

    import mlflow

    mlflow.set_tracking_uri(url)
    (run,) = mlflow.search_runs(experiment_names=["diplomacy"], output_format="list")
    assert run.info.status == "FINISHED" and "test/macro_f1" in run.data.metrics
    (tmp_path / "download").mkdir()  # MLflow's own download would stay in the temporary folder
    model = mlflow.pyfunc.load_model("models:/diplomacy-topics@champion", dst_path=str(tmp_path / "download"))
    out = model.predict(pd.DataFrame({"text": ["Pyongyang fired a missile on Sunday."]}))
    assert out.loc[0, "label"] == "north_korea_security"

    # A run whose process died, left RUNNING on the server: the next predict ends it FAILED, and
    # MLflow's link to the run it ended goes to stderr, not into the predictions
    from textclf.tracking.ownership import OWNER_TAG

    server = mlflow.MlflowClient(url)
    abandoned = server.create_run(run.info.experiment_id, tags={OWNER_TAG: dead_owner()}).info.run_id
    tidied = run_cli("predict", "--tracking-uri", url, stdin="Pyongyang fired a missile on Sunday.\n",
                     env=clean_env(TMPDIR=str(scratch)))
    assert tidied.returncode == 0 and tidied.stdout == predicted.stdout, tidied.stderr[-2000:]
    assert "View run" in tidied.stderr and abandoned in tidied.stderr
    assert server.get_run(abandoned).info.status == "FAILED"


STATE = "/artifacts/artifacts/state/"  # the model's own files, under the logged model's artifacts


class AccessLog:
    """The test server's log of requests, a line each (``helpers.serving.start_tracking_server``)."""

    def __init__(self, path):
        self.path = path
        self.read_up_to = path.stat().st_size

    def new_lines(self) -> list[str]:
        with self.path.open("rb") as log:
            log.seek(self.read_up_to)
            lines = log.read().decode(errors="replace").splitlines()
            self.read_up_to = log.tell()
        return lines


def asked(requests: list[str], method: str, path_part: str) -> list[str]:
    return [line for line in requests if f'"{method} ' in line and path_part in line]
