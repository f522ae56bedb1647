"""Every estimator textclf trains, behind the scikit-learn API.

scikit-learn's own estimators are written straight into ``configs/model/*.yaml``; this package
holds textclf's transformer estimators (``embedder``, ``finetune``, ``zeroshot``), the encoder
helpers and embedding cache they share, TF-IDF features that scale with the corpus (``tfidf``),
probabilities for a linear SVM (``calibration``, tfidf_linearsvc's), how a Pipeline is fitted
(``fitting``) and with how many OpenBLAS threads (``blas``), data-parallel and GPU training
(``data_parallel``) and the check of model settings before training (``params``). Importing it
imports no heavy library.
"""


def steps_of(estimator) -> list:
    """A Pipeline's steps in order, or the estimator alone."""
    return [step for _, step in estimator.steps] if hasattr(estimator, "steps") else [estimator]
