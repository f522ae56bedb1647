"""``WordCharTfidf``: TF-IDF features that scale: words and characters on a small corpus, words
alone on a large one.

Character n-grams (inside word boundaries) make a classifier robust to spelling variants and
rare word forms, and on short passages they pay: on the seed corpus they lift test macro-F1 from
0.82 to 0.87. Terms seen in a single text help there too. But character n-grams are built by
Python code, a few seconds per million characters of training text: on 20 Newsgroups (16 million
characters) they made the run 7 times slower for 0.6 points of accuracy, and single-text terms
double the vocabulary (experiments/speed.md). So a corpus whose training texts total more than
``small_corpus_max_chars`` characters gets word n-grams alone, seen in at least
``large_corpus_min_df`` texts: what a user would write for a large corpus. The choice is
printed, logged as the tag ``features.corpus``, and can be forced from the command line
(``features.small_corpus_max_chars=0`` treats every corpus as large).

Both vectorizers are ``CountingTfidfVectorizer``: scikit-learn's ``TfidfVectorizer`` with a
faster count of terms (the same vocabulary and matrices; experiments/speed.md). A saved model
holds plain ``TfidfVectorizer`` objects.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from textclf.memory import release_freed_memory
from textclf.models.forked import ChildResult
from textclf.serving.format import joined, split_joined
from textclf.serving.linear_tfidf import term_counts


# Below this many characters of training text, forking and handing half the count back cost more
# than the half saves (experiments/speed.md).
TWO_CORES_MIN_CHARS = 4_000_000


class WordCharTfidf(TransformerMixin, BaseEstimator):
    """Word and character n-gram TF-IDF on a small corpus, word n-grams alone on a large one.

    Parameters
    ----------
    word_ngram_range, char_ngram_range : tuple (min_n, max_n)
    min_df : int
        On a small corpus, terms in fewer training texts are dropped.
    sublinear_tf : bool
        1 + log(tf) instead of tf.
    small_corpus_max_chars : int
        Training texts totalling at most this many characters are a small corpus.
    large_corpus_min_df : int
        On a large corpus, word n-grams in fewer training texts are dropped.

    Attributes
    ----------
    vectorizer_ : FeatureUnion or TfidfVectorizer
        Words and characters side by side (small corpus), or words alone (large).
    choices_ : dict
        ``{"features.corpus": "small: ..." or "large: ..."}``: what was chosen and why, for the
        run's tags.
    """

    _parameter_constraints = {
        "word_ngram_range": [tuple],
        "char_ngram_range": [tuple],
        "min_df": [Interval(Integral, 1, None, closed="left")],
        "sublinear_tf": ["boolean"],
        "small_corpus_max_chars": [Interval(Integral, 0, None, closed="left")],
        "large_corpus_min_df": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, word_ngram_range=(1, 2), char_ngram_range=(2, 5), min_df=1, sublinear_tf=True,
                 small_corpus_max_chars=2_000_000, large_corpus_min_df=2):
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.small_corpus_max_chars = small_corpus_max_chars
        self.large_corpus_min_df = large_corpus_min_df

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        self._validate_params()
        characters = sum(map(len, X))
        if characters <= self.small_corpus_max_chars:
            self.vectorizer_ = FeatureUnion([
                ("words", self._tfidf("word", self.word_ngram_range, self.min_df)),
                ("chars", self._tfidf("char_wb", self.char_ngram_range, self.min_df)),
            ])
            choice = (f"small: training texts total {characters:,} characters <= features.small_corpus_max_chars="
                      f"{self.small_corpus_max_chars:,}; word and character n-grams, min_df={self.min_df}")
        else:
            self.vectorizer_ = self._tfidf("word", self.word_ngram_range, self.large_corpus_min_df)
            choice = (f"large: training texts total {characters:,} characters > features.small_corpus_max_chars="
                      f"{self.small_corpus_max_chars:,}; word n-grams only, min_df={self.large_corpus_min_df}")
        self.choices_ = {"features.corpus": choice}
        return self.vectorizer_.fit_transform(X)

    def transform(self, X):
        check_is_fitted(self, "vectorizer_")
        return self.vectorizer_.transform(X)

    def _tfidf(self, analyzer: str, ngram_range: tuple, min_df: int) -> TfidfVectorizer:
        return CountingTfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range, min_df=min_df,
                                       sublinear_tf=self.sublinear_tf)

    def __textclf_state__(self, writer):
        """Saved as the fitted scikit-learn vectorizer, which transforms exactly as this does."""
        if not hasattr(self, "vectorizer_"):
            raise TypeError("WordCharTfidf is saved only once fitted")
        return writer.encode(self.vectorizer_, "vectorizer_")


class CountingTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` with a faster term count; the same vocabulary and matrices.

    scikit-learn counts each text's terms in a Python dict, one term at a time. Here a list
    comprehension maps each text's terms to column numbers (adding new terms to the vocabulary as
    it meets them), and ``serving.linear_tfidf.term_counts`` turns the repeats into counts. Terms in
    fewer than ``min_df`` texts are dropped right after (``_without_rare_terms``); the rest of the
    pruning (``max_df``, ``max_features``), sorting the vocabulary and TF-IDF weighting stay
    scikit-learn's. Training texts
    of at least ``TWO_CORES_MIN_CHARS`` characters are counted half in a forked child
    (``counted_on_two_cores``), with the same result.
    """

    def _count_vocab(self, raw_documents, fixed_vocab):
        analyze = self.build_analyzer()
        if fixed_vocab:
            known = self.vocabulary_.get

            def columns(text):
                return [column for column in map(known, analyze(text)) if column is not None]
            return self.vocabulary_, term_counts(raw_documents, columns, self.vocabulary_, self.dtype)
        texts = list(raw_documents)
        if sum(map(len, texts)) >= TWO_CORES_MIN_CHARS:
            vocabulary, counts = counted_on_two_cores(texts, analyze, self.dtype)
        else:
            vocabulary, counts = counted(texts, analyze, self.dtype)
        if not vocabulary:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        min_texts = self.min_df if isinstance(self.min_df, Integral) else self.min_df * len(texts)
        return _without_rare_terms(vocabulary, counts, min_texts)

    def __textclf_state__(self, writer):
        """Saved as the plain ``TfidfVectorizer`` with the same state (the count is only faster)."""
        plain = TfidfVectorizer.__new__(TfidfVectorizer)
        plain.__dict__.update(vars(self))
        return writer.encode(plain, "vectorizer")


