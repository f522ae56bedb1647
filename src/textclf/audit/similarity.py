"""How alike texts are, for duplicates and outliers: cosine similarity of character 3-5-gram TF-IDF.

Character n-grams inside word boundaries see wire copy re-sent with a new dateline or a changed
figure as nearly the same text, which word n-grams with their smaller overlap miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from textclf.data.duplicates import duplicate_groups

ROWS_PER_BLOCK = 2000  # rows compared at a time: a block's similarities stay a few hundred MB at most


@dataclass(frozen=True)
class Pair:
    """Two texts (positions in the audited pool) and their similarity; ``exact`` when they are the
    same text once lower-cased with whitespace folded."""

    first: int
    second: int
    similarity: float
    exact: bool


def char_tfidf(texts) -> scipy.sparse.csr_matrix:
    """Unit-length character 3-5-gram TF-IDF rows."""
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, dtype=np.float32).fit_transform(texts)


def duplicate_pairs(texts, vectors: scipy.sparse.csr_matrix, threshold: float) -> list[Pair]:
    """Every pair of texts that is the same once normalised, or at least ``threshold`` similar."""
    exact = {(group[0], other) for group in duplicate_groups(texts) for other in group[1:]}
    pairs = [Pair(first, second, 1.0, True) for first, second in sorted(exact)]
    for start in range(0, vectors.shape[0], ROWS_PER_BLOCK):
        block = (vectors[start:start + ROWS_PER_BLOCK] @ vectors.T).tocoo()
        rows = block.row + start
        keep = (block.col > rows) & (block.data >= threshold)
        for first, second, similarity in zip(rows[keep], block.col[keep], block.data[keep]):
            if (first, second) not in exact:
                pairs.append(Pair(int(first), int(second), float(similarity), False))
    return pairs


def label_similarity(vectors: scipy.sparse.csr_matrix, labels, label_names) -> np.ndarray:
    """Per text, its highest cosine similarity to any label's mean vector: low means the text is
    unlike every label."""
    index = {name: i for i, name in enumerate(label_names)}
    membership = scipy.sparse.lil_matrix((len(label_names), vectors.shape[0]), dtype=np.float32)
    for row, names in enumerate(labels):
        for name in names:
            membership[index[name], row] = 1.0
    centroids = normalize(membership.tocsr() @ vectors)
    return np.asarray((vectors @ centroids.T).max(axis=1).todense()).ravel()
