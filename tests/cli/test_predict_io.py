"""Reading texts for `textclf predict` and writing its predictions."""

import io
import json
import sys

import pandas as pd
import pytest

from textclf.cli.predict import read_texts, write_predictions
from textclf.errors import UserError


def test_texts_from_csv_jsonl_text_and_stdin(tmp_path, monkeypatch):
    pd.DataFrame({"body": ["one", "two, with comma"], "x": [1, 2]}).to_csv(tmp_path / "in.csv", index=False)
    assert read_texts(str(tmp_path / "in.csv"), "body") == ["one", "two, with comma"]
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    assert read_texts(str(tmp_path / "in.jsonl"), "text") == ["a", "b"]
    (tmp_path / "in.txt").write_text("first\n\n  \nsecond\n")
    assert read_texts(str(tmp_path / "in.txt"), "text") == ["first", "second"]  # blank lines are skipped
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
    assert read_texts("-", "text") == ["from stdin"]


def test_unreadable_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_texts(str(tmp_path / "missing.csv"), "text")
    pd.DataFrame({"body": ["one"]}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(UserError, match="--text-column"):
        read_texts(str(tmp_path / "in.csv"), "text")
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="UTF-8"):
        read_texts(str(tmp_path / "latin.txt"), "text")


def test_predictions_as_csv_and_jsonl(tmp_path):
    frame = pd.DataFrame({"text": ["t1", "t2"], "labels": [["a", "b"], ["b"]], "prob_a": [0.91234, 0.1],
                          "prob_b": [0.8, 0.7]})
    write_predictions(frame, str(tmp_path / "out.csv"), None)
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written["labels"]) == ["a|b", "b"] and written.loc[0, "prob_a"] == 0.9123
    write_predictions(frame, str(tmp_path / "out.jsonl"), None)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[0]["labels"] == ["a", "b"] and rows[1]["text"] == "t2"
