"""Every CSV textclf writes is safe to open in a spreadsheet and reads back row for row: each goes
through ``textclf.safe_csv.write_rows`` (checked here in the source), and a run's reports escape a
hostile text as `textclf predict` does (tests/cli/test_predict_io.py)."""

import csv
import re

import numpy as np

from helpers.paths import ROOT
from textclf.data import Split
from textclf.evaluation.evaluate import Evaluation
from textclf.evaluation.reports import write_reports
from textclf.serving.decision import ArgmaxDecision
from textclf.task import MulticlassTask

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3",
           "\tleading tab", "a bare\rreturn inside", "two\nlines", "plain text"]


def test_no_module_writes_csv_but_the_safe_writer():
    writers = re.compile(r"\.to_csv\(|csv\.writer\(|csv\.DictWriter\(")
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "src").rglob("*.py")
                 if path.name != "safe_csv.py" and writers.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_a_runs_error_and_prediction_reports_escape_formulas_and_keep_rows(tmp_path):
    n = len(HOSTILE)
    ids = tuple(f"{text[:2]}id{i}" for i, text in enumerate(HOSTILE))  # a user's ids may be hostile too
    split = Split("test", tuple(HOSTILE), (("a",),) * n, ids, "mem")
    predicted = (("b",),) * n  # every text a mistake: each is in both files
    probabilities = np.tile([[0.3, 0.7]], (n, 1))
    decision = ArgmaxDecision(("a", "b"))
    report, confusion = MulticlassTask().tables(split, predicted, decision)
    write_reports("demo", split, Evaluation("test", predicted, probabilities, {}, 0.1, report, confusion),
                  decision, tmp_path)
    def escaped(values):
        return ["'" + value if value[0] in "=+-@\t\r" else value for value in values]

    for name in ("test_errors.csv", "test_predictions.csv"):
        with (tmp_path / name).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["id"] for row in rows] == escaped(ids)
        if name == "test_errors.csv":
            assert [row["text"] for row in rows] == escaped(HOSTILE)


def test_a_number_is_left_as_it_is_and_a_formula_made_of_numbers_is_not():
    """Sentiment labels -1, 0, 1 came back from `textclf predict` as '-1."""
    from textclf.safe_csv import safe_cell

    assert [safe_cell(value) for value in ("-1", "+2", "-0.5", "-.5", "-1e-3", "0")] == ["-1", "+2", "-0.5", "-.5",
                                                                                      "-1e-3", "0"]
    assert [safe_cell(value) for value in ("-2+3", "-1,5", "+1 ", "-A1", "-", "--1")] == [
        "'-2+3", "'-1,5", "'+1 ", "'-A1", "'-", "'--1"]
