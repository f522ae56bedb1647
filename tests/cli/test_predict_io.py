"""Reading texts for `textclf predict`, each with the id or line that names it, and writing its
predictions (top-k labels, confidence): in batches, safe for spreadsheets, read back row for row,
and never half-written."""

import csv
import gzip
import io
import json
import os
import re
import sys
import threading
import warnings

import pandas as pd
import pytest

from textclf.cli import predict_input
from textclf.cli.output import opened_output, write_predictions
from textclf.cli.predict import keyed_rows, shaped_predictions, tagged_batch
from textclf.cli.predict_input import Batch, read_batches
from textclf.cli.suggest import ADDED_COLUMNS
from textclf.errors import TextclfWarning, UserError


def read_texts(source, column):
    return [text for batch in read_batches(source, column) for text in batch.texts]


def read_texts_with_ids(source, id_column):
    return [text for batch in read_batches(source, "text", id_column) for text in batch.texts]


def keys_and_texts(source, column="text", id_column=None):
    batches = list(read_batches(source, column, id_column))
    assert len({batch.key_column for batch in batches}) == 1
    return batches[0].key_column, [(k, t) for batch in batches for k, t in zip(batch.keys, batch.texts)]


def test_texts_from_csv_jsonl_text_and_stdin(tmp_path, monkeypatch):
    pd.DataFrame({"body": ["one", "two, with comma"], "x": [1, 2]}).to_csv(tmp_path / "in.csv", index=False)
    assert read_texts(str(tmp_path / "in.csv"), "body") == ["one", "two, with comma"]
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    assert read_texts(str(tmp_path / "in.jsonl"), "text") == ["a", "b"]
    (tmp_path / "in.txt").write_text("first\n\n  \nsecond\r\n")
    assert read_texts(str(tmp_path / "in.txt"), "text") == ["first", "second"]  # blank lines are skipped
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\n")))
    assert read_texts("-", "text") == ["from stdin"]
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbffirst\r\nsecond\r\n")  # as Notepad saves UTF-8
    assert read_texts(str(tmp_path / "bom.txt"), "text") == ["first", "second"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfpiped\n")))
    assert read_texts("-", "text") == ["piped"]


def test_a_named_pipe_is_read_as_a_text_file(tmp_path):
    """As the shell's ``<(zcat texts.txt.gz)`` gives one: it was refused as not found."""
    pipe = tmp_path / "texts"
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_text("one\ntwo\n"))
    writer.start()
    assert read_texts(str(pipe), "text") == ["one", "two"]
    writer.join(timeout=10)


def test_texts_come_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(predict_input, "BATCH_TEXTS", 3)
    (tmp_path / "in.txt").write_text("".join(f"text {i}\n" for i in range(7)))
    assert [len(batch.texts) for batch in read_batches(str(tmp_path / "in.txt"), "text")] == [3, 3, 1]
    pd.DataFrame({"text": [f"t{i}" for i in range(7)]}).to_csv(tmp_path / "in.csv", index=False)
    assert [len(batch.texts) for batch in read_batches(str(tmp_path / "in.csv"), "text")] == [3, 3, 1]