def counted(texts: list[str], analyze, dtype) -> tuple[dict, sp.csr_matrix]:
    """A new vocabulary (terms numbered in the order first met) and the text x term counts."""
    vocabulary: dict[str, int] = {}
    add = vocabulary.setdefault  # a new term gets the next column: len() is read first

    def columns(text):
        return [add(term, len(vocabulary)) for term in analyze(text)]
    return vocabulary, term_counts(texts, columns, vocabulary, dtype)


def counted_on_two_cores(texts: list[str], analyze, dtype) -> tuple[dict, sp.csr_matrix]:
    """``counted``, the second half of the texts (by characters) in a forked child: counting is
    Python work, one core's. The child's terms that this half lacks are then numbered after this
    half's, in the order the child met them: exactly the vocabulary and counts of one pass."""
    characters = np.cumsum([len(text) for text in texts])
    middle = int(np.searchsorted(characters, characters[-1] / 2))
    second_half = ChildResult(_terms_and_counts, (texts[middle:], analyze, dtype), name="textclf-count")
    vocabulary, first = counted(texts[:middle], analyze, dtype)
    packed_terms, second = second_half.result()
    add = vocabulary.setdefault
    renumbered = np.fromiter((add(term, len(vocabulary)) for term in _unpacked(packed_terms)), dtype=np.int64,
                             count=second.shape[1])
    del packed_terms
    index_type = np.int32 if len(vocabulary) <= np.iinfo(np.int32).max else np.int64
    second = sp.csr_matrix((second.data, renumbered[second.indices].astype(index_type), second.indptr),
                           shape=(second.shape[0], len(vocabulary)))
    first.resize(first.shape[0], len(vocabulary))
    counts = sp.vstack([first, second], format="csr")
    counts.sort_indices()  # the renumbered half's columns are no longer in order within a row
    return vocabulary, counts


def _terms_and_counts(texts: list[str], analyze, dtype) -> tuple[tuple, sp.csr_matrix]:
    """What the child hands back: its terms in column order, packed (``_packed``), and its counts.
    Pickled as a list, 750,000 terms (half of 20 Newsgroups) cost the child a pickle memo entry
    each and the parent a new string each, 60 and 40 MB at the run's peak (benchmarks/RESULTS.md,
    December 5); packed, one string each side, and the parent keeps only the terms it lacks."""
    vocabulary, counts = counted(texts, analyze, dtype)
    packed = _packed(vocabulary)
    del vocabulary  # the child's largest part, gone before its answer is pickled beside it
    release_freed_memory()
    return packed, counts


def _without_rare_terms(vocabulary: dict, counts: sp.csr_matrix, min_texts: float) -> tuple[dict, sp.csr_matrix]:
    """The terms of at least ``min_texts`` texts, and their counts: what scikit-learn's pruning
    keeps of ``min_df`` (it still prunes the rest: ``max_df``, ``max_features``), done before it
    sorts and lists the whole vocabulary, 1.2 million terms on 20 Newsgroups where 330,000 stay.
    The terms kept are copied side by side (``_packed``, ``_unpacked``): left where the count made
    them, scattered among the freed ones, they would keep that memory from being reused or handed
    back (benchmarks/RESULTS.md, December 5). ``vocabulary`` (terms numbered in column order) is
    emptied when terms are dropped."""
    kept = np.flatnonzero(np.bincount(counts.indices, minlength=counts.shape[1]) >= min_texts)
    if len(kept) == len(vocabulary) or len(kept) == 0:  # nothing to drop, or scikit-learn's error to raise
        return vocabulary, counts
    terms = list(vocabulary)
    packed = _packed([terms[column] for column in kept.tolist()])
    del terms
    vocabulary.clear()  # the count's terms go before their copies are made
    return dict(zip(_unpacked(packed), range(len(kept)))), counts[:, kept]


def _packed(terms) -> tuple:
    """``terms`` (a list, or a dict: its keys) as one object to pickle or keep: strings as
    ``serving.format.joined`` stores them; other terms (a custom analyzer's tuples) as a list. One
    character beyond Latin-1 widens every character of the joined string (Python stores a string
    at its widest), up to 4 bytes each: about what the separate strings would cost, no more."""
    if set(map(type, terms)) != {str}:
        return list(terms), None
    return joined(terms)


def _unpacked(packed: tuple):
    """The terms ``_packed`` packed, one at a time (strings made anew, side by side in memory)."""
    text_or_terms, lengths = packed
    return iter(text_or_terms) if lengths is None else split_joined(text_or_terms, lengths)
