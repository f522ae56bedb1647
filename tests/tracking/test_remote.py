"""Training against a real `mlflow server` on loopback: tracked, registered, loaded back from it."""

import pandas as pd

from helpers.processes import run_train


def test_train_register_and_load_through_a_server(tracking_server, tmp_path):
    url, server_folder = tracking_server
    result = run_train(tmp_path, f"tracking.uri={url}", "features=tfidf_word", "model=tfidf_nb")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert list((server_folder / "artifacts").rglob("state.json"))  # the server stored the model

    import mlflow

    mlflow.set_tracking_uri(url)
    (run,) = mlflow.search_runs(experiment_names=["diplomacy"], output_format="list")
    assert run.info.status == "FINISHED" and "test/macro_f1" in run.data.metrics
    model = mlflow.pyfunc.load_model("models:/diplomacy-topics@champion")
    out = model.predict(pd.DataFrame({"text": ["Pyongyang fired a missile on Sunday."]}))
    assert out.loc[0, "label"] == "north_korea_security"
