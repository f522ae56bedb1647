"""TF-IDF features and a linear classifier, predicted with NumPy and SciPy alone.

Most saved models are TF-IDF features and a linear classifier with probabilities: tfidf_linearsvc
(its temperature-scaled SVM is saved as a ``LogisticRegression``) and tfidf_logreg, one-vs-rest
for multi-label. Predicting with them takes a vocabulary lookup, the TF-IDF weights and one matrix
product, but rebuilding them as scikit-learn objects imports scikit-learn, about 0.6 s of the
2.8 s a fresh process takes to load one through MLflow (experiments/speed.md). For these shapes
``load_state`` builds a ``LinearTfidfModel`` from the same saved state instead: the analyzers below
are scikit-learn's, line for line, and the probabilities equal scikit-learn's to rounding
(tests/serving/test_linear_tfidf.py). Any other shape or setting is rebuilt as scikit-learn
objects, as before.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

PIPELINE = "sklearn.pipeline.Pipeline"
FEATURE_UNION = "sklearn.pipeline.FeatureUnion"
TFIDF = "sklearn.feature_extraction.text.TfidfVectorizer"
LOGISTIC = "sklearn.linear_model._logistic.LogisticRegression"
ONE_VS_REST = "sklearn.multiclass.OneVsRestClassifier"
# Vectorizer settings this module reproduces; any other value is left to scikit-learn.
PLAIN_SETTINGS = {"input": "content", "strip_accents": None, "preprocessor": None, "tokenizer": None,
                  "stop_words": None, "binary": False, "use_idf": True, "vocabulary": None}
WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's _white_spaces
WORD = re.compile(r"\S+")  # what str.split() splits: the words the char_wb analyzer cuts n-grams from


class LinearTfidfModel:
    """``predict_proba`` of a Pipeline of TF-IDF vectorizers and a linear probabilistic classifier."""

    def __init__(self, vectorizers: list["TfidfFeatures"], coef: np.ndarray, intercept: np.ndarray,
                 classes: np.ndarray, multilabel: bool):
        self.vectorizers = vectorizers
        self.coef = coef  # (classes or labels, features); one row for a two-class model
        self.intercept = intercept
        self.classes_ = classes
        self.multilabel = multilabel

    def transform(self, texts: list[str]):
        parts = [vectorizer.transform(texts) for vectorizer in self.vectorizers]
        return parts[0] if len(parts) == 1 else sp.hstack(parts, format="csr")

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        scores = np.asarray(self.transform(texts) @ self.coef.T) + self.intercept
        if self.multilabel or scores.shape[1] == 1:  # a sigmoid per label, or per two-class model
            positive = np.exp(-np.logaddexp(0.0, -scores))  # 1 / (1 + e^-s), without overflow
            return positive if self.multilabel else np.hstack([1 - positive, positive])
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        return scores / scores.sum(axis=1, keepdims=True)

    def term_contributions(self, text: str, column: int) -> tuple[list[tuple[int, int, float]], float]:
        """What each n-gram occurrence in ``text`` adds to the score of probability column
        ``column``, as ``(start, end, weight)``, and the intercept: an n-gram's coefficient x
        feature value, split evenly over its occurrences. They add up to the score (``explain``)."""
        # A two-class model keeps one row, the second class's score; the first class's is its negation.
        two_class = not self.multilabel and self.coef.shape[0] == 1
        sign, row = (1.0 if column == 1 else -1.0, 0) if two_class else (1.0, column)
        contributions, offset = [], 0
        for vectorizer in self.vectorizers:
            values = vectorizer.transform([text])
            spans_of: dict[int, list[tuple[int, int]]] = {}
            for term, start, end in vectorizer.term_spans(text):
                spans_of.setdefault(term, []).append((start, end))
            for term, value in zip(values.indices, values.data):
                spans = spans_of[term]
                weight = sign * self.coef[row, offset + term] * value / len(spans)
                contributions.extend((start, end, weight) for start, end in spans)
            offset += len(vectorizer.idf)
        return contributions, sign * float(self.intercept[row])


class TfidfFeatures:
    """A fitted ``TfidfVectorizer``'s transform, for word and char_wb analyzers."""

    def __init__(self, analyzer: str, ngram_range: tuple[int, int], lowercase: bool, token_pattern: str,
                 vocabulary: dict[str, int], idf: np.ndarray, sublinear_tf: bool, norm: str | None):
        self.analyzer = analyzer
        self.analyze = self._char_wb_ngrams if analyzer == "char_wb" else self._word_ngrams
        self.ngram_range = ngram_range
        self.lowercase = lowercase
        self.token_pattern = re.compile(token_pattern)
        self.vocabulary = vocabulary
        self.idf = idf
        self.sublinear_tf = sublinear_tf
        self.norm = norm

    def transform(self, texts: list[str]):
        known, analyze = self.vocabulary.get, self.analyze
        matrix = term_counts(texts, lambda text: [column for column in map(known, analyze(text)) if column is not None],
                             self.vocabulary)
        if self.sublinear_tf:
            np.log(matrix.data, matrix.data)
            matrix.data += 1.0
        matrix.data *= self.idf[matrix.indices]
        if self.norm == "l2":  # each row to unit length; an empty row stays empty
            lengths = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
            matrix.data /= np.repeat(np.where(lengths == 0, 1.0, lengths), np.diff(matrix.indptr))
        return matrix

    def term_spans(self, text: str) -> list[tuple[int, int, int]]:
        """``(column, start, end)`` of every in-vocabulary n-gram occurrence in ``text``: the
        n-grams ``transform`` counts, each with the characters of ``text`` it was cut from."""
        lowered, origin = _lowered_with_origin(text) if self.lowercase else (text, None)
        spans = (self._char_wb_spans if self.analyzer == "char_wb" else self._word_ngram_spans)(lowered)
        known, found = self.vocabulary.get, []
        for term, start, end in spans:
            column = known(term)
            if column is not None:
                found.append((column, start, end) if origin is None else (column, origin[start], origin[end - 1] + 1))
        return found

    def _word_ngram_spans(self, text: str) -> list[tuple[str, int, int]]:
        group = 1 if self.token_pattern.groups == 1 else 0  # findall returns the one group if there is one
        tokens = [(match.group(group), *match.span(group)) for match in self.token_pattern.finditer(text)]
        min_n, max_n = self.ngram_range
        spans = []
        for n in range(min_n, min(max_n, len(tokens)) + 1):
            spans.extend((" ".join(token for token, _, _ in tokens[i:i + n]), tokens[i][1], tokens[i + n - 1][2])
                         for i in range(len(tokens) - n + 1))
        return spans

    def _char_wb_spans(self, text: str) -> list[tuple[str, int, int]]:
        # WHITE_SPACES only shortens the runs between words, so the words are str.split()'s; an
        # n-gram is credited to the whole word it was cut from (with its padding spaces).
        min_n, max_n = self.ngram_range
        spans = []
        for match in WORD.finditer(text):
            word, (start, end) = " " + match.group() + " ", match.span()
            for n in range(min_n, max_n + 1):
                spans.extend((word[offset: offset + n], start, end) for offset in range(max(len(word) - n, 0) + 1))
                if n >= len(word):
                    break
        return spans

    def _word_ngrams(self, text: str) -> list[str]:
        tokens = self.token_pattern.findall(text.lower() if self.lowercase else text)
        min_n, max_n = self.ngram_range
        if max_n == 1:
            return tokens
        original = tokens
        tokens = list(original) if min_n == 1 else []
        for n in range(max(min_n, 2), min(max_n + 1, len(original) + 1)):
            tokens.extend(" ".join(original[i: i + n]) for i in range(len(original) - n + 1))
        return tokens

    def _char_wb_ngrams(self, text: str) -> list[str]:
        text = WHITE_SPACES.sub(" ", text.lower() if self.lowercase else text)
        min_n, max_n = self.ngram_range
        ngrams = []
        for word in text.split():
            word = " " + word + " "
            for n in range(min_n, max_n + 1):
                ngrams.extend(word[offset: offset + n] for offset in range(max(len(word) - n, 0) + 1))
                if n >= len(word):  # the whole word was the n-gram: counted once, as scikit-learn does
                    break
        return ngrams


