"""Task rules: the multi-label decision rule picks each label's best validation threshold, and the
report tables count what each label got."""

import numpy as np
from sklearn.metrics import f1_score

from textclf.data import Split
from textclf.serving.decision import ArgmaxDecision, ThresholdDecision
from textclf.task import MulticlassTask, MultilabelTask


def test_each_label_gets_the_threshold_with_the_best_validation_f1():
    rng = np.random.default_rng(7)
    names = [f"label{i}" for i in range(12)]
    truth = rng.random((400, 12)) < 0.15
    truth[:, 5] = False  # a label absent from validation: every threshold scores 0, the first wins
    probabilities = np.clip(truth * rng.uniform(0.2, 0.8, (400, 12)) + rng.random((400, 12)) * 0.5, 0, 1)
    rows = tuple(tuple(n for n, on in zip(names, row) if on) or (names[0],) for row in truth)
    split = Split("validation", tuple(f"text {i}" for i in range(400)), rows, tuple(map(str, range(400))), "mem")
    task = MultilabelTask()
    thresholds = task.best_thresholds(split, names, probabilities)

    targets = task.targets(split, names)
    expected = []
    for column in range(12):
        scores = [f1_score(targets[:, column], probabilities[:, column] >= t, zero_division=0.0)
                  for t in task.threshold_grid]
        expected.append(task.threshold_grid[int(np.argmax(scores))])
    assert list(thresholds) == expected
    assert thresholds[5] == task.threshold_grid[0]
    assert len(set(expected)) > 1  # the data really makes labels choose differently


def test_report_tables_count_what_each_label_got():
    labels = (("a",), ("a",), ("b",), ("c",), ("c",), ("c",))
    predicted = (("a",), ("b",), ("b",), ("c",), ("a",), ("c",))
    split = Split("test", tuple(f"text {i}" for i in range(6)), labels, tuple(map(str, range(6))), "mem")
    report, confusion = MulticlassTask().tables(split, predicted, ArgmaxDecision(("a", "b", "c")))
    assert confusion.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]  # rows true, columns predicted
    assert report.split("\n")[2].split() == ["a", "0.500", "0.500", "0.500", "2"]

    multilabel = (("a", "b"), ("b",), ("c",))
    guessed = (("a",), ("b", "c"), ("c",))
    split = Split("test", ("x", "y", "z"), multilabel, ("1", "2", "3"), "mem")
    _, counts = MultilabelTask().tables(split, guessed, ThresholdDecision(("a", "b", "c"), (0.5,) * 3, 1))
    assert counts.tolist() == [[1, 0, 0], [1, 1, 0], [1, 0, 1]]  # per label: hits, misses, false alarms


def test_the_configured_grid_reaches_a_rare_labels_low_probabilities():
    """Calibrated one-vs-rest probabilities put a rare label's texts far below 0.1 (Reuters-21578):
    the shipped grid must reach down to them, or the label is never predicted."""
    from omegaconf import OmegaConf

    from tests.helpers.paths import ROOT

    grid = OmegaConf.load(ROOT / "configs/task/multilabel.yaml").task.threshold_grid
    names = ["common", "rare"]
    rows = tuple(("common", "rare") if i < 4 else ("common",) for i in range(200))
    split = Split("validation", tuple(f"text {i}" for i in range(200)), rows, tuple(map(str, range(200))), "mem")
    probabilities = np.column_stack([np.full(200, 0.9), np.where(np.arange(200) < 4, 0.012, 0.002)])
    thresholds = MultilabelTask(threshold_grid=grid).best_thresholds(split, names, probabilities)
    assert 0.002 < thresholds[1] <= 0.012  # all four found, no false alarm
    assert MultilabelTask().threshold_grid == tuple(grid)  # the Python default is the shipped one


def test_thresholds_tuned_on_few_validation_texts_are_said(tmp_path, train_in_process, recwarn):
    """Four validation texts a label gave it a threshold of 0.1-0.35, and a text three labels it
    scored 0.17 on, silently. The seed corpus (37 or more validation texts a label) says nothing."""
    import pandas as pd

    rows = [{"text": f"passage {i} on {topic} matters", "label": topic}
            for i, topic in enumerate(["trade", "health", "sports", "trade|sports"] * 15)]
    pd.DataFrame(rows).to_csv(tmp_path / "tags.csv", index=False)
    result = train_in_process(tmp_path, "data=files", f"data.train={tmp_path / 'tags.csv'}", "task=multilabel",
                              "data.label_separator='|'", "model=tfidf_nb", "features=tfidf_word")
    assert result.returncode == 0, result.stderr[-2000:]
    (said,) = [str(w.message) for w in recwarn if "thresholds of" in str(w.message)]
    # 9 validation texts: 15% of 60, carved seeded
    assert said.startswith("the thresholds of 2 label(s) were tuned on fewer than 5 validation texts each "
                           "(health: 2, sports: 3): they may be far off. Fix: "), said
    recwarn.clear()
    result = train_in_process(tmp_path, "task=multilabel", "model=tfidf_nb", "features=tfidf_word")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not [w for w in recwarn if "thresholds of" in str(w.message)]
