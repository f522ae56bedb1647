"""`mlflow models serve` on the registered champion answers as the model does in process, and
explains its labels when the request asks (params {"explain": true})."""

import json
import urllib.error

import mlflow
import pandas as pd
import pytest

from helpers.serving import invoke, served_model

TEXTS = ["The defense ministers will hold talks in Canberra next week.",
         "Copyright 2025 Hanbit News. Redistribution prohibited.",
         "Seoul, Tokyo and Washington agreed to share missile warning data in real time."]


def test_served_champion_matches_in_process_predictions_and_explanations(trained_store):
    folder, _ = trained_store
    tracking_uri = f"sqlite:///{folder}/mlflow.db"
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model("models:/diplomacy-topics@champion")
    expected = model.predict(pd.DataFrame({"text": TEXTS}), params={"explain": True})
    with served_model("models:/diplomacy-topics@champion", tracking_uri) as url:
        served, explained = pd.DataFrame(invoke(url, TEXTS)), invoke(url, TEXTS, params={"explain": True})
        with pytest.raises(urllib.error.HTTPError) as refused:  # a JSON null: was textclf's stack trace
            invoke(url, [TEXTS[0], None])
    answer = json.loads(refused.value.read())
    assert refused.value.code == 400 and "text is null in row(s) 1 (counted" in answer["message"], answer
    assert "stack_trace" not in answer
    assert list(served["label"]) == list(expected["label"])
    columns = [c for c in expected.columns if c.startswith("prob_")]
    assert (served[columns] - expected[columns]).abs().max().max() < 1e-9
    assert "explanation" not in served.columns  # only when asked
    for row, label, in_process in zip(explained, expected["label"], expected["explanation"]):
        (explanation,) = row["explanation"]  # one label, one explanation
        assert explanation["label"] == label and explanation["method"] == "linear" and explanation["terms"]
        assert row["explanation"] == list(in_process)
