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


def cells(svg_file):
    """The counts an SVG confusion matrix shows in its cells, row by row (it parses as SVG)."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.parse(svg_file).getroot()
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    return [int(text) for text in texts if text and text.isdigit()]


def rects(svg: str):
    """The cells of an SVG confusion matrix, row by row (the background rectangle left out)."""
    import xml.etree.ElementTree as ElementTree

    return [rect for rect in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}rect") if rect.get("x")]


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_confusion.svg", "test_errors.csv",
                                                          "test_predictions.csv", "test_report.txt"]
    assert cells(tmp_path / "test_confusion.svg") == [1, 0, 1, 1]  # true a: 1 a, 0 b; true b: 1 a, 1 b
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
    decision = ThresholdDecision(("a", "b"), (0.5, 0.25), 1)
    probabilities = np.array([[0.7, 0.8], [0.6, 0.9]])
    write_reports("demo", split, evaluation_of(split, predicted, probabilities, MultilabelTask(), decision), decision,
                  tmp_path)
    # the thresholds that decided each label are shown under the report, one line a label
    assert (tmp_path / "validation_report.txt").read_text().endswith("\na  0.500\nb  0.250\n")
    errors = read_csv(tmp_path / "validation_errors.csv")
    assert [(row["id"], row["true"], row["predicted"]) for row in errors] == [("2", "b", "a|b")]
    # per label: hits, misses, false alarms (a: a hit and a false alarm; b: two hits)
    assert cells(tmp_path / "validation_confusion.svg") == [1, 0, 1, 2, 0, 0]


def test_a_confusion_matrix_renders_with_its_counts_labels_and_shades(tmp_path):
    """Drawn in a real headless Chromium, as the MLflow UI shows an SVG artifact: the darkest cell
    is the largest count, labels and a title that would be markup stay text."""
    import xml.etree.ElementTree as ElementTree

    from helpers.browser import screenshot
    from textclf.evaluation.confusion_svg import confusion_svg

    matrix = np.array([[40, 2, 0], [3, 25, 9], [0, 1, 12]])
    classes = ["north_korea_security", "alliance_reassurance", "<b>trust</b>"]
    svg = confusion_svg(matrix, classes, "seeds & <test>")
    (tmp_path / "matrix.svg").write_text(svg, encoding="utf-8")
    assert cells(tmp_path / "matrix.svg") == matrix.ravel().tolist()
    assert "&lt;b&gt;trust&lt;/b&gt;" in svg and "seeds &amp; &lt;test&gt;" in svg
    root = ElementTree.fromstring(svg)
    size = f"{root.get('width')},{root.get('height')}"  # the window the picture's own size
    pixels = screenshot(tmp_path / "matrix.svg", tmp_path / "matrix.png", size=size).astype(int)
    blue = (pixels[..., 2] - pixels[..., 0] > 60) & (pixels[..., 2] > 100)
    assert blue.mean() > 0.03  # the shaded cells are drawn, not only text
    # Each cell's shade, read off the screenshot at its corner (clear of its number): darker for
    # larger counts, white for none.
    brightness = [pixels[int(float(rect.get("y"))) + 4, int(float(rect.get("x"))) + 4].sum() for rect in rects(svg)]
    order = np.argsort(matrix.ravel(), kind="stable")
    assert all(brightness[a] >= brightness[b] for a, b in zip(order, order[1:]))
    assert brightness[int(np.argmax(matrix))] < 300 and brightness[2] > 740  # 40: dark blue; 0: white
