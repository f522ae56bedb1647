"""Why a text got its label: the words and phrases that pushed it there, with signed weights.

Two methods, chosen by the model:

- ``linear`` (TF-IDF features and a linear classifier, ``LinearTfidfModel``): exact. Each n-gram's
  coefficient times its feature value is split evenly over the n-gram's occurrences in the text,
  and each occurrence is credited to the word it lies in (a character n-gram, a word) or, when it
  spans several words, to that phrase (a word bigram). The weights plus ``intercept`` add up to
  the label's score, the model's decision value (for a two-class model, the first class's score
  is the second's negated).
- ``leave_one_word_out`` (any other model, e.g. the MiniLM ones): a word's weight is how much the
  label's log-odds, log(p / (1 - p)), fall when that word is removed from the text; ``base`` is
  the log-odds with every word. (Log-odds, not probabilities: at p = 0.99 removing the decisive
  word may move p by 0.05 while the log-odds fall by 2.) Every text's variants are scored
  together, in batches. A transformer reads a text's first ``max_length`` tokens only: the words
  after those cannot move its score, so they are neither scored nor listed (before, each was
  scored, and listed with a weight of float noise, around 1e-7).

A label's explanation is ``{"label", "method", "base" or "intercept", "terms": [{"text", "start",
"end", "weight"}]}``, terms by falling absolute weight; ``start``/``end`` index the text given.
"""

from __future__ import annotations

from itertools import islice

import numpy as np

# WORD: the words a weight is credited to, those the char_wb analyzer cuts its n-grams from (so a
# character n-gram's occurrence always lies inside one of them).
from .linear_tfidf import WORD

BATCH_TEXTS = 256


def explain_texts(estimator, decision, texts: list[str], labels: list[tuple[str, ...]],
                  probabilities: np.ndarray) -> list[list[dict]]:
    """For each text, one explanation for each of its ``labels`` (or, when it has none, for its
    most probable class)."""
    wanted = [row or (decision.classes[int(np.argmax(p))],) for row, p in zip(labels, probabilities)]
    columns = {name: j for j, name in enumerate(decision.classes)}
    if hasattr(estimator, "term_contributions"):
        return [[_linear(estimator, text, columns[label], label) for label in row] for text, row in zip(texts, wanted)]
    return _leave_one_word_out(estimator, texts, wanted, columns, probabilities)


def _linear(model, text: str, column: int, label: str) -> dict:
    occurrences, intercept = model.term_contributions(text, column)
    words = [match.span() for match in WORD.finditer(text)]
    # The word each occurrence starts in, looked up for all at once (one search per occurrence
    # against a list made an array each time: 23 s for a 50,000-character text)
    starts = np.fromiter((start for start, _ in words), dtype=np.int64, count=len(words))
    found = np.searchsorted(starts, [start for start, _, _ in occurrences], side="right") - 1
    weights: dict[tuple[int, int], float] = {}
    for (start, end, weight), at in zip(occurrences, found.tolist()):
        span = words[at] if at >= 0 and end <= words[at][1] else (start, end)  # inside one word, or a phrase
        weights[span] = weights.get(span, 0.0) + weight
    return {"label": label, "method": "linear", "intercept": float(intercept), "terms": _terms(text, weights)}


def _leave_one_word_out(estimator, texts, wanted, columns, probabilities) -> list[list[dict]]:
    reads = _characters_read(estimator)
    # a word the model reads part of is scored (its first pieces are kept); one after is not
    spans = [[span for span in (match.span() for match in WORD.finditer(text)) if span[0] < limit]
             for text, limit in ((text, reads(text)) for text in texts)]
    # Variants are made a batch at a time: all at once, a long text's would fill memory (words x length).
    variants = (text[:start] + text[end:] for text, text_spans in zip(texts, spans) for start, end in text_spans)
    batches = iter(lambda: list(islice(variants, BATCH_TEXTS)), [])
    scored = np.concatenate([np.asarray(estimator.predict_proba(batch)) for batch in batches] or
                            [np.empty((0, len(columns)))])
    explained, at = [], 0
    for text, text_spans, row, full in zip(texts, spans, wanted, probabilities):
        without = log_odds(scored[at:at + len(text_spans)])
        at += len(text_spans)
        base = log_odds(full)
        explained.append([{"label": label, "method": "leave_one_word_out", "base": float(base[columns[label]]),
                           "terms": _terms(text, {span: float(base[columns[label]] - without[k, columns[label]])
                                                  for k, span in enumerate(text_spans)})}
                          for label in row])
    return explained


def _characters_read(estimator):
    """``text -> how far into it the model reads``: the first step's own answer where it truncates
    (a transformer keeps ``max_length`` tokens), else all of the text."""
    first = estimator.steps[0][1] if hasattr(estimator, "steps") else estimator
    return getattr(first, "characters_read", len)


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept off 0 and 1 so that a certain label stays finite."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def _terms(text: str, weights: dict[tuple[int, int], float]) -> list[dict]:
    ranked = sorted(weights.items(), key=lambda item: (-abs(item[1]), item[0]))
    return [{"text": text[start:end], "start": start, "end": end, "weight": float(weight)}
            for (start, end), weight in ranked if weight != 0.0]
