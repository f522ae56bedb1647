"""textclf.models.fitting: a Pipeline prepares the next splits' features while its classifier fits, and
gives exactly the probabilities of ``fit`` then ``predict_proba``."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from textclf.models import fitting
from textclf.models.calibration import TemperatureScaledClassifier
from textclf.data import Split, load_files

CORPUS = Path(__file__).resolve().parents[2] / "seeds" / "diplomacy"


@pytest.fixture(scope="module")
def corpus():
    return load_files(name="diplomacy", train=str(CORPUS / "train.jsonl"), validation=str(CORPUS / "validation.jsonl"),
                      test=str(CORPUS / "test.jsonl"), text_column="text", label_column="labels", id_column="id")


def tfidf_svm() -> Pipeline:
    return Pipeline([
        ("features", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("classifier", CalibratedClassifierCV(LinearSVC(C=0.5, random_state=0), cv=3)),
    ])


def test_pipeline_probabilities_match_fit_then_predict_proba(corpus, monkeypatch):
    monkeypatch.setattr(fitting, "CHUNK_TEXTS", 97)  # several uneven chunks per split, stacked back in order
    targets = np.asarray(corpus.train.primary_labels)
    reference = tfidf_svm().fit(list(corpus.train.texts), targets)

    estimator = tfidf_svm()
    model = fitting.fit(estimator, list(corpus.train.texts), targets, predict_next=(corpus.validation, corpus.test))

    check_is_fitted(estimator)
    for split in (corpus.validation, corpus.test):
        probabilities, _ = model.probabilities(split)
        np.testing.assert_array_equal(probabilities, reference.predict_proba(list(split.texts)))
    # The pipeline itself is the fitted one, as saved with the model.
    np.testing.assert_array_equal(estimator.predict_proba(list(corpus.test.texts)[:5]),
                                  reference.predict_proba(list(corpus.test.texts)[:5]))


def test_a_split_not_prepared_ahead_is_predicted_whole(corpus):
    targets = np.asarray(corpus.train.primary_labels)
    estimator = tfidf_svm()
    model = fitting.fit(estimator, list(corpus.train.texts), targets, predict_next=(corpus.validation,))
    probabilities, _ = model.probabilities(corpus.test)
    np.testing.assert_array_equal(probabilities, estimator.predict_proba(list(corpus.test.texts)))


def test_a_calibrating_classifier_gets_the_calibration_splits_features_computed_once(corpus, monkeypatch):
    """tfidf_linearsvc's classifier fits its temperature on the validation split's features; those
    same features then give the validation probabilities, which equal fit-then-predict's."""
    monkeypatch.setattr(fitting, "CHUNK_TEXTS", 97)
    targets = np.asarray(corpus.train.primary_labels)
    validation_targets = np.asarray(corpus.validation.primary_labels)

    def temperature_scaled_svm() -> Pipeline:
        return Pipeline([("features", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                         ("classifier", TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0))])

    vectorizer_calls = []
    estimator = temperature_scaled_svm()
    transform = estimator[0].transform
    monkeypatch.setattr(estimator[0], "transform",
                        lambda texts: vectorizer_calls.append(len(texts)) or transform(texts))
    model = fitting.fit(estimator, list(corpus.train.texts), targets, predict_next=(corpus.validation, corpus.test),
                        calibration=(corpus.validation, validation_targets))

    reference = temperature_scaled_svm()
    reference[0].fit(list(corpus.train.texts))
    reference[1].fit(reference[0].transform(list(corpus.train.texts)), targets,
                     calibration_set=(reference[0].transform(list(corpus.validation.texts)), validation_targets))
    assert estimator[-1].temperature_ == pytest.approx(reference[-1].temperature_, rel=1e-12)  # chunks: rounding
    assert estimator[-1].choices_["calibration"].endswith(f"the {len(validation_targets)} texts of the calibration set")
    for split in (corpus.validation, corpus.test):
        probabilities, _ = model.probabilities(split)
        # rtol: the temperatures agree to rounding (above), and the softmax multiplies that by the
        # scores' size (seen: 8.5e-12 on one machine); a wrong split or feature is off by far more
        np.testing.assert_allclose(probabilities, reference.predict_proba(list(split.texts)), rtol=1e-9)
    # Each split's texts went through the features once (in chunks of 97).
    assert sum(vectorizer_calls) == len(corpus.validation.texts) + len(corpus.test.texts)


def test_without_a_calibration_parameter_the_calibration_split_is_ignored(corpus):
    """A classifier whose fit takes no calibration set (calibrated in folds) fits as before."""
    targets = np.asarray(corpus.train.primary_labels)
    estimator = tfidf_svm()
    model = fitting.fit(estimator, list(corpus.train.texts), targets, predict_next=(corpus.validation,),
                        calibration=(corpus.validation, np.asarray(corpus.validation.primary_labels)))
    reference = tfidf_svm().fit(list(corpus.train.texts), targets)
    np.testing.assert_array_equal(model.probabilities(corpus.validation)[0],
                                  reference.predict_proba(list(corpus.validation.texts)))


class TextClassifier(ClassifierMixin, BaseEstimator):
    """Not a Pipeline: takes texts itself, as the fine-tuned transformer does."""

    def fit(self, X, y):
        self.pipeline_ = tfidf_svm().fit(X, y)
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, X):
        return self.pipeline_.predict_proba(X)


def test_an_estimator_that_is_not_a_pipeline_fits_then_predicts(corpus):
    estimator = TextClassifier()
    model = fitting.fit(estimator, list(corpus.train.texts), np.asarray(corpus.train.primary_labels),
                        predict_next=(corpus.validation, corpus.test))
    check_is_fitted(estimator)
    probabilities, _ = model.probabilities(corpus.test)
    np.testing.assert_array_equal(probabilities, estimator.predict_proba(list(corpus.test.texts)))


class PoisonIntolerant(TfidfVectorizer):
    def transform(self, raw_documents):
        if any("POISON" in text for text in raw_documents):
            raise RuntimeError("the tokenizer broke on a text")
        return super().transform(raw_documents)


def test_a_failure_while_preparing_features_reaches_the_caller_of_that_split(corpus):
    poisoned = Split("test", ("POISON", *corpus.test.texts[1:]), corpus.test.labels, corpus.test.ids, "mem")
    estimator = Pipeline([("features", PoisonIntolerant()), ("classifier", LogisticRegression(max_iter=500))])
    model = fitting.fit(estimator, list(corpus.train.texts), np.asarray(corpus.train.primary_labels),
                        predict_next=(corpus.validation, poisoned))
    probabilities, _ = model.probabilities(corpus.validation)  # the split before it is unharmed
    assert probabilities.shape == (len(corpus.validation), len(estimator.classes_))
    with pytest.raises(RuntimeError, match="tokenizer broke"):
        model.probabilities(poisoned)
