"""What a fine-tuned classifier trains toward: one label per text or a set of labels, the loss
and class weights of each, and a training step's batch-mean loss, the same whether one process
computes it or torchrun's processes share the batch (``data_parallel``)."""

from __future__ import annotations

import numpy as np

from textclf.errors import UserError
from textclf.models import data_parallel


class SingleLabelTargets:
    """One class per text: integer targets, softmax, argmax."""

    multi_label = False
    problem_type = "single_label_classification"

    def __init__(self, y: np.ndarray):
        self.classes = np.unique(y)

    def encode(self, y: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.classes, y).astype(np.int64)

    def strata(self, y: np.ndarray) -> np.ndarray:
        return y

    def balanced_weights(self, encoded: np.ndarray) -> np.ndarray:
        """Per class n_samples / (n_classes * count), as ``compute_class_weight("balanced")``."""
        counts = np.bincount(encoded, minlength=len(self.classes))
        return np.where(counts > 0, len(encoded) / (len(self.classes) * np.maximum(counts, 1)), 1.0)

    def loss(self, weights):
        """Cross-entropy summed over a batch's texts, each weighted by its class's weight (``None``:
        unweighted); ``loss_denominator`` turns the sum into the batch's mean."""
        import torch

        return torch.nn.CrossEntropyLoss(weight=weights, reduction="sum")

    def loss_denominator(self, encoded_batch: np.ndarray, weights) -> float:
        """The summed weights of the batch's texts, as CrossEntropyLoss's own mean divides by."""
        return float(len(encoded_batch) if weights is None else weights.numpy()[encoded_batch].sum())

    def truth(self, y: np.ndarray) -> np.ndarray:
        """What ``decide`` is scored against."""
        return np.searchsorted(self.classes, y)

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Class indices (for scoring) from probabilities."""
        return probabilities.argmax(axis=1)

    def labels(self, probabilities: np.ndarray) -> np.ndarray:
        return self.classes[self.decide(probabilities)]


class MultiLabelTargets:
    """Any set of labels per text: indicator targets, a sigmoid per label, 0.5 per label."""

    multi_label = True
    problem_type = "multi_label_classification"

    def __init__(self, y: np.ndarray):
        self.classes = np.arange(y.shape[1])

    def encode(self, y: np.ndarray) -> np.ndarray:
        return y.astype(np.float32)

    def strata(self, y: np.ndarray) -> np.ndarray:
        return y.argmax(axis=1)

    def balanced_weights(self, encoded: np.ndarray) -> np.ndarray:
        """Per label n_negative / n_positive, so its positives weigh as much as its negatives."""
        positives = encoded.sum(axis=0)
        negatives = len(encoded) - positives
        return np.where((positives > 0) & (negatives > 0), negatives / np.maximum(positives, 1), 1.0)

    def loss(self, weights):
        """A sigmoid cross-entropy per label, each label's positive term weighted by its weight
        (``None``: unweighted), summed over a batch; ``loss_denominator`` turns it into the mean."""
        import torch

        return torch.nn.BCEWithLogitsLoss(pos_weight=weights, reduction="sum")

    def loss_denominator(self, encoded_batch: np.ndarray, weights) -> float:
        """One term per text and label, as BCEWithLogitsLoss's own mean divides by."""
        return float(encoded_batch.size)

    def truth(self, y: np.ndarray) -> np.ndarray:
        return y

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        return (probabilities >= 0.5).astype(int)

    labels = decide


def targets_for(y: np.ndarray) -> SingleLabelTargets | MultiLabelTargets:
    """Labels give single-label training; an indicator matrix gives multi-label training."""
    return MultiLabelTargets(y) if y.ndim == 2 else SingleLabelTargets(y)


def class_weights(class_weight, targets: SingleLabelTargets | MultiLabelTargets, encoded: np.ndarray):
    """The weights ``targets.loss`` takes for ``class_weight`` (scikit-learn's meaning), from the
    ``encoded`` targets of the rows trained on; ``None`` for ``None``. A label absent from those rows
    (or, multi-label, present in all of them) weighs 1; so does a label a dict leaves out."""
    import torch

    if class_weight is None:
        return None
    if class_weight == "balanced":
        return torch.tensor(targets.balanced_weights(encoded), dtype=torch.float32)
    known = targets.classes.tolist()
    for label in class_weight:
        if label not in known:
            raise UserError(f"class_weight names label {label!r}, which is not among the labels trained on "
                            f"({', '.join(map(str, known))}). Fix: use one of those in model.estimator.class_weight")
    return torch.tensor([class_weight.get(label, 1.0) for label in known], dtype=torch.float32)


class BatchLoss:
    """A training step's loss and gradients: the mean loss over the whole batch, whether one process
    computes it or torchrun's processes each compute a share of its rows (``data_parallel.shard``).

    Each process sums the loss over its rows and divides by the whole batch's denominator (which
    every process can count: all of them hold all the targets), times the number of processes,
    because ``DistributedDataParallel`` averages their gradients. The sum of their gradients is
    then the batch mean's gradient, as in one process. (This is the scaling transformers' Trainer
    gets wrong for classification heads unless ``average_tokens_across_devices=False``.)
    """

    def __init__(self, targets, weights, ranks: data_parallel.Ranks, device: str):
        self.targets, self.weights, self.ranks, self.device = targets, weights, ranks, device
        self.summed_loss = targets.loss(weights).to(device)

    def step(self, logits, encoded: np.ndarray, mine, row_weight: float, batch_rows) -> float:
        """Back-propagate the batch-mean loss of ``mine``'s ``logits``; return the whole batch's mean loss."""
        import torch

        denominator = self.targets.loss_denominator(encoded[batch_rows], self.weights)
        share = self.summed_loss(logits.float(), torch.as_tensor(encoded[mine], device=self.device)) * row_weight
        (share * (self.ranks.world_size / denominator)).backward()
        return data_parallel.all_reduce_sum(share.item(), self.ranks, self.device) / denominator
