"""Bad input: one line naming the problem and the fix, exit 2, no traceback, nothing half-written."""

import json

import pandas as pd
import pytest

from conftest import all_runs, client, run_cli, run_train


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return path


def good_rows(n=12):
    labels = ["visit", "missile", "alliance"]
    return [{"text": f"passage number {i} about {labels[i % 3]} matters", "label": labels[i % 3]} for i in range(n)]


def assert_clean_failure(result, folder, *words):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Fix:" in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    if (folder / "mlflow.db").exists():
        assert all(run.info.status != "RUNNING" for run in all_runs(folder))
        assert client(folder).search_model_versions() == []
    return lines[0]


def files_run(folder, train, *extra):
    return run_train(folder, "data=files", f"data.train={train}", *extra)


def test_missing_file(tmp_path):
    result = files_run(tmp_path, tmp_path / "nope.csv")
    assert_clean_failure(result, tmp_path, "not found", "nope.csv")
    assert not (tmp_path / "mlflow.db").exists()  # reported before any store or run was made


def test_missing_column(tmp_path):
    train = tmp_path / "train.csv"
    pd.DataFrame(good_rows()).rename(columns={"label": "topic"}).to_csv(train, index=False)
    assert_clean_failure(files_run(tmp_path, train), tmp_path, "'label'", "topic", "data.label_column")


@pytest.mark.parametrize("bad_text", ["", "   ", None, 42])
def test_empty_null_or_non_text_values(tmp_path, bad_text):
    rows = good_rows()
    rows[3]["text"] = bad_text
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    assert_clean_failure(files_run(tmp_path, train), tmp_path, "row(s) 4")


def test_unknown_label_in_validation(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", good_rows())
    validation = write_jsonl(tmp_path / "validation.jsonl", [{"text": "a passage on trade", "label": "trade"}])
    result = files_run(tmp_path, train, f"data.validation={validation}", f"data.test={validation}")
    assert_clean_failure(result, tmp_path, "'trade'", "never occur in train")


def test_single_class(tmp_path):
    rows = [dict(row, label="visit") for row in good_rows()]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    assert_clean_failure(files_run(tmp_path, train), tmp_path, "single class")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("model=tfidf_nope", ["tfidf_nope", "tfidf_logreg"]),
        ("data.nope=1", ["data.nope", "+data.nope"]),
        ("data.train=[", ["cannot parse"]),
        ("seed=abc", ["seed"]),
        ("model.classifier.estimator.C=abc", ["'C' parameter"]),
    ],
)
def test_bad_overrides(tmp_path, override, words):
    assert_clean_failure(run_train(tmp_path, override), tmp_path, *words)
    assert not (tmp_path / "mlflow.db").exists()


def test_bad_setting_found_during_fit_fails_the_run_cleanly(tmp_path):
    result = run_train(tmp_path, "features.word_ngram_range=[2,1]")
    assert_clean_failure(result, tmp_path, "ngram_range")
    (run,) = all_runs(tmp_path)
    assert run.info.status == "FAILED"


def test_unknown_model_uri(trained_store, tmp_path):
    folder, _ = trained_store
    source = tmp_path / "in.txt"
    source.write_text("a passage\n")
    for uri in ("models:/no-such-model@champion", "not a uri", "runs:/0123456789abcdef/model"):
        result = run_cli("predict", str(source), "--model-uri", uri, cwd=folder)
        assert_clean_failure(result, tmp_path, "cannot load model")


def test_empty_prediction_input(trained_store, tmp_path):
    folder, _ = trained_store
    result = run_cli("predict", "-", stdin="\n  \n", cwd=folder)
    assert_clean_failure(result, tmp_path, "no texts")
