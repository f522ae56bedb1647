"""Dropout that draws its masks four elements to a random number, for training on the CPU.

torch's CPU dropout draws one random number per element from a serial generator: fine-tuning
MiniLM in bf16 at batch 16, that is about a fifth of a step. ``bits_dropout`` draws 64 random bits
per four elements and keeps an element where its 16 bits clear the threshold: the same Bernoulli
masks (keep probability rounded to 1/65,536) from a quarter of the draws, still from torch's
seeded generator. ``bits_dropout_while_training`` puts it in a transformers model for the length
of a ``with`` block: in place of its ``nn.Dropout`` modules and, through transformers'
``AttentionInterface``, on the attention probabilities (else its attention keeps torch's dropout).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

ATTENTION = "textclf_bits_dropout"


def bits_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Zero each element of ``x`` with probability ``p`` (to 1/65,536), scale the rest by 1/(1-p)."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    draws = torch.empty((x.numel() + 3) // 4, dtype=torch.int64, device=x.device).random_(-2**63, None)  # 64 bits
    bits = draws.view(torch.int16)[:x.numel()].view(x.shape)
    return torch.where(bits >= round(p * 65536) - 32768, x * (1.0 / (1.0 - p)), 0.0)


class BitsDropout(nn.Dropout):
    """``nn.Dropout`` with ``bits_dropout``'s masks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bits_dropout(x, self.p, self.training)


def attention_with_bits_dropout(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' eager attention (scaled scores, additive mask, softmax, dropout, weighted
    values) with ``bits_dropout`` on the attention probabilities. In bf16 training on a CPU it is
    also faster than SDPA, whose dropout falls back to the same steps with torch's dropout."""
    if key.shape[1] != query.shape[1]:  # grouped-query attention: every query head gets its key/value head
        key, value = (t.repeat_interleave(query.shape[1] // t.shape[1], dim=1) for t in (key, value))
    scores = torch.matmul(query, key.transpose(2, 3)) * (query.shape[-1] ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = bits_dropout(scores.softmax(dim=-1), dropout, module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, eager_mask

    if ATTENTION not in ALL_MASK_ATTENTION_FUNCTIONS:
        AttentionInterface.register(ATTENTION, attention_with_bits_dropout)
        AttentionMaskInterface.register(ATTENTION, eager_mask)  # the additive float mask eager attention reads


def _swap_dropout_modules(model: nn.Module, kind: type[nn.Dropout]) -> None:
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) in (nn.Dropout, BitsDropout):
                setattr(parent, name, kind(child.p).train(child.training))


@contextmanager
def bits_dropout_while_training(model):
    """``model`` with ``bits_dropout`` in its dropout modules and attention inside the block; as it
    was (torch's dropout, its own attention) after it, so what predicts and is saved is unchanged."""
    _register_attention()
    attention = model.config._attn_implementation
    _swap_dropout_modules(model, BitsDropout)
    model.set_attn_implementation(ATTENTION)
    try:
        yield model
    finally:
        model.set_attn_implementation(attention)
        _swap_dropout_modules(model, nn.Dropout)
