"""Tag whole articles: split each into passages, tag every passage with one model, roll up.

Any model textclf registers will do, single- or multi-label: it answers a frame of texts with
``label`` (or ``labels``, a list) and one ``prob_<class>`` column per class. Passages of all the
articles go to the model together, in batches, so many short articles cost one model call. The
model reads a Markdown or HTML article's passages without their markup (``articles.markdown``,
``articles.html_input``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from textclf.articles.html_input import readable_html
from textclf.articles.markdown import Readable, explanation_in_passage, markup_spans, readable
from textclf.articles.rollup import Topic, roll_up
from textclf.articles.segment import UNITS, segment
from textclf.errors import UserError
from textclf.predicting import EXPLANATION_COLUMN, PROBABILITY_PREFIX, load_for_predicting, model_answer

DEFAULT_BOILERPLATE_LABEL = "broadcast_boilerplate"
BATCH_PASSAGES = 2000
FORMS = ("text", "markdown", "html")  # how an article may be written
MARKUP_NAMES = {"markdown": "Markdown", "html": "HTML"}


def chosen_form(markdown: bool, html: bool, named: tuple[str, str] = ("markdown=True", "html=True")) -> str:
    """The form every article is read in, from the two switches (``named``: as the caller spells
    them); both at once is a ``UserError``."""
    if markdown and html:
        raise UserError(f"{named[0]} and {named[1]}: an article is written in one of them. Fix: pass one")
    return "markdown" if markdown else "html" if html else "text"


@dataclass(frozen=True)
class Article:
    """An article to tag and what names it in the output; ``form``: how it is written, one of
    ``FORMS`` (Markdown and HTML are read without their markup)."""

    id: object
    text: str
    form: str = "text"

    @cached_property  # read once, though checked before tagging (and a large page takes a second)
    def reading(self) -> Readable | None:
        """The article as the model reads it, its markup left out (None: read as written)."""
        if self.form == "markdown":
            return readable(self.text)
        return readable_html(self.text) if self.form == "html" else None


@dataclass(frozen=True)
class Passage:
    """A tagged passage: ``text == article_text[start:end]``. ``labels``: the predicted label
    (a tuple of one) or, for a multi-label model, labels (any number)."""

    index: int
    start: int
    end: int
    text: str
    labels: tuple[str, ...]
    probabilities: dict[str, float]
    explanation: tuple[dict, ...] | None = None  # one for each label, when asked (serving.explain)


@dataclass(frozen=True)
class TaggedArticle:
    """An article's passages and topics. ``label_key`` is the model's: ``label`` for a
    single-label model, ``labels`` for a multi-label one. ``text``: the article, which the
    passages' offsets index; ``markup``: the spans of it the model did not read (Markdown's or HTML's)."""

    id: object
    text: str
    passages: tuple[Passage, ...]
    topics: tuple[Topic, ...]
    label_key: str
    markup: tuple[tuple[int, int], ...] = ()

    def passage_records(self) -> list[dict]:
        """``{"index", "start", "end", "text", "label" or "labels", "prob_<label>"...}`` a passage."""
        return [{"index": p.index, "start": p.start, "end": p.end, "text": p.text,
                 self.label_key: p.labels[0] if self.label_key == "label" else list(p.labels),
                 **{PROBABILITY_PREFIX + label: prob for label, prob in p.probabilities.items()},
                 **({} if p.explanation is None else {"explanation": list(p.explanation)})}
                for p in self.passages]

    def to_record(self) -> dict:
        """What ``textclf predict --article`` writes for the article: one JSON line."""
        return {"article": self.id, "passages": self.passage_records(),
                "topics": [topic.to_record() for topic in self.topics]}


def check_articles(articles: list[Article], unit: str) -> None:
    """Raise ``UserError`` for an unknown ``unit``, an article with no text, in an unknown form, or
    with no words outside its markup: before a model loads."""
    if unit not in UNITS:
        raise UserError(f"unknown unit {unit!r}. Fix: pass one of {', '.join(UNITS)}")
    for article in articles:
        if isinstance(article.text, bytes):
            raise UserError(f"article {article.id!r} is bytes, not text. Fix: decode it first "
                            "(data.decode('utf-8'))")
        if not isinstance(article.text, str) or not article.text.strip():
            raise UserError(f"article {article.id!r} has no text. Fix: give it some text, or leave it out")
        if article.form not in FORMS:
            raise UserError(f"article {article.id!r} is written in {article.form!r}, which textclf does not read. "
                            f"Fix: pass one of {', '.join(FORMS)}")
        if article.reading is not None and not article.reading.has_words():
            raise UserError(f"article {article.id!r} has no words outside its {MARKUP_NAMES[article.form]} "
                            "markup. Fix: give it some text, or leave it out")


