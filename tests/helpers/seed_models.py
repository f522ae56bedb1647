"""TF-IDF models fitted in-process on the seed corpus's training split, as train.py builds them."""

import json

import numpy as np

from helpers.paths import SEEDS
from helpers.training import composed
from textclf.config import build
from textclf.serving.decision import ArgmaxDecision, ThresholdDecision

ROWS = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text(encoding="utf-8").splitlines()]
TEXTS = [row["text"] for row in ROWS]
UNSEEN = [json.loads(line)["text"] for line in (SEEDS / "test.jsonl").read_text(encoding="utf-8").splitlines()]
# Edge cases for the analyzers: empty, blank, one letter, accents and other scripts, runs of white space.
UNSEEN += ["", "   ", "a", "I", "Ünïcode façade — naïve café 東京 missiles!!", "x y\tz\n\nw  v", "ab", "abc abcd"]


def fitted(*overrides, task="multiclass"):
    cfg = composed(*overrides, f"task={task}")
    task_object = build(cfg.task, "task")
    labels = sorted({label for row in ROWS for label in row["labels"]})
    estimator = task_object.prepare(build(cfg.model.estimator, "model"), labels)
    if task == "multilabel":
        targets = np.array([[label in row["labels"] for label in labels] for row in ROWS], dtype=int)
        decision = ThresholdDecision(tuple(labels), (0.5,) * len(labels), 1)
    else:
        targets = [row["labels"][0] for row in ROWS]
        decision = ArgmaxDecision(tuple(labels))
    return estimator.fit(TEXTS, targets), decision
