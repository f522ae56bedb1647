"""WordCharTfidf, the default features: words and characters on a small corpus, words seen in at
least two texts on a large one, the choice recorded; its vectorizers count terms faster than
scikit-learn's own and give the same matrices; a saved model holds plain scikit-learn."""

import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from helpers.paths import SEEDS
from textclf.models import tfidf
from textclf.models.tfidf import CountingTfidfVectorizer, WordCharTfidf
from textclf.serving.reader import load_state
from textclf.serving.writer import save_state
from textclf.serving.decision import ArgmaxDecision

TEXTS = [json.loads(line)["text"] for line in (SEEDS / "train.jsonl").read_text(encoding="utf-8").splitlines()]
UNSEEN = [json.loads(line)["text"] for line in (SEEDS / "test.jsonl").read_text(encoding="utf-8").splitlines()]
UNSEEN += ["", "Ünïcode façade — naïve café 東京 missiles!!", "x"]


def test_a_small_corpus_gets_words_and_characters():
    features = WordCharTfidf(small_corpus_max_chars=sum(map(len, TEXTS)))
    matrix = features.fit_transform(TEXTS)
    words, chars = (vectorizer for _, vectorizer in features.vectorizer_.transformer_list)
    assert (words.analyzer, words.min_df, chars.analyzer) == ("word", 1, "char_wb")
    assert matrix.shape == (len(TEXTS), len(words.vocabulary_) + len(chars.vocabulary_))
    assert features.choices_["features.corpus"].startswith("small: training texts total ")


def test_a_large_corpus_gets_words_seen_in_enough_texts():
    features = WordCharTfidf(small_corpus_max_chars=sum(map(len, TEXTS)) - 1, large_corpus_min_df=2)
    matrix = features.fit_transform(TEXTS)
    assert isinstance(features.vectorizer_, TfidfVectorizer) and features.vectorizer_.analyzer == "word"
    expected = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(TEXTS)
    assert (matrix != expected).nnz == 0
    choice = features.choices_["features.corpus"]
    assert choice.startswith("large: ") and "word n-grams only, min_df=2" in choice
    assert f"{sum(map(len, TEXTS)):,} characters > features.small_corpus_max_chars" in choice


@pytest.fixture(params=["one core", "two cores"])
def counting_cores(request, monkeypatch):
    """Count on one core, or (whatever the corpus size) half of the texts in a forked child."""
    monkeypatch.setattr(tfidf, "TWO_CORES_MIN_CHARS", 0 if request.param == "two cores" else 10**12)


def test_counting_on_two_cores_is_exactly_one_pass():
    analyze = CountingTfidfVectorizer(ngram_range=(1, 2)).build_analyzer()
    one_vocabulary, one = tfidf.counted(TEXTS, analyze, np.float64)
    two_vocabulary, two = tfidf.counted_on_two_cores(TEXTS, analyze, np.float64)
    assert list(two_vocabulary.items()) == list(one_vocabulary.items())  # the same columns, in the same order
    assert two.has_sorted_indices and two.dtype == one.dtype and two.shape == one.shape and (two != one).nnz == 0


@pytest.mark.parametrize("settings", [
    {"analyzer": "word", "ngram_range": (1, 2)},
    {"analyzer": "word", "ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True},
    {"analyzer": "word", "max_df": 0.5, "max_features": 300, "binary": True},
    {"analyzer": "word", "ngram_range": (1, 2), "min_df": 0.02, "max_features": 200},  # rare terms dropped early
    {"analyzer": "char_wb", "ngram_range": (2, 4), "min_df": 3, "max_df": 0.3},
])
def test_the_faster_count_gives_scikit_learns_matrices(settings, counting_cores):
    ours, theirs = CountingTfidfVectorizer(**settings), TfidfVectorizer(**settings)
    fitted = ours.fit_transform(TEXTS), theirs.fit_transform(TEXTS)
    assert ours.vocabulary_ == theirs.vocabulary_
    np.testing.assert_array_equal(ours.idf_, theirs.idf_)
    for mine, expected in (fitted, (ours.transform(UNSEEN), theirs.transform(UNSEEN))):
        assert type(mine) is type(expected) and mine.dtype == expected.dtype
        assert mine.shape == expected.shape and (mine != expected).nnz == 0


def test_an_empty_vocabulary_is_the_same_error(counting_cores):
    for vectorizer in (CountingTfidfVectorizer(), TfidfVectorizer()):
        with pytest.raises(ValueError, match="empty vocabulary"):
            vectorizer.fit(["!!", "?"])


def test_terms_that_are_not_strings_count_as_scikit_learns(counting_cores):
    """A custom analyzer may give any hashable term (here tuples of words)."""
    def word_pairs(text):
        words = text.split()
        return list(zip(words, words[1:]))
    ours, theirs = (vectorizer(analyzer=word_pairs, min_df=2) for vectorizer in (CountingTfidfVectorizer, TfidfVectorizer))
    mine, expected = ours.fit_transform(TEXTS), theirs.fit_transform(TEXTS)
    assert ours.vocabulary_ == theirs.vocabulary_ and (mine != expected).nnz == 0


@pytest.mark.parametrize("settings, error", [
    ({"min_df": 1.0}, "no terms remain"),  # no term is in every text
    ({"min_df": 5, "max_df": 2}, "max_df corresponds to < documents than min_df"),
])
def test_pruning_everything_is_the_same_error(settings, error, counting_cores):
    for vectorizer in (CountingTfidfVectorizer(**settings), TfidfVectorizer(**settings)):
        with pytest.raises(ValueError, match=error):
            vectorizer.fit(TEXTS)


def test_a_saved_model_holds_plain_tfidf_vectorizers(tmp_path):
    from sklearn.pipeline import Pipeline
    from sklearn.naive_bayes import ComplementNB

    labels = [json.loads(line)["labels"][0] for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    model = Pipeline([("features", WordCharTfidf()), ("classifier", ComplementNB())]).fit(TEXTS, labels)
    save_state(model, ArgmaxDecision(tuple(model.classes_)), tmp_path)
    state = (tmp_path / "state.json").read_text()
    assert "textclf" not in json.dumps(json.loads(state)["estimator"])
    assert state.count('"sklearn.feature_extraction.text.TfidfVectorizer"') == 2
    loaded, _ = load_state(tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(UNSEEN), model.predict_proba(UNSEEN))
