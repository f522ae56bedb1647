"""The topic roll-up's arithmetic, single- and multi-label, with boilerplate left out, and what
tagging an article with a model returns."""

import pandas as pd
import pytest

from textclf.articles.rollup import roll_up
from textclf.articles.tag import Article, tag_with
from textclf.errors import UserError

BOILERPLATE = "broadcast_boilerplate"


def probs(**values):
    return {"visit": 0.0, "crisis": 0.0, BOILERPLATE: 0.0, **values}


def test_single_label_shares_leave_boilerplate_out_and_mean_prob_is_over_every_other_passage():
    labels = [("visit",), ("crisis",), ("visit",), (BOILERPLATE,), ("visit",), (BOILERPLATE,)]
    probabilities = [probs(visit=0.6, crisis=0.3, broadcast_boilerplate=0.1),
                     probs(visit=0.2, crisis=0.7, broadcast_boilerplate=0.1), probs(visit=0.9, crisis=0.1),
                     probs(visit=0.1, broadcast_boilerplate=0.9),
                     probs(visit=0.5, crisis=0.4, broadcast_boilerplate=0.1), probs(broadcast_boilerplate=1.0)]
    topics = roll_up(labels, probabilities, BOILERPLATE)
    assert [t.label for t in topics] == ["visit", "crisis"]  # no boilerplate topic, no zero-share label
    visit, crisis = topics
    assert visit.share == 3 / 4 and visit.passages == (0, 2, 4)
    assert visit.mean_prob == pytest.approx((0.6 + 0.2 + 0.9 + 0.5) / 4)
    assert crisis.share == 1 / 4 and crisis.passages == (1,)
    assert crisis.mean_prob == pytest.approx((0.3 + 0.7 + 0.1 + 0.4) / 4)
    assert visit.to_record() == {"label": "visit", "share": 0.75, "mean_prob": visit.mean_prob, "passages": [0, 2, 4]}


def test_without_a_boilerplate_label_every_passage_counts():
    labels = [("visit",), (BOILERPLATE,)]
    topics = roll_up(labels, [probs(visit=1.0), probs(broadcast_boilerplate=1.0)], None)
    assert {t.label: t.share for t in topics} == {"visit": 0.5, BOILERPLATE: 0.5}


def test_multi_label_shares_count_every_label_a_passage_carries():
    labels = [("visit", "crisis"), ("crisis",), (), (BOILERPLATE,), ("visit", BOILERPLATE)]
    probabilities = [probs(visit=0.8, crisis=0.5), probs(crisis=0.9), probs(visit=0.2),
                     probs(broadcast_boilerplate=0.9), probs(visit=0.6, broadcast_boilerplate=0.7)]
    topics = roll_up(labels, probabilities, BOILERPLATE)
    # 4 passages count: only the one labelled boilerplate alone is left out; the unlabelled one counts
    assert [(t.label, t.share, t.passages) for t in topics] == [("visit", 2 / 4, (0, 4)), ("crisis", 2 / 4, (0, 1))]
    assert topics[0].mean_prob == pytest.approx((0.8 + 0.2 + 0.6) / 4)  # ties on share: mean_prob decides
    assert topics[1].mean_prob == pytest.approx((0.5 + 0.9) / 4)


def test_an_article_of_boilerplate_only_has_no_topics():
    assert roll_up([(BOILERPLATE,)], [probs(broadcast_boilerplate=1.0)], BOILERPLATE) == []


class KeywordModel:
    """Answers as a registered textclf model does: label(s) and one prob_<class> column a class."""

    def __init__(self, multilabel=False, classes=("visit", "crisis", BOILERPLATE)):
        self.multilabel, self.classes, self.seen = multilabel, classes, []

    def predict(self, frame):
        self.seen.append(list(frame["text"]))
        rows = []
        for text in frame["text"]:
            hits = [c for c in self.classes if c.split("_")[-1] in text.lower()] or [self.classes[0]]
            record = {"labels": hits} if self.multilabel else {"label": hits[0]}
            record.update({f"prob_{c}": 0.9 if c == hits[0] else 0.1 / (len(self.classes) - 1) for c in self.classes})
            rows.append(record)
        return pd.DataFrame(rows)


ARTICLE = "A visit is planned\n[Anchor] The crisis at home is explained. The visit goes ahead.\nboilerplate notice."


def test_tagging_returns_passages_with_offsets_labels_and_probabilities_then_topics():
    model = KeywordModel()
    [tagged] = tag_with(model, [Article("a-1", ARTICLE)])
    record = tagged.to_record()
    assert record["article"] == "a-1" and [p["index"] for p in record["passages"]] == [0, 1, 2, 3]
    assert [p["label"] for p in record["passages"]] == ["visit", "crisis", "visit", BOILERPLATE]
    for passage in record["passages"]:
        assert ARTICLE[passage["start"]:passage["end"]] == passage["text"]
        assert set(passage) == {"index", "start", "end", "text", "label", "prob_visit", "prob_crisis",
                                f"prob_{BOILERPLATE}"}
    assert [(t["label"], t["share"], t["passages"]) for t in record["topics"]] == [("visit", 2 / 3, [0, 2]),
                                                                                  ("crisis", 1 / 3, [1])]


def test_many_articles_share_model_calls_and_multi_label_models_give_labels():
    model = KeywordModel(multilabel=True)
    tagged = tag_with(model, [Article("a", ARTICLE), Article("b", "The visit and the crisis.")])
    assert len(model.seen) == 1 and len(model.seen[0]) == 5
    assert tagged[1].to_record()["passages"][0]["labels"] == ["visit", "crisis"]
    assert [t.label for t in tagged[1].topics] == ["visit", "crisis"]


def test_a_model_without_the_boilerplate_label_leaves_every_passage_in():
    [tagged] = tag_with(KeywordModel(classes=("visit", "crisis", "notice")), [Article("a", ARTICLE)])
    assert {t.label: t.share for t in tagged.topics} == {"visit": 2 / 4, "crisis": 1 / 4, "notice": 1 / 4}


def test_empty_articles_and_unknown_units_are_refused_before_the_model_is_asked():
    model = KeywordModel()
    with pytest.raises(UserError, match="article 'b' has no text"):
        tag_with(model, [Article("a", ARTICLE), Article("b", " \n ")])
    with pytest.raises(UserError, match="unknown unit 'word'. Fix: pass one of sentence, line, paragraph"):
        tag_with(model, [Article("a", ARTICLE)], unit="word")
    assert model.seen == [] and tag_with(model, []) == []