def _lowered_with_origin(text: str) -> tuple[str, list[int]]:
    """``text.lower()`` and, for each of its characters, the index in ``text`` it came from (a few
    characters lower to two, e.g. 'İ')."""
    lowered = text.lower()
    origin = [i for i, character in enumerate(text) for _ in character.lower()]
    assert len(origin) == len(lowered)  # lowering by character and by string differ in letters, not lengths
    return lowered, origin


def term_counts(texts, columns_of, vocabulary: dict, dtype=np.float64):
    """The text x term count matrix, from each text's list of columns (``columns_of``, which may
    add terms to ``vocabulary`` as it meets them): one sparse ``sum_duplicates`` turns repeated
    columns into counts, where scikit-learn counts in a dict per text. Also the term count of
    ``textclf.models.tfidf.CountingTfidfVectorizer``."""
    indices, indptr = [], [0]
    for text in texts:
        indices.extend(columns_of(text))
        indptr.append(len(indices))
    index_type = np.int32 if len(indices) <= np.iinfo(np.int32).max else np.int64
    counts = sp.csr_matrix((np.ones(len(indices), dtype=dtype), np.asarray(indices, dtype=index_type),
                            np.asarray(indptr, dtype=index_type)), shape=(len(indptr) - 1, len(vocabulary)))
    counts.sum_duplicates()  # sorts each row's columns and adds up the repeats: the counts
    return counts


