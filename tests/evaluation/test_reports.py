"""The report files a run logs: one per kind, the mistakes and only them, every prediction."""

import csv

import numpy as np

from textclf.data import Split
from textclf.evaluation.evaluate import Evaluation
from textclf.evaluation.reports import write_reports
from textclf.serving.decision import ArgmaxDecision, ThresholdDecision
from textclf.task import MulticlassTask, MultilabelTask


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def evaluation_of(split, predicted, probabilities, task, decision):
    report, confusion = task.tables(split, predicted, decision)
    return Evaluation(split.name, predicted, probabilities, {}, 0.1, report, confusion)


def test_multiclass_reports(tmp_path):
    split = Split("test", ("first text", "second, with a comma", "third"), (("a",), ("b",), ("b",)),
                  ("x1", "x2", "x3"), "mem")
    predicted = (("a",), ("a",), ("b",))
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    decision = ArgmaxDecision(("a", "b"))
    write_reports("demo", split, evaluation_of(split, predicted, probabilities, MulticlassTask(), decision), decision,
                  tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_confusion.png", "test_errors.csv",
                                                          "test_predictions.csv", "test_report.txt"]
    assert (tmp_path / "test_confusion.png").read_bytes()[:4] == b"\x89PNG"
    errors = read_csv(tmp_path / "test_errors.csv")
    assert [(row["id"], row["text"], row["true"], row["predicted"], row["confidence"]) for row in errors] == [
        ("x2", "second, with a comma", "b", "a", "0.600")]
    predictions = read_csv(tmp_path / "test_predictions.csv")
    assert [row["predicted"] for row in predictions] == ["a", "a", "b"]
    assert float(predictions[2]["prob_b"]) == 0.8
    assert "precision" in (tmp_path / "test_report.txt").read_text()


def test_multilabel_reports_compare_label_sets(tmp_path):
    split = Split("validation", ("t1", "t2"), (("a", "b"), ("b",)), ("1", "2"), "mem")
    predicted = (("b", "a"), ("a", "b"))  # the first is right in another order, the second is wrong
    decision = ThresholdDecision(("a", "b"), (0.5, 0.5), 1)
    probabilities = np.array([[0.7, 0.8], [0.6, 0.9]])
    write_reports("demo", split, evaluation_of(split, predicted, probabilities, MultilabelTask(), decision), decision,
                  tmp_path)
    errors = read_csv(tmp_path / "validation_errors.csv")
    assert [(row["id"], row["true"], row["predicted"]) for row in errors] == [("2", "b", "a|b")]
