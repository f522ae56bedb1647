"""`textclf predict` and `textclf compare` on a real store (the first test as a real process, the
rest through the command's own main in this process)."""

import io
import json

import pandas as pd
import pytest

from helpers.processes import run_cli

TEXTS = [
    "The defense ministers will hold talks in Canberra next week, with the agenda still being finalised.",
    "Pyongyang fired two short-range ballistic missiles into the sea off its east coast on Sunday morning.",
]


def test_predict_csv_from_a_text_file(trained_store, tmp_path):
    folder, _ = trained_store
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    result = run_cli("predict", str(source), cwd=folder)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table.columns[:2]) == ["text", "label"]
    assert len([c for c in table.columns if c.startswith("prob_")]) == 8
    assert list(table["text"]) == TEXTS
    assert table.loc[1, "label"] == "north_korea_security"
    probabilities = table[[c for c in table.columns if c.startswith("prob_")]]
    assert ((probabilities.sum(axis=1) - 1).abs() < 1e-3).all()


def test_predict_jsonl_from_stdin_and_from_a_jsonl_file(trained_store, tmp_path, cli_in_process):
    run_cli = cli_in_process
    folder, _ = trained_store
    output = tmp_path / "out.jsonl"
    result = run_cli("predict", "-", "--output", str(output), stdin="\n".join(TEXTS), cwd=folder)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["text"] for r in rows] == TEXTS and all("label" in r for r in rows)

    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps({"body": t}) for t in TEXTS), encoding="utf-8")
    result = run_cli("predict", str(source), "--text-column", "body", "--format", "jsonl",
                     "--model-uri", "models:/diplomacy-topics/1", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] == [r["label"] for r in rows]


def test_predict_csv_input(trained_store, tmp_path, cli_in_process):
    run_cli = cli_in_process
    folder, _ = trained_store
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS, "other": [1, 2]}).to_csv(source, index=False)
    result = run_cli("predict", str(source), "-o", str(tmp_path / "out.csv"), cwd=folder)
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 2


@pytest.mark.xdist_group("two_model_store")  # the store is built once, on one worker
def test_compare_sorts_runs_and_shows_differing_params(two_model_store, cli_in_process):
    run_cli = cli_in_process
    tmp_path, _ = two_model_store
    result = run_cli("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--format", "csv")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert len(table) == 2
    scores = list(table["validation/macro_f1"])
    assert scores == sorted(scores, reverse=True)
    assert "model.classifier._target_" in table.columns  # differs between the runs
    assert "data.name" not in table.columns  # the same in both runs
    assert table.loc[0, "run"] == "tfidf_logreg"
    markdown = run_cli("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--format", "markdown",
                       "--metric", "test/macro_f1")
    assert markdown.returncode == 0 and markdown.stdout.startswith("| run | run_id | test/macro_f1")
