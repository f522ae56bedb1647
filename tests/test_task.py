"""Task rules: the multi-label decision rule picks each label's best validation threshold."""

import numpy as np
from sklearn.metrics import f1_score

from textclf.data import Split
from textclf.task import MultilabelTask


def test_each_label_gets_the_threshold_with_the_best_validation_f1():
    rng = np.random.default_rng(7)
    names = [f"label{i}" for i in range(12)]
    truth = rng.random((400, 12)) < 0.15
    truth[:, 5] = False  # a label absent from validation: every threshold scores 0, the first wins
    probabilities = np.clip(truth * rng.uniform(0.2, 0.8, (400, 12)) + rng.random((400, 12)) * 0.5, 0, 1)
    rows = tuple(tuple(n for n, on in zip(names, row) if on) or (names[0],) for row in truth)
    split = Split("validation", tuple(f"text {i}" for i in range(400)), rows, tuple(map(str, range(400))), "mem")
    task = MultilabelTask()
    decision = task.fit_decision(None, split, names, probabilities)

    targets = task.targets(split, names)
    expected = []
    for column in range(12):
        scores = [f1_score(targets[:, column], probabilities[:, column] >= t, zero_division=0.0)
                  for t in task.threshold_grid]
        expected.append(task.threshold_grid[int(np.argmax(scores))])
    assert decision["thresholds"] == expected
    assert decision["thresholds"][5] == task.threshold_grid[0]
    assert len(set(expected)) > 1  # the data really makes labels choose differently
