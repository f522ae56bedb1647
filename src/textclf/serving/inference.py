"""Transformer inference: sentence embeddings, fine-tuned classifiers, zero-shot scoring.

The only place in what travels with a saved model that imports torch and transformers (lazily:
a TF-IDF model never does). Weights are read from safetensors files only, never remote code.
Texts are encoded in batches sorted by length, so each batch pads only to its longest text.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

# sentence-transformers' Pooling modes that textclf can run.
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "lasttoken")
# Older sentence-transformers wrote one switch per mode; several on are concatenated in this order.
_LEGACY_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                        "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                        "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
_SUPPORTED_MODULES = {"Transformer", "Pooling", "Normalize"}


def sentence_transformers_layout(folder: str) -> tuple[str, tuple[str, ...], bool] | None:
    """``(transformer folder, pooling modes, normalize)`` from a sentence-transformers model folder's
    own ``modules.json``; None for a plain transformers folder."""
    modules_file = Path(folder) / "modules.json"
    if not modules_file.is_file():
        return None
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = {module["type"].rsplit(".", 1)[-1]: module for module in modules}
    unsupported = sorted(set(kinds) - _SUPPORTED_MODULES)
    if unsupported or "Transformer" not in kinds:
        raise ValueError(f"encoder {folder} has sentence-transformers modules {unsupported or ['(no Transformer)']}, "
                         "which textclf cannot run; use a model made of Transformer, Pooling and Normalize")
    transformer_folder = str(Path(folder) / kinds["Transformer"].get("path", ""))
    pooling: tuple[str, ...] = ("cls",)  # sentence-transformers' default when a model has no Pooling module
    if "Pooling" in kinds:
        config = json.loads((Path(folder) / kinds["Pooling"]["path"] / "config.json").read_text(encoding="utf-8"))
        pooling = _pooling_modes(config)
        if not pooling or not set(pooling) <= set(POOLING_MODES):
            raise ValueError(f"encoder {folder} pools with {list(pooling)}, which textclf cannot run; "
                             f"supported: {', '.join(POOLING_MODES)}")
    return transformer_folder, pooling, "Normalize" in kinds


def _pooling_modes(config: dict) -> tuple[str, ...]:
    """The modes of a Pooling config: ``pooling_mode`` (a name or a list), or the older switches."""
    if "pooling_mode" in config:
        mode = config["pooling_mode"]
        return (mode,) if isinstance(mode, str) else tuple(mode)
    return tuple(mode for key, mode in _LEGACY_POOLING_KEYS.items() if config.get(key, False))


def characters_read(tokenizer, text: str, max_length: int) -> int:
    """How far into ``text`` a model that keeps its first ``max_length`` tokens reads: the end of
    the last token kept, or all of it when nothing was cut (or the tokenizer gives no offsets).
    ``tokenizer``: a transformers fast tokenizer, or a ``tokenizers.Tokenizer`` that truncates."""
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer (int8 graphs): truncation already on
        encoding = tokenizer.encode(text)
        ids, offsets = encoding.ids, encoding.offsets
    elif getattr(tokenizer, "is_fast", False):
        encoding = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
        ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
    else:
        return len(text)
    return max(end for _, end in offsets) if len(ids) >= max_length else len(text)


def _length_sorted_batches(tokenizer, texts: list[str], batch_size: int, max_length: int):
    """Yield (row indices, tokenised batch), texts sorted by length so each batch pads little."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        yield rows, tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")


