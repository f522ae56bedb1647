"""The same config and seed give identical metrics and predictions twice."""

import pandas as pd

from helpers.processes import run_train
from helpers.stores import all_runs, client

TIMINGS = ("fit_seconds", "startup_seconds", "predict_single_text_ms", "validation/predict_texts_per_second",
           "test/predict_texts_per_second")


def test_two_runs_of_one_config_agree_exactly(trained_store, tmp_path):
    result = run_train(tmp_path)  # the same default config as the shared store's run
    assert result.returncode == 0, result.stderr[-2000:]
    (first,), (second,) = all_runs(trained_store[0]), all_runs(tmp_path)
    strip = lambda metrics: {k: v for k, v in metrics.items() if k not in TIMINGS}  # noqa: E731
    assert strip(first.data.metrics) == strip(second.data.metrics)
    predictions = [pd.read_csv(client(folder).download_artifacts(r.info.run_id, "test_predictions.csv",
                                                                 str(tmp_path / r.info.run_id)))
                   for folder, r in ((trained_store[0], first), (tmp_path, second))]
    pd.testing.assert_frame_equal(predictions[0], predictions[1])
    assert first.data.tags["data.hash"] == second.data.tags["data.hash"]
