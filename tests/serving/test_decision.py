"""Decision rules: how probabilities become labels, in training and in every saved model."""

import numpy as np

from textclf.serving.decision import ArgmaxDecision, ThresholdDecision, decision_from_json
from textclf.serving.tagging import predictions_frame

PROBABILITIES = np.array([[0.2, 0.7, 0.1], [0.45, 0.35, 0.2], [0.05, 0.1, 0.08]])


def test_argmax_picks_the_most_probable_class():
    decision = ArgmaxDecision(("a", "b", "c"))
    assert decision.labels(PROBABILITIES) == [("b",), ("a",), ("b",)]
    frame = predictions_frame(decision, decision.labels(PROBABILITIES), PROBABILITIES)
    assert list(frame.columns) == ["label", "prob_a", "prob_b", "prob_c"] and frame.loc[1, "label"] == "a"


def test_thresholds_take_every_label_above_its_own_threshold_most_probable_first():
    decision = ThresholdDecision(("a", "b", "c"), (0.4, 0.3, 0.1), min_labels=1)
    assert decision.labels(PROBABILITIES) == [("b", "c"), ("a", "b", "c"), ("b",)]  # the last: none pass, top 1
    frame = predictions_frame(decision, decision.labels(PROBABILITIES), PROBABILITIES)
    assert frame.loc[0, "labels"] == ["b", "c"] and "label" not in frame.columns


def test_min_labels_adds_the_most_probable_ones():
    decision = ThresholdDecision(("a", "b", "c"), (0.9, 0.9, 0.9), min_labels=2)
    assert decision.labels(PROBABILITIES) == [("b", "a"), ("a", "b"), ("b", "c")]


def test_min_labels_tops_up_only_a_text_with_too_few_labels():
    # the most probable class (a, 0.364) is below its threshold, and c reached its own: c alone
    decision = ThresholdDecision(("a", "b", "c"), (0.4, 0.4, 0.1), min_labels=1)
    assert decision.labels(np.array([[0.364, 0.2, 0.195]])) == [("c",)]
    decision = ThresholdDecision(("a", "b", "c"), (0.4, 0.4, 0.1), min_labels=2)
    assert decision.labels(np.array([[0.364, 0.2, 0.195]])) == [("a", "c")]  # one more, the most probable


def test_decisions_round_trip_through_json():
    for decision in (ArgmaxDecision(("x", "y")), ThresholdDecision(("x", "y"), (0.2, 0.6), 1)):
        assert decision_from_json(decision.to_json()) == decision
