"""A saved TF-IDF + linear model predicts with NumPy and SciPy alone (``serving.linear_tfidf``):
the probabilities are scikit-learn's to rounding, for every shape textclf saves that way, and
loading one imports no scikit-learn; any other model is rebuilt as scikit-learn objects."""

import subprocess
import sys

import numpy as np
import pytest

from helpers.paths import ROOT
from helpers.seed_models import ROWS, TEXTS, UNSEEN, fitted
from helpers.training import composed
from textclf.config import build
from textclf.serving.decision import ArgmaxDecision
from textclf.serving.linear_tfidf import LinearTfidfModel
from textclf.serving.reader import load_state
from textclf.serving.writer import save_state

@pytest.mark.parametrize("overrides, task", [
    ((), "multiclass"),  # the default: words and characters, temperature-scaled LinearSVC
    (("features.small_corpus_max_chars=0",), "multiclass"),  # words alone, min_df=2
    (("model=tfidf_logreg", "features=tfidf_word"), "multiclass"),
    (("features=tfidf_char", "features.char_ngram_range=[1,3]"), "multiclass"),
    ((), "multilabel"),  # one-vs-rest
    (("model=tfidf_logreg", "features=tfidf_word", "features.word_ngram_range=[2,3]"), "multilabel"),
])
def test_probabilities_are_scikit_learns(tmp_path, overrides, task):
    estimator, decision = fitted(*overrides, task=task)
    save_state(estimator, decision, tmp_path)
    loaded, _ = load_state(tmp_path)
    assert isinstance(loaded, LinearTfidfModel)
    np.testing.assert_allclose(loaded.predict_proba(UNSEEN), estimator.predict_proba(UNSEEN), rtol=1e-9, atol=1e-12)
    assert loaded.transform(UNSEEN).shape == estimator[0].transform(UNSEEN).shape


def test_a_two_class_model_gives_both_columns(tmp_path):
    labels = ["north_korea_security" if "north_korea_security" in row["labels"] else "other" for row in ROWS]
    estimator = build(composed("model=tfidf_logreg").model.estimator, "model").fit(TEXTS, labels)
    save_state(estimator, ArgmaxDecision(tuple(estimator.classes_)), tmp_path)
    loaded, _ = load_state(tmp_path)
    assert isinstance(loaded, LinearTfidfModel)
    np.testing.assert_allclose(loaded.predict_proba(UNSEEN), estimator.predict_proba(UNSEEN), rtol=1e-9, atol=1e-12)


def test_other_models_are_rebuilt_as_scikit_learn(tmp_path):
    estimator, decision = fitted("model=tfidf_nb")
    save_state(estimator, decision, tmp_path)
    loaded, _ = load_state(tmp_path)
    assert type(loaded).__name__ == "Pipeline"
    np.testing.assert_array_equal(loaded.predict_proba(UNSEEN), estimator.predict_proba(UNSEEN))


def test_a_setting_it_does_not_reproduce_is_left_to_scikit_learn(tmp_path):
    estimator, decision = fitted("features=tfidf_word")
    estimator[0].set_params(strip_accents="unicode")  # changes how texts are read: not reproduced here
    save_state(estimator, decision, tmp_path)
    loaded, _ = load_state(tmp_path)
    assert type(loaded).__name__ == "Pipeline"


def test_loading_and_predicting_imports_no_scikit_learn(tmp_path):
    estimator, decision = fitted()
    save_state(estimator, decision, tmp_path)
    script = ("import sys; from textclf.serving.pyfunc import SavedModel; import pandas as pd; "
              f"model = SavedModel({str(tmp_path)!r}); print(model.predict(pd.DataFrame({{'text': ['talks in Seoul']}}))"
              ".iloc[0, 0]); print(sorted(m for m in sys.modules if m.startswith('sklearn')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    label, modules = result.stdout.strip().splitlines()
    assert label == estimator.predict(["talks in Seoul"])[0]
    assert modules == "[]"
