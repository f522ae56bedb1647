"""The same config and seed give identical metrics and predictions twice."""

import pandas as pd

from conftest import all_runs, client, run_train

TIMINGS = ("fit_seconds", "startup_seconds", "predict_single_text_ms", "validation/predict_texts_per_second",
           "test/predict_texts_per_second")


def test_two_runs_of_one_config_agree_exactly(tmp_path):
    for _ in range(2):
        result = run_train(tmp_path, "seed=7")
        assert result.returncode == 0, result.stderr[-2000:]
    first, second = sorted(all_runs(tmp_path), key=lambda r: r.info.start_time)
    strip = lambda metrics: {k: v for k, v in metrics.items() if k not in TIMINGS}  # noqa: E731
    assert strip(first.data.metrics) == strip(second.data.metrics)
    predictions = [pd.read_csv(client(tmp_path).download_artifacts(r.info.run_id, "test_predictions.csv",
                                                                   str(tmp_path / r.info.run_id)))
                   for r in (first, second)]
    pd.testing.assert_frame_equal(predictions[0], predictions[1])
    assert first.data.tags["data.hash"] == second.data.tags["data.hash"]
