"""Which unlabeled texts to label next (``textclf suggest``): the ones the model is least sure of,
spread over the pool, never two near-copies.

Uncertainty alone picks clumps: twenty rewordings of one confusing wire story, or texts the
training data already holds with a new dateline. So the pool is cut into as many clusters as there
are picks wanted (k-means on character n-gram TF-IDF, reduced to 100 dimensions), the most
uncertain text of each cluster comes first, and a candidate at least as similar as
``near_duplicate_similarity`` to a text already picked, or to the labeled data, is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD

from textclf.audit.similarity import char_tfidf

STRATEGIES = ("margin", "entropy")
REDUCED_DIMENSIONS = 100


@dataclass(frozen=True)
class Pick:
    """One text to label (``row`` in the pool) and why it was picked."""

    row: int
    uncertainty: float
    cluster: int
    reason: str


def uncertainty(probabilities: np.ndarray, strategy: str, multilabel: bool) -> np.ndarray:
    """From 0 (sure) to 1 (no idea), per text. ``margin``: one minus the gap between the two most
    probable classes; ``entropy``: the entropy of the probabilities over its maximum. Multi-label:
    one minus twice the distance of the least decided label from 0.5."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if multilabel:
        return 1.0 - 2.0 * np.abs(probabilities - 0.5).min(axis=1)
    if strategy == "margin":
        top = np.sort(probabilities, axis=1)[:, -2:]
        return 1.0 - (top[:, 1] - top[:, 0])
    clipped = np.clip(probabilities, 1e-12, 1.0)
    return -(clipped * np.log(clipped)).sum(axis=1) / np.log(probabilities.shape[1])


def pick_for_labeling(texts: list[str], probabilities: np.ndarray, classes: list[str], count: int, *,
                      labeled_texts=(), strategy: str = "margin", multilabel: bool = False,
                      near_duplicate_similarity: float = 0.9, seed: int = 0) -> list[Pick]:
    """Up to ``count`` rows of ``texts`` to label, in the order to label them."""
    scores = uncertainty(probabilities, strategy, multilabel)
    vectors = char_tfidf(list(texts) + list(labeled_texts))
    pool, labeled = vectors[: len(texts)], vectors[len(texts):]
    clusters = _clusters(pool, min(count, len(texts)), seed)
    near_labeled = (np.asarray((pool @ labeled.T).max(axis=1).todense()).ravel() >= near_duplicate_similarity
                    if labeled.shape[0] else np.zeros(len(texts), dtype=bool))
    picks: list[Pick] = []
    for row in _round_robin(scores, clusters):
        if len(picks) == count:
            break
        if near_labeled[row] or (picks and (pool[row] @ pool[[p.row for p in picks]].T).max() >= near_duplicate_similarity):
            continue
        picks.append(Pick(row, float(scores[row]), int(clusters[row]), _reason(probabilities[row], classes, scores[row],
                                                                          strategy, multilabel, clusters[row])))
    return picks


def _clusters(vectors, count: int, seed: int) -> np.ndarray:
    if count <= 1 or vectors.shape[0] <= count:
        return np.arange(vectors.shape[0]) if vectors.shape[0] <= count else np.zeros(vectors.shape[0], dtype=int)
    dimensions = min(REDUCED_DIMENSIONS, vectors.shape[1] - 1, vectors.shape[0] - 1)
    reduced = TruncatedSVD(dimensions, random_state=seed).fit_transform(vectors)
    return KMeans(count, n_init=1, random_state=seed).fit_predict(reduced)


def _round_robin(scores: np.ndarray, clusters: np.ndarray):
    """Rows in picking order: each cluster's most uncertain row (clusters by that row's
    uncertainty), then each cluster's second, and so on."""
    queues = {cluster: sorted(np.flatnonzero(clusters == cluster), key=lambda row: -scores[row])
              for cluster in np.unique(clusters)}
    depth = 0
    while any(depth < len(queue) for queue in queues.values()):
        layer = [queue[depth] for queue in queues.values() if depth < len(queue)]
        yield from sorted(layer, key=lambda row: -scores[row])
        depth += 1


def _reason(probabilities, classes, score, strategy, multilabel, cluster) -> str:
    order = np.argsort(-probabilities)
    if multilabel:
        closest = int(np.argmin(np.abs(probabilities - 0.5)))
        why = f"{classes[closest]} at {probabilities[closest]:.2f}, undecided"
    else:
        # The uncertainty, named after the rule that scored it (a margin of 0.39 is an uncertainty of 0.61).
        why = (f"uncertainty {score:.2f} by {strategy}: {classes[order[0]]} {probabilities[order[0]]:.2f} vs "
               f"{classes[order[1]]} {probabilities[order[1]]:.2f}")
    return f"{why}; cluster {cluster}"