# Traced into int8 graphs, which are cached: a change here needs models.quantization.GRAPH_FORMAT bumped.
def pool(hidden, attention_mask, modes: tuple[str, ...]):
    """Token embeddings to one vector per text, as sentence-transformers' Pooling computes it."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    lengths = mask.sum(1).clamp(min=1e-9)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "max":
            parts.append(hidden.masked_fill(mask == 0, -1e9).max(1).values)
        elif mode == "mean":
            parts.append((hidden * mask).sum(1) / lengths)
        elif mode == "mean_sqrt_len_tokens":
            parts.append((hidden * mask).sum(1) / torch.sqrt(lengths))
        else:  # lasttoken: the last token that is not padding
            last = attention_mask.sum(1) - 1
            parts.append(hidden[torch.arange(hidden.shape[0]), last])
    return torch.cat(parts, dim=-1)


class EncoderFeatures:
    """Sentence embeddings from a transformers encoder: pooled token embeddings, optionally
    L2-normalised (the sentence-transformers recipe, with the encoder's own pooling)."""

    inference = "fp32"  # int8: serving.int8.Int8EncoderFeatures

    def __init__(self, model, tokenizer, folder: str, max_length: int, batch_size: int,
                 pooling: tuple[str, ...], normalize: bool):
        self.model, self.tokenizer, self.folder = model.eval(), tokenizer, folder
        self.max_length, self.batch_size = max_length, batch_size
        self.pooling, self.normalize = tuple(pooling), normalize

    @classmethod
    def load(cls, folder: str, max_length: int, batch_size: int, pooling: tuple[str, ...], normalize: bool,
             local_files_only: bool = True):
        import torch  # noqa: F401 - first, so a missing torch is named as such, not as transformers words it
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=local_files_only)
        with weights_loaded_quietly(folder):
            model = AutoModel.from_pretrained(folder, local_files_only=local_files_only, use_safetensors=True)
        return cls(model, tokenizer, folder, max_length, batch_size, pooling, normalize)

    @property
    def dimension(self) -> int:
        return self.model.config.hidden_size * len(self.pooling)

    def transform(self, texts) -> np.ndarray:
        return self.encode(list(texts))

    def characters_read(self, text: str) -> int:
        return characters_read(self.tokenizer, text, self.max_length)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        import torch

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        batches = _length_sorted_batches(self.tokenizer, texts, self.batch_size, self.max_length)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="encoding", unit="batch", total=-(-len(texts) // self.batch_size))
        with torch.inference_mode():
            for rows, batch in batches:
                pooled = pool(self.model(**batch).last_hidden_state, batch["attention_mask"], self.pooling)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                vectors[rows] = pooled.numpy()
        return vectors


def _softmax(logits):
    import torch

    return torch.softmax(logits, dim=-1)


def _sigmoid(logits):
    import torch

    return torch.sigmoid(logits)


class SequenceClassifier:
    """A fine-tuned transformers sequence classifier: softmax over classes, or a sigmoid per label."""

    inference = "fp32"  # int8: serving.int8.Int8SequenceClassifier

    def __init__(self, model, tokenizer, multi_label: bool, max_length: int, batch_size: int):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.multi_label, self.max_length, self.batch_size = multi_label, max_length, batch_size
        self.activation = _sigmoid if multi_label else _softmax

    @classmethod
    def load(cls, folder: str, multi_label: bool, max_length: int, batch_size: int):
        import torch  # noqa: F401 - first, as in EncoderFeatures.load
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        with weights_loaded_quietly(folder):
            model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True,
                                                                       use_safetensors=True)
        return cls(model, tokenizer, multi_label, max_length, batch_size)

    def characters_read(self, text: str) -> int:
        return characters_read(self.tokenizer, text, self.max_length)

    def predict_proba(self, texts) -> np.ndarray:
        import torch

        texts = list(texts)
        probabilities = np.zeros((len(texts), self.model.config.num_labels), dtype=np.float64)
        with torch.inference_mode():
            for rows, batch in _length_sorted_batches(self.tokenizer, texts, self.batch_size, self.max_length):
                # (on the model's device: a fine-tune on a GPU scores its held-out part there)
                logits = self.model(**batch.to(self.model.device)).logits
                probabilities[rows] = self.activation(logits.double()).cpu().numpy()
        return probabilities


class ZeroShot:
    """Scores labels by the cosine similarity of a text to each label's prototype, calibrated per
    label (``(similarity - offset) / scale``) and softmaxed with a temperature; or, once
    self-trained, by a classifier ``head`` on the text's embedding."""

    def __init__(self, encoder: EncoderFeatures, label_embeddings: np.ndarray, temperature: float,
                 offsets: np.ndarray, scales: np.ndarray, head=None):
        self.encoder, self.label_embeddings, self.temperature = encoder, label_embeddings, temperature
        self.offsets, self.scales, self.head = offsets, scales, head

    def characters_read(self, text: str) -> int:
        return self.encoder.characters_read(text)

    def predict_proba(self, texts) -> np.ndarray:
        embeddings = self.encoder.transform(texts)
        if self.head is not None:
            return self.head.predict_proba(embeddings)
        return self.similarity_proba(embeddings)

    def similarity_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Softmax over the calibrated similarities of ``embeddings`` (rows) to the prototypes."""
        similarity = (embeddings @ self.label_embeddings.T - self.offsets) / (self.scales * self.temperature)
        similarity -= similarity.max(axis=1, keepdims=True)
        exponent = np.exp(similarity.astype(np.float64))
        return exponent / exponent.sum(axis=1, keepdims=True)


@contextlib.contextmanager
def weights_loaded_quietly(folder: str):
    """transformers draws a progress bar for every model it loads ("Loading weights", 0.1 s): in a
    command's output it is noise, once per audit fold. Hidden while a model loads from ``folder``,
    then as it was; a model still to download (a hub name) keeps its bars, as a download's is news."""
    from transformers.utils import logging

    if not Path(folder).is_dir():
        yield
        return
    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()
