"""`mlflow models serve` on the registered champion answers as the model does in process."""

import mlflow
import pandas as pd

from helpers.serving import invoke, served_model

TEXTS = ["The defense ministers will hold talks in Canberra next week.",
         "Copyright 2025 Hanbit News. Redistribution prohibited.",
         "Seoul, Tokyo and Washington agreed to share missile warning data in real time."]


def test_served_champion_matches_in_process_predictions(trained_store):
    folder, _ = trained_store
    tracking_uri = f"sqlite:///{folder}/mlflow.db"
    mlflow.set_tracking_uri(tracking_uri)
    expected = mlflow.pyfunc.load_model("models:/diplomacy-topics@champion").predict(pd.DataFrame({"text": TEXTS}))
    with served_model("models:/diplomacy-topics@champion", tracking_uri) as url:
        served = pd.DataFrame(invoke(url, TEXTS))
    assert list(served["label"]) == list(expected["label"])
    columns = [c for c in expected.columns if c.startswith("prob_")]
    assert (served[columns] - expected[columns]).abs().max().max() < 1e-9