def test_an_html_page_read_as_lines_of_text_is_said_to_be_one(tmp_path, monkeypatch):
    """predict: each line of a page, markup and all, went to the model without a word; --article
    reads the page's text as a browser shows it."""
    def predict_reads(source):
        return [text for batch in read_batches(source, "text", article_flag=True) for text in batch.texts]

    html = "<!DOCTYPE html>\n<html><body><p>Ministers met in Seoul.</p></body></html>\n"
    page = tmp_path / "saved page.html"
    page.write_text(html)
    with pytest.warns(TextclfWarning, match=re.escape(f"Fix: textclf predict --article '{page}' tags the page's")):
        assert predict_reads(str(page)) == ["<!DOCTYPE html>", "<html><body><p>Ministers met in Seoul.</p></body></html>"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(html.encode())))
    with pytest.warns(TextclfWarning, match=re.escape("standard input looks like an HTML page, and each of its lines "
                                                      "is tagged as text, markup included. Fix: textclf predict "
                                                      "--article - tags")):
        predict_reads("-")
    (tmp_path / "plain.txt").write_text("<b>bold</b> is no page\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_reads(str(tmp_path / "plain.txt"))
        read_texts(str(page), "text")  # suggest's pool: it has no --article to point at


def test_unreadable_inputs_are_user_errors(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="not found"):
        read_texts(str(tmp_path / "missing.csv"), "text")
    with pytest.raises(UserError, match="is a folder. Fix: pass a CSV, JSONL, Parquet or text file in it"):
        read_texts(str(tmp_path), "text")
    pd.DataFrame({"body": ["one"]}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(UserError, match="--text-column"):
        read_texts(str(tmp_path / "in.csv"), "text")
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="line 1 is not UTF-8"):
        read_texts(str(tmp_path / "latin.txt"), "text")
    # a CSV as a text file: the line and how to convert it (was the codec's "position 25", no fix)
    (tmp_path / "latin.csv").write_bytes("text\nfine\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin.csv line 3 is not UTF-8 \(byte 0xe9\). Fix: .*iconv -f cp1252"):
        read_texts(str(tmp_path / "latin.csv"), "text")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"fine\ncaf\xe9\n")))
    with pytest.raises(UserError, match="standard input line 2 is not UTF-8"):
        read_texts("-", "text")
    # a file that is not text at all says what it looks like (iconv, suggested before, cannot help)
    for name, content, looks in (("store.db", b"SQLite format 3\x00\x10\x00\xfc",
                                  "an SQLite database (such as an MLflow store). Fix: pass a CSV, JSONL, Parquet or "),
                                 ("texts.txt.gz", gzip.compress(b"a text\n", mtime=0), "a gzip-compressed file. Fix: gunzip"),
                                 ("table.csv", b"PAR1\x15\x04", "a Parquet file. Fix: name it .parquet"),
                                 ("wide.txt", "a text\n".encode("utf-16"), "UTF-16 text. Fix: convert it, e.g. iconv -f utf-16"),
                                 ("wider.txt", "a text\n".encode("utf-32"), "UTF-32 text. Fix: convert it, e.g. iconv -f utf-32"),
                                 ("blob.jsonl", b"\x00\x01\x02text", "a binary file (or UTF-16 text without")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(UserError, match=re.escape(f"{name} is not UTF-8 text: it looks like {looks}")):
            read_texts(str(tmp_path / name), "text")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UserError, match="empty.csv is empty. Fix: pass a file with a header row and texts"):
        read_texts(str(tmp_path / "empty.csv"), "text")
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(UserError, match="no texts to tag"):
        read_texts(str(tmp_path / "blank.txt"), "text")
    # not a string: tagged before as its Python spelling ("['a', 'b']", "5")
    for value, kind in (('["a", "b"]', "a list"), ("5", "a number"), ('{"en": "x"}', "an object"), ("true", "true/false")):
        (tmp_path / "odd.jsonl").write_text(f'{{"text": "fine"}}\n{{"text": {value}}}\n')
        with pytest.raises(UserError, match=f"odd.jsonl line 2 field 'text' holds {kind}, not text"):
            read_texts(str(tmp_path / "odd.jsonl"), "text")
    (tmp_path / "null.jsonl").write_text('{"text": "fine"}\n{"text": null}\n')
    assert read_texts(str(tmp_path / "null.jsonl"), "text") == ["fine"]  # null: no text, skipped as a blank line


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


def test_rows_keep_their_line_numbers_past_blank_lines(tmp_path, monkeypatch):
    (tmp_path / "in.txt").write_text("first\n\n  \nsecond\r\n\nthird")
    assert keys_and_texts(str(tmp_path / "in.txt")) == ("line", [(1, "first"), (4, "second"), (6, "third")])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\nfrom stdin\n")))
    assert keys_and_texts("-") == ("line", [(2, "from stdin")])
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n\n{"text": ""}\n{"text": "b"}\n')
    assert keys_and_texts(str(tmp_path / "in.jsonl")) == ("line", [(1, "a"), (4, "b")])
    # A CSV row is numbered by the line it starts on: the header is line 1, a quoted cell may
    # span lines, a blank line is still a line.
    (tmp_path / "in.csv").write_text('text,other\none,1\n"two\nlines",2\n\n,3\nfive,4\n', encoding="utf-8")
    assert keys_and_texts(str(tmp_path / "in.csv")) == ("line", [(2, "one"), (3, "two\nlines"), (7, "five")])


def test_rows_keep_the_inputs_id_column(tmp_path, monkeypatch):
    monkeypatch.setattr(predict_input, "BATCH_TEXTS", 2)
    pd.DataFrame({"id": ["a7", "b8", "c9"], "text": ["one", " ", "three"], "ref": [1, 2, 3]}).to_csv(
        tmp_path / "in.csv", index=False)
    assert keys_and_texts(str(tmp_path / "in.csv")) == ("id", [("a7", "one"), ("c9", "three")])
    assert keys_and_texts(str(tmp_path / "in.csv"), id_column="ref") == ("ref", [("1", "one"), ("3", "three")])
    (tmp_path / "in.jsonl").write_text('{"id": 10, "body": "x"}\n{"body": "y"}\n{"id": 12, "body": "z"}\n')
    assert keys_and_texts(str(tmp_path / "in.jsonl"), "body") == ("id", [(10, "x"), (None, "y"), (12, "z")])


