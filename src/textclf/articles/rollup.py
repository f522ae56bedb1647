"""An article's topics, rolled up from its tagged passages.

Boilerplate (bylines, tip lines, copyright notices) is reported passage by passage but says
nothing of what an article is about, so the roll-up leaves it out: a passage whose only label is
the boilerplate label counts for no topic and is not in the denominator. A multi-label passage
that also carries a topic counts, for that topic; a multi-label passage with no label counts in
the denominator only. The boilerplate label is never a topic.

For each label, over the article's non-boilerplate passages:

- ``share``: the fraction whose label (multi-label: labels) include it;
- ``mean_prob``: the mean of its probability over all of them, not only over those it labels: the
  model's soft share of the article, which does not rise for a label predicted once, confidently;
- ``passages``: the indexes of the passages it labels.

Topics are sorted by share, then mean probability, highest first (then by label), and a label
that labels no passage is left out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """One label's part in an article."""

    label: str
    share: float
    mean_prob: float
    passages: tuple[int, ...]

    def to_record(self) -> dict:
        return {"label": self.label, "share": self.share, "mean_prob": self.mean_prob,
                "passages": list(self.passages)}


def roll_up(labels: list[tuple[str, ...]], probabilities: list[dict[str, float]],
            boilerplate_label: str | None) -> list[Topic]:
    """The topics of one article from its passages' ``labels`` (one tuple per passage, in
    passage order; single-label: a tuple of one) and ``probabilities`` (label -> probability).
    ``boilerplate_label`` None: no passage is boilerplate."""
    content = [i for i, passage_labels in enumerate(labels)
               if not (boilerplate_label is not None and set(passage_labels) == {boilerplate_label})]
    if not content:
        return []
    classes = [label for label in probabilities[0] if label != boilerplate_label]
    topics = []
    for label in classes:
        indexes = tuple(i for i in content if label in labels[i])
        if indexes:
            mean_prob = sum(probabilities[i][label] for i in content) / len(content)
            topics.append(Topic(label, len(indexes) / len(content), mean_prob, indexes))
    return sorted(topics, key=lambda topic: (-topic.share, -topic.mean_prob, topic.label))