def _passages(article: Article, unit: str) -> list[tuple[int, int, Readable | None]]:
    """``(start, end, reading)`` of each passage of ``article``; ``reading``: a Markdown or HTML
    passage as the model reads it, its part of ``article.reading`` (None: as written). A Markdown
    passage with nothing to read (a rule ``---``, a link definition) is left untagged. An HTML
    article's passages are found in what a browser shows (its paragraphs and lines, not the
    source's), then spanned in the file."""
    article_reading = article.reading
    if article.form == "html":
        spans = [article_reading.in_passage(start, end) for start, end in segment(article_reading.text, unit)]
    else:
        spans = segment(article.text, unit, article.form == "markdown")
    if article_reading is None:
        return [(start, end, None) for start, end in spans]
    readings = [(start, end, article_reading.within(start, end)) for start, end in spans]
    return [(start, end, reading) for start, end, reading in readings if reading.has_words()]


def tag_with(model, articles: list[Article], unit: str = "sentence",
             boilerplate_label: str | None = DEFAULT_BOILERPLATE_LABEL, explain: bool = False,
             progress=None) -> list[TaggedArticle]:
    """Tag ``articles`` with a loaded ``model``; with ``explain``, say why each passage got its
    label(s). A ``boilerplate_label`` the model does not have leaves every passage in the roll-up.
    ``progress``: told how many passages there are (``total``) and (``update(count)``) how many
    each batch tagged."""
    check_articles(articles, unit)
    if not articles:
        return []
    # a Markdown or HTML article is read whole (Article.reading): its markup may span passages
    passages = [_passages(article, unit) for article in articles]
    readings = [reading for article_passages in passages for _, _, reading in article_passages]
    texts = [article.text[start:end] if reading is None else reading.text
             for article, article_passages in zip(articles, passages) for start, end, reading in article_passages]
    answers = []
    if progress is not None:
        progress.total = len(texts)
    for i in range(0, len(texts), BATCH_PASSAGES):
        answers.append(model_answer(model, texts[i:i + BATCH_PASSAGES], explain))
        if progress is not None:
            progress.update(len(answers[-1]))
    predictions = pd.concat(answers, ignore_index=True)
    label_key, labels, probabilities = _read_predictions(predictions)
    explanations = [None] * len(texts)
    if explain:  # offsets into what the model read: into the passage as written
        explanations = [tuple(row) if reading is None else explanation_in_passage(tuple(row), reading)
                        for row, reading in zip(predictions[EXPLANATION_COLUMN], readings)]
    if boilerplate_label is not None and probabilities and boilerplate_label not in probabilities[0]:
        boilerplate_label = None
    tagged, at = [], 0
    for article, article_passages in zip(articles, passages):
        tagged_passages = tuple(Passage(index, start, end, article.text[start:end], labels[at + index],
                                        probabilities[at + index], explanations[at + index])
                                for index, (start, end, _) in enumerate(article_passages))
        at += len(tagged_passages)
        topics = roll_up([p.labels for p in tagged_passages], [p.probabilities for p in tagged_passages],
                         boilerplate_label)
        markup = () if article.reading is None else markup_spans(article.text, article.reading)
        tagged.append(TaggedArticle(article.id, article.text, tagged_passages, tuple(topics), label_key, markup))
    return tagged


def _read_predictions(predictions: pd.DataFrame) -> tuple[str, list[tuple[str, ...]], list[dict[str, float]]]:
    columns = [c for c in predictions.columns if c.startswith(PROBABILITY_PREFIX)]
    label_key = next((key for key in ("label", "labels") if key in predictions.columns), None)
    if label_key is None or not columns:
        raise UserError("the model returns no label (or labels) and prob_<class> columns, which the roll-up reads. "
                        "Fix: use a model trained by textclf")
    classes = [c.removeprefix(PROBABILITY_PREFIX) for c in columns]
    rows = predictions[columns].to_numpy(dtype=float).tolist()
    probabilities = [dict(zip(classes, row)) for row in rows]
    labels = [(value,) if label_key == "label" else tuple(value) for value in predictions[label_key]]
    return label_key, labels, probabilities


def tag_articles(texts, model_uri: str = "models:/diplomacy-topics@champion", tracking_uri: str | None = None,
                 unit: str = "sentence", boilerplate_label: str | None = DEFAULT_BOILERPLATE_LABEL,
                 ids=None, verify: bool = True, explain: bool = False, markdown: bool = False,
                 html: bool = False) -> list[dict]:
    """Tag whole articles with a registered model: for each, its passages with their offsets,
    label(s), probabilities (and with ``explain``, explanations), and its topics, as ``textclf
    predict --article`` writes them (one dict an article; ids ``ids``, else 0, 1, ...; ``markdown``
    or ``html``: the texts are Markdown, or HTML). See ``textclf.tag_articles``."""
    if isinstance(texts, str):
        raise UserError("texts is one string, not a list of articles. Fix: pass [text]")
    form = chosen_form(markdown, html)
    texts = list(texts)
    ids = list(range(len(texts))) if ids is None else list(ids)
    if len(ids) != len(texts):
        raise UserError(f"{len(ids)} ids for {len(texts)} texts. Fix: pass one id per text")
    articles = [Article(article_id, text, form) for article_id, text in zip(ids, texts)]
    check_articles(articles, unit)
    if not articles:
        return []
    from textclf.tracking.discovery import find_tracking_uri

    model = load_for_predicting(model_uri, find_tracking_uri(tracking_uri, how_to_pass="tracking_uri=URI"), verify)
    return [article.to_record() for article in tag_with(model, articles, unit, boilerplate_label, explain)]