def test_unusable_id_columns_and_records_are_user_errors(tmp_path, monkeypatch):
    (tmp_path / "in.csv").write_text("id;text\n1;one\n")  # a spreadsheet's export with semicolons
    with pytest.raises(UserError, match="in.csv reads as a single column 'id;text'.*Fix: save it comma-separated"):
        read_texts_with_ids(str(tmp_path / "in.csv"), None)
    pd.DataFrame({"text": ["one"]}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(UserError, match="has no column 'ref'.*Fix: pass --id-column NAME"):
        read_texts_with_ids(str(tmp_path / "in.csv"), "ref")
    (tmp_path / "in.txt").write_text("a text\n")
    with pytest.raises(UserError, match="--id-column ref needs a CSV, JSONL or Parquet input"):
        read_texts_with_ids(str(tmp_path / "in.txt"), "ref")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a text\n")))
    with pytest.raises(UserError, match="standard input is plain text"):
        read_texts_with_ids("-", "ref")
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n["text", "b"]\n')
    with pytest.raises(UserError, match="line 2 is not a JSON object"):
        read_texts(str(tmp_path / "bad.jsonl"), "text")
    (tmp_path / "ragged.csv").write_text("text,other\none,1\ntwo, with a comma,2\n")
    with pytest.raises(UserError, match="line 3 has 3 cells, its header 2"):
        read_texts(str(tmp_path / "ragged.csv"), "text")
    (tmp_path / "open.csv").write_text('text\n"a quote left open\ntwo\nthree\n')  # not one text of three lines
    with pytest.raises(UserError, match="open.csv: unexpected end of data"):
        read_texts(str(tmp_path / "open.csv"), "text")


def test_a_parquet_input_is_read_in_batches_with_its_ids_or_row_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(predict_input, "BATCH_TEXTS", 2)
    pd.DataFrame({"id": ["a7", "b8", "c9"], "body": ["one", None, "three"], "ref": [1, 2, 3]}).to_parquet(
        tmp_path / "in.parquet")
    assert keys_and_texts(str(tmp_path / "in.parquet"), "body") == ("id", [("a7", "one"), ("c9", "three")])
    assert keys_and_texts(str(tmp_path / "in.parquet"), "body", id_column="ref") == ("ref", [(1, "one"), (3, "three")])
    pd.DataFrame({"text": [f"t{i}" for i in range(5)]}).to_parquet(tmp_path / "plain.pq")
    batches = list(read_batches(str(tmp_path / "plain.pq"), "text"))
    assert [len(batch.texts) for batch in batches] == [2, 2, 1]
    assert batches[0].key_column == "row" and [key for batch in batches for key in batch.keys] == [1, 2, 3, 4, 5]
    with pytest.raises(UserError, match=r"in.parquet has no column 'text' \(columns: \['id', 'body', 'ref'\]\)"):
        read_texts(str(tmp_path / "in.parquet"), "text")
    with pytest.raises(UserError, match="has no column 'url' in its columns"):
        read_texts_with_ids(str(tmp_path / "plain.pq"), "url")
    (tmp_path / "csv.parquet").write_text("text\none\n")  # a CSV under a Parquet name
    with pytest.raises(UserError, match="csv.parquet is not a readable Parquet file"):
        read_texts(str(tmp_path / "csv.parquet"), "text")


def test_a_parquet_text_column_is_text_binary_as_utf8_and_anything_else_refused(tmp_path):
    import pyarrow
    import pyarrow.parquet as parquet

    def written(name, column):
        parquet.write_table(pyarrow.table({"text": column}), tmp_path / name)
        return str(tmp_path / name)

    assert read_texts(written("binary.parquet", pyarrow.array([b"caf\xc3\xa9", None], pyarrow.binary())), "text") == ["café"]
    with pytest.raises(UserError, match="latin.parquet row 2 is not UTF-8 \\(byte 0xe9\\)"):
        read_texts(written("latin.parquet", pyarrow.array([b"ok", b"caf\xe9"], pyarrow.binary())), "text")
    for name, column in (("lists.parquet", [["a", "b"]]), ("numbers.parquet", [1.5, float("nan")])):
        with pytest.raises(UserError, match=f"{name} column 'text' holds .*, not text. Fix: pass --text-column"):
            read_texts(written(name, column), "text")


def test_a_damaged_parquet_page_is_one_user_error(tmp_path):
    path = tmp_path / "damaged.parquet"
    pd.DataFrame({"text": [f"passage number {i} " * 20 for i in range(200)]}).to_parquet(path, compression=None)
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle:middle + 64] = b"\xff" * 64  # inside the data pages; the footer stays whole
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="damaged.parquet is damaged: .* Fix: re-save it as Parquet"):
        read_texts(str(path), "text")


def test_a_csv_cell_longer_than_the_csv_modules_default_limit_is_read(tmp_path):
    long_text = "a long passage " * 20000  # 300,000 characters, past the csv module's 131,072
    pd.DataFrame({"text": [long_text]}).to_csv(tmp_path / "in.csv", index=False)
    assert read_texts(str(tmp_path / "in.csv"), "text") == [long_text]


