"""Reading texts for `textclf predict` and writing its predictions: in batches, safe for
spreadsheets, read back row for row, and never half-written."""

import csv
import io
import json
import sys

import pandas as pd
import pytest

from textclf.cli import predict as predict_module
from textclf.cli.predict import opened_output, read_batches, write_predictions
from textclf.errors import UserError


def read_texts(source, column):
    return [text for batch in read_batches(source, column) for text in batch]


def test_texts_from_csv_jsonl_text_and_stdin(tmp_path, monkeypatch):
    pd.DataFrame({"body": ["one", "two, with comma"], "x": [1, 2]}).to_csv(tmp_path / "in.csv", index=False)
    assert read_texts(str(tmp_path / "in.csv"), "body") == ["one", "two, with comma"]
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    assert read_texts(str(tmp_path / "in.jsonl"), "text") == ["a", "b"]
    (tmp_path / "in.txt").write_text("first\n\n  \nsecond\r\n")
    assert read_texts(str(tmp_path / "in.txt"), "text") == ["first", "second"]  # blank lines are skipped
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\n")))
    assert read_texts("-", "text") == ["from stdin"]


def test_texts_come_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(predict_module, "BATCH_TEXTS", 3)
    (tmp_path / "in.txt").write_text("".join(f"text {i}\n" for i in range(7)))
    assert [len(batch) for batch in read_batches(str(tmp_path / "in.txt"), "text")] == [3, 3, 1]
    pd.DataFrame({"text": [f"t{i}" for i in range(7)]}).to_csv(tmp_path / "in.csv", index=False)
    assert [len(batch) for batch in read_batches(str(tmp_path / "in.csv"), "text")] == [3, 3, 1]


def test_unreadable_inputs_are_user_errors(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="not found"):
        read_texts(str(tmp_path / "missing.csv"), "text")
    pd.DataFrame({"body": ["one"]}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(UserError, match="--text-column"):
        read_texts(str(tmp_path / "in.csv"), "text")
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="line 1 is not UTF-8"):
        read_texts(str(tmp_path / "latin.txt"), "text")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"fine\ncaf\xe9\n")))
    with pytest.raises(UserError, match="standard input line 2 is not UTF-8"):
        read_texts("-", "text")
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(UserError, match="no texts to tag"):
        read_texts(str(tmp_path / "blank.txt"), "text")


def test_predictions_as_csv_and_jsonl(tmp_path):
    frame = pd.DataFrame({"text": ["t1", "t2"], "labels": [["a", "b"], ["b"]], "prob_a": [0.91234, 0.1],
                          "prob_b": [0.8, 0.7]})
    with opened_output(str(tmp_path / "out.csv")) as handle:
        write_predictions(frame, handle, "csv", header=True)
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written["labels"]) == ["a|b", "b"] and written.loc[0, "prob_a"] == 0.9123
    with opened_output(str(tmp_path / "out.jsonl")) as handle:
        write_predictions(frame, handle, "jsonl", header=True)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[0]["labels"] == ["a", "b"] and rows[1]["text"] == "t2"


HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3",
           "\tleading tab", "\rleading return", "a bare\rreturn inside", "two\nlines", "plain text"]


def test_csv_cells_cannot_become_formulas_and_read_back_row_for_row(tmp_path):
    frame = pd.DataFrame({"text": HOSTILE, "label": ["=1+1"] + ["x"] * (len(HOSTILE) - 1),
                          "prob_x": [0.5] * len(HOSTILE)})
    with opened_output(str(tmp_path / "out.csv")) as handle:
        write_predictions(frame, handle, "csv", header=True)
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 1 + len(HOSTILE)  # no text split into two rows
    for text, row in zip(HOSTILE, rows[1:]):
        escaped = text[0] in "=+-@\t\r"
        assert row[0] == ("'" + text if escaped else text)
    assert rows[1][1] == "'=1+1"
    assert pd.read_csv(tmp_path / "out.csv").shape == (len(HOSTILE), 3)


def test_a_failure_part_way_leaves_no_output_file(tmp_path):
    destination = tmp_path / "out.csv"
    with pytest.raises(UserError):
        with opened_output(str(destination)) as handle:
            handle.write("text,label\r\n")
            raise UserError("the input broke off")
    assert list(tmp_path.iterdir()) == []