def linear_tfidf_model(node: dict, decode) -> LinearTfidfModel | None:
    """The ``LinearTfidfModel`` a saved estimator node describes, or None if it is another shape.
    ``decode`` reads a node's arrays and dicts (the reader's ``_Decoder.decode``)."""
    if node.get("__object__") != PIPELINE:
        return None
    steps = node["state"].get("steps")
    if not isinstance(steps, list) or len(steps) != 2:
        return None
    features, classifier = (step[1] if isinstance(step, list) else step.get("__tuple__", [None, None])[1]
                            for step in steps)
    vectorizers = _vectorizers(features, decode)
    if vectorizers is None:
        return None
    multilabel = False
    estimators = [classifier]
    if classifier.get("__object__") == ONE_VS_REST:
        state = classifier["state"]
        binarizer = state.get("label_binarizer_", {}).get("state", {})
        if binarizer.get("y_type_") != "multilabel-indicator":
            return None
        multilabel, estimators = True, state.get("estimators_", [])
    if not estimators or any(e.get("__object__") != LOGISTIC for e in estimators):
        return None
    coef = np.vstack([np.asarray(decode(e["state"]["coef_"]), dtype=np.float64) for e in estimators])
    intercept = np.concatenate([np.atleast_1d(decode(e["state"]["intercept_"])) for e in estimators])
    classes = decode(classifier["state"]["classes_"])
    if coef.shape[1] != sum(len(v.idf) for v in vectorizers):
        return None
    return LinearTfidfModel(vectorizers, coef, intercept.astype(np.float64), np.asarray(classes), multilabel)


def _vectorizers(node: dict, decode) -> list[TfidfFeatures] | None:
    if node.get("__object__") == FEATURE_UNION:
        state = node["state"]
        if state.get("transformer_weights") is not None:
            return None
        parts = [item["__tuple__"][1] if isinstance(item, dict) else item[1] for item in state["transformer_list"]]
        found = [_vectorizers(part, decode) for part in parts]
        return None if any(f is None or len(f) != 1 for f in found) else [f[0] for f in found]
    if node.get("__object__") != TFIDF:
        return None
    state = node["state"]
    if any(state.get(key, "missing") != value for key, value in PLAIN_SETTINGS.items()):
        return None
    if state.get("analyzer") not in ("word", "char_wb") or state.get("norm") not in ("l2", None):
        return None
    if decode(state["dtype"]) is not np.float64:
        return None
    transformer = state["_tfidf"]["state"]
    return [TfidfFeatures(state["analyzer"], tuple(decode(state["ngram_range"])), bool(state["lowercase"]),
                          state["token_pattern"], decode(state["vocabulary_"]), decode(transformer["idf_"]),
                          bool(state["sublinear_tf"]), state["norm"])]
