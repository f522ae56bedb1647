"""Explanations (``serving.explain``): exact for TF-IDF linear models, checked against
scikit-learn's own decision values; leave-one-word-out for any other model, checked by hand."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.multiclass import OneVsRestClassifier

from helpers.seed_models import ROWS, TEXTS, UNSEEN, fitted
from textclf.serving.explain import explain_texts, log_odds
from textclf.serving.linear_tfidf import LinearTfidfModel
from textclf.serving.pyfunc import SavedModel
from textclf.serving.reader import load_state
from textclf.serving.writer import save_state


ODD = ["İstanbul talks: the MISSILE launch, the missile launch!", "Ünïcode façade — naïve café 東京 missiles!!",
       "x y\tz\n\nw  v", "a", ""]


def scikit_learn_scores(estimator, texts) -> np.ndarray:
    """Decision values as scikit-learn computes them: one column per class (or label)."""
    features, classifier = estimator[0].transform(texts), estimator[-1]
    parts = classifier.estimators_ if isinstance(classifier, OneVsRestClassifier) else [classifier]
    columns = [getattr(part, "scaled_", part).decision_function(features) for part in parts]
    scores = np.column_stack(columns) if len(parts) > 1 else np.asarray(columns[0])
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores


@pytest.mark.parametrize("overrides, task", [
    ((), "multiclass"),  # the default: words and characters, temperature-scaled LinearSVC
    (("model=tfidf_logreg", "features=tfidf_word", "features.word_ngram_range=[1,3]"), "multiclass"),
    ((), "multilabel"),  # one-vs-rest
])
def test_linear_weights_and_intercept_add_up_to_scikit_learns_decision_value(tmp_path, overrides, task):
    estimator, decision = fitted(*overrides, task=task)
    save_state(estimator, decision, tmp_path)
    model, decision = load_state(tmp_path)
    assert isinstance(model, LinearTfidfModel)
    texts = UNSEEN[:40] + ODD
    probabilities = model.predict_proba(texts)
    scores = scikit_learn_scores(estimator, texts)
    explained = explain_texts(model, decision, texts, decision.labels(probabilities), probabilities)
    for text in texts:  # every n-gram the model counts, and only those, is found in the text
        for vectorizer in model.vectorizers:
            counted = [column for column in map(vectorizer.vocabulary.get, vectorizer.analyze(text)) if column is not None]
            assert sorted(column for column, _, _ in vectorizer.term_spans(text)) == sorted(counted)
    for text, explanations, row in zip(texts, explained, scores):
        for explanation in explanations:
            column = decision.classes.index(explanation["label"])
            total = explanation["intercept"] + sum(term["weight"] for term in explanation["terms"])
            assert total == pytest.approx(row[column], abs=1e-9)
            for term in explanation["terms"]:
                assert text[term["start"]:term["end"]] == term["text"]


def test_a_two_class_models_first_class_is_explained_by_the_negated_score(tmp_path):
    from helpers.training import composed
    from textclf.config import build
    from textclf.serving.decision import ArgmaxDecision

    labels = ["north_korea_security" if "north_korea_security" in row["labels"] else "other" for row in ROWS]
    estimator = build(composed("model=tfidf_logreg").model.estimator, "model").fit(TEXTS, labels)
    save_state(estimator, ArgmaxDecision(tuple(estimator.classes_)), tmp_path)
    model, decision = load_state(tmp_path)
    probabilities = model.predict_proba(UNSEEN[:30])
    scores = scikit_learn_scores(estimator, UNSEEN[:30])
    for text_scores, (explanation,) in zip(scores, explain_texts(model, decision, UNSEEN[:30],
                                                                  decision.labels(probabilities), probabilities)):
        column = decision.classes.index(explanation["label"])
        assert explanation["intercept"] + sum(t["weight"] for t in explanation["terms"]) == pytest.approx(
            text_scores[column], abs=1e-9)


def test_terms_are_the_texts_words_and_word_phrases_and_the_strongest_come_first(tmp_path):
    estimator, decision = fitted("model=tfidf_logreg", "features=tfidf_word")  # words 1-2
    save_state(estimator, decision, tmp_path)
    saved = SavedModel(str(tmp_path))
    text = "North Korea fired a ballistic missile into the East Sea on Tuesday."
    (explanation,) = saved.predict(pd.DataFrame({"text": [text]}), params={"explain": True})["explanation"][0]
    assert explanation["label"] == "north_korea_security"
    terms = explanation["terms"]
    weights = [abs(term["weight"]) for term in terms]
    assert weights == sorted(weights, reverse=True)
    words = {term["text"] for term in terms if " " not in term["text"]}
    phrases = {term["text"] for term in terms if " " in term["text"]}
    assert {"missile", "ballistic"} <= words and "ballistic missile" in phrases
    strongest = {term["text"] for term in terms[:5]}
    assert strongest & {"missile", "ballistic", "fired", "ballistic missile", "North Korea"}, terms[:5]


def test_other_models_are_explained_by_leaving_each_word_out(tmp_path):
    estimator, decision = fitted("model=tfidf_nb")  # rebuilt as scikit-learn objects: not linear
    save_state(estimator, decision, tmp_path)
    model, decision = load_state(tmp_path)
    assert not isinstance(model, LinearTfidfModel)
    texts = ["Pyongyang launched a missile as the ministers met in Seoul.", "a", "Thanks for watching."]
    probabilities = model.predict_proba(texts)
    explained = explain_texts(model, decision, texts, decision.labels(probabilities), probabilities)
    (first,) = explained[0]
    column = decision.classes.index(first["label"])
    assert first["method"] == "leave_one_word_out"
    assert first["base"] == pytest.approx(np.log(probabilities[0, column] / (1 - probabilities[0, column])))
    for term in first["terms"]:
        without = texts[0][:term["start"]] + texts[0][term["end"]:]
        assert term["weight"] == pytest.approx(first["base"] - log_odds(model.predict_proba([without])[0, column]))
    assert len(first["terms"]) <= len(texts[0].split())


def test_without_the_param_the_output_is_unchanged(tmp_path):
    estimator, decision = fitted()
    save_state(estimator, decision, tmp_path)
    saved = SavedModel(str(tmp_path))
    frame = pd.DataFrame({"text": UNSEEN[:5]})
    plain, explained = saved.predict(frame), saved.predict(frame, params={"explain": True})
    pd.testing.assert_frame_equal(plain, explained.drop(columns="explanation"))
    json.dumps(explained["explanation"].tolist())  # plain JSON: what mlflow models serve returns


def test_a_saved_transformer_model_is_explained_by_leaving_each_word_out(tiny, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from textclf.models.embedder import SentenceEmbedder
    from textclf.serving.decision import ArgmaxDecision

    texts = ["missile launch in pyongyang", "pyongyang fired a missile", "summit meeting in seoul",
             "the minister visit to tokyo"]
    labels = ["security", "security", "visit", "visit"]
    estimator = Pipeline([("features", SentenceEmbedder(encoder=tiny)), ("classifier", LogisticRegression(C=100))])
    save_state(estimator.fit(texts, labels), ArgmaxDecision(tuple(estimator.classes_)), tmp_path)
    saved = SavedModel(str(tmp_path))
    text = "a missile over pyongyang"
    answer = saved.predict(pd.DataFrame({"text": [text]}), params={"explain": True})
    (explanation,) = answer["explanation"][0]
    label = answer["label"][0]
    assert explanation["method"] == "leave_one_word_out" and explanation["label"] == label and explanation["terms"]
    assert explanation["base"] == pytest.approx(log_odds(answer[f"prob_{label}"][0]))
    for term in explanation["terms"]:
        without = text[:term["start"]] + text[term["end"]:]
        alone = saved.predict(pd.DataFrame({"text": [without]}))[f"prob_{label}"][0]
        assert term["weight"] == pytest.approx(explanation["base"] - log_odds(alone), abs=1e-4)


def test_words_past_what_a_transformer_reads_are_neither_scored_nor_listed(tiny, tmp_path):
    from pathlib import Path

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from textclf.models.embedder import SentenceEmbedder
    from textclf.serving.decision import ArgmaxDecision
    from textclf.serving.inference import characters_read

    texts = ["missile launch in pyongyang", "pyongyang fired a missile", "summit meeting in seoul",
             "the minister visit to tokyo"]
    labels = ["security", "security", "visit", "visit"]
    estimator = Pipeline([("features", SentenceEmbedder(encoder=tiny, max_length=6)),
                          ("classifier", LogisticRegression(C=100))])
    save_state(estimator.fit(texts, labels), ArgmaxDecision(tuple(estimator.classes_)), tmp_path)
    model, decision = load_state(tmp_path)
    text = "a missile over pyongyang fired on the week of talks in seoul and tokyo"
    read = model.steps[0][1].characters_read(text)
    assert text[:read] == "a missile over pyongyang fired on"  # its first 6 tokens
    # what follows cannot move the score: the text cut there scores the same
    np.testing.assert_allclose(model.predict_proba([text]), model.predict_proba([text[:read]]), atol=1e-6)
    probabilities = model.predict_proba([text])
    ((explanation,),) = explain_texts(model, decision, [text], decision.labels(probabilities), probabilities)
    assert explanation["terms"] and all(term["start"] < read for term in explanation["terms"])
    # the int8 graphs' tokenizer (tokenizers.Tokenizer) cuts where the fast tokenizer does
    core = Tokenizer.from_file(str(Path(tiny) / "tokenizer.json"))
    core.enable_truncation(6)
    assert characters_read(core, text, 6) == characters_read(AutoTokenizer.from_pretrained(tiny), text, 6) == read
    assert characters_read(core, "a short one", 6) == len("a short one")  # nothing cut: all of it