MULTICLASS = pd.DataFrame({"label": ["b", "a", "c"], "prob_a": [0.2, 0.5, 0.3], "prob_b": [0.7, 0.45, 0.3],
                           "prob_c": [0.1, 0.05, 0.4]})


def test_top_k_replaces_the_probability_columns_with_the_k_most_probable_labels():
    shaped = shaped_predictions(MULTICLASS, top_k=2)
    assert list(shaped.columns) == ["label", "top1", "top1_prob", "top2", "top2_prob"]
    assert list(shaped["top1"]) == ["b", "a", "c"] and list(shaped["top2"]) == ["a", "b", "a"]
    assert list(shaped["top1_prob"]) == [0.7, 0.5, 0.4] and list(shaped["top2_prob"]) == [0.2, 0.45, 0.3]
    assert list(shaped_predictions(MULTICLASS, top_k=3)["top3"]) == ["c", "c", "b"]
    with pytest.raises(UserError, match="--top-k 4 asks for more labels than the model's 3 classes. "
                                        "Fix: pass --top-k 3"):
        shaped_predictions(MULTICLASS, top_k=4)
    assert shaped_predictions(MULTICLASS) is MULTICLASS  # no flag: the model's own columns


def test_min_confidence_marks_rows_below_it_uncertain():
    shaped = shaped_predictions(MULTICLASS.copy(), min_confidence=0.5)
    assert [c for c in shaped.columns if not c.startswith("prob_")] == ["label", "confidence", "uncertain"]
    assert list(shaped["confidence"]) == [0.7, 0.5, 0.4]
    assert list(shaped["uncertain"]) == [False, False, True]  # 0.5 is not below 0.5
    # Multi-label: the least probable of the predicted labels; none predicted: 1 - the highest.
    multilabel = pd.DataFrame({"labels": [["a", "b"], ["b"], []], "prob_a": [0.9, 0.1, 0.2],
                               "prob_b": [0.6, 0.8, 0.1]})
    shaped = shaped_predictions(multilabel, top_k=1, min_confidence=0.7)
    assert list(shaped.columns) == ["labels", "top1", "top1_prob", "confidence", "uncertain"]
    assert list(shaped["confidence"]) == pytest.approx([0.6, 0.8, 0.8])
    assert list(shaped["uncertain"]) == [True, False, False]


def test_top_k_and_min_confidence_need_the_models_probabilities():
    with pytest.raises(UserError, match="no prob_<class> columns"):
        shaped_predictions(pd.DataFrame({"label": ["a"]}), top_k=1)
    with pytest.raises(UserError, match="no label or labels column"):
        shaped_predictions(pd.DataFrame({"tag": ["a"], "prob_a": [1.0]}), min_confidence=0.5)


class FixedModel:
    """Predicts the same row for every text, as a registered model's pyfunc would shape it."""

    def __init__(self, row):
        self.row = row

    def predict(self, frame):
        return pd.DataFrame([self.row] * len(frame))


def test_rows_start_with_their_key_and_text_and_write_as_csv_and_jsonl(tmp_path):
    batch = Batch("id", ["=7", "b"], ["t1", "t2"])
    rows = tagged_batch(FixedModel({"label": "x", "prob_x": 0.6, "prob_y": 0.4}), batch, None, 0.7)
    assert list(rows.columns) == ["id", "text", "label", "prob_x", "prob_y", "confidence", "uncertain"]
    with opened_output(str(tmp_path / "out.csv")) as handle:
        write_predictions(rows, handle, "csv", header=True)
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as handle:
        written = list(csv.reader(handle))
    assert written[1] == ["'=7", "t1", "x", "0.6000", "0.4000", "0.6000", "True"]  # the id is a cell like any other
    with opened_output(str(tmp_path / "out.jsonl")) as handle:
        write_predictions(rows, handle, "jsonl", header=True)
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert first["id"] == "=7" and first["uncertain"] is True and first["confidence"] == 0.6


def test_an_id_column_named_like_an_output_column_is_refused():
    model = FixedModel({"label": "x", "prob_x": 1.0})
    for name in ("label", "text", "prob_x"):
        with pytest.raises(UserError, match=f"id column {name!r} has the name of an output column"):
            tagged_batch(model, Batch(name, ["k"], ["t"]), None, None)
    # textclf suggest writes its own columns after the model's (it was pandas' traceback, or one hid the other)
    for name in ("text", "uncertainty", "reason"):
        with pytest.raises(UserError, match=f"id column {name!r} has the name of an output column"):
            keyed_rows(pd.DataFrame({"label": ["x"]}), name, ["k"], ["t"], added=ADDED_COLUMNS)
