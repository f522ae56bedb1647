"""``inference: int8``: a fitted torch text model turned into the int8 graph ``serving.int8`` runs.

The float model is traced into an ONNX graph, with an encoder's pooling and normalisation (a
classifier's graph returns its logits); ONNX Runtime's dynamic
quantization then stores the weights of its matrix products (the Linear layers) as int8, one
scale per output channel; token embeddings, layer norms, softmax and the attention products stay
float. Per channel, not per tensor: all-MiniLM-L6-v2's sentence vectors stay at cosine 0.992 of
float on average on the seed test split (0.978 at worst), against 0.956 per tensor, and 0.974
for torch's own per-channel dynamic quantization (which keeps 7 bits of each activation and ran
at 406 passages/s here, against ONNX Runtime's 540). Quantizing the token embeddings as well
would shrink the graph from 59 to 23 MB at no speed gain, and moved more zero-shot labels.
Exporting and quantizing MiniLM takes about 2 s (5.4 s on a 2-core CPU without AVX512), so a
frozen encoder's graph is kept in a cache folder (``cached_graph``) and read back by the next fit:
a cross-validation's folds, a sweep's runs, the next ``train.py``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

from sklearn.utils._param_validation import StrOptions

from textclf import extras
from textclf.errors import TextclfWarning, UserError
from textclf.serving.int8 import ENCODING_FIELDS, Int8EncoderFeatures, Int8Graph, Int8SequenceClassifier

# An estimator's ``inference``: fp32 runs the float model in torch; int8 its int8 graph in ONNX
# Runtime. In ``_parameter_constraints``, so ``models.params`` checks it before a run starts.
INFERENCE_CONSTRAINT = [StrOptions({"fp32", "int8"})]
OPSET = 17
# Two texts of different token lengths: the traced graph must include the padding mask.
TRACING_TEXTS = ["x", "x x x x x x"]
TOKENIZER_CHECK = [*TRACING_TEXTS, "Seoul's Foreign Minister, 2025: \"talks\" (ROK-U.S.) — déjà vu 한국"]
# Part of a cached graph's key: change it when what int8_encoder traces changes (_pooled, and
# serving.inference.pool, which it calls), so that no cache serves a graph built the old way.
GRAPH_FORMAT = 1
# The packages whose code is traced into a graph or quantizes it: another version may build another.
EXPORTERS = ("torch", "transformers", "onnx", "onnxruntime")


def require_int8_extra(inference: str) -> None:
    """Refuse ``inference="int8"`` without the packages it needs, naming the fix."""
    if inference != "int8":
        return
    try:
        extras.require_extra("int8")
    except ModuleNotFoundError:
        raise UserError(extras.missing_extra_message("inference=int8", "int8")
                        + ", or set the model's inference to fp32") from None


def int8_encoder(features, num_threads: int | None = None, cache_dir: str | None = None) -> Int8EncoderFeatures:
    """``inference.EncoderFeatures`` (float, torch) as an int8 graph with the same pooling.
    ``cache_dir``: where the graph of an encoder whose weights are its folder's (not tuned) is
    kept and read back (``cached_graph``); None, or an encoder named on the hub, builds it every
    time."""
    names, tokenizer = _input_names(features.tokenizer), _fast_tokenizer(features.tokenizer)

    def build() -> bytes:
        return _int8_graph(_pooled(features, names), features.tokenizer, names)

    def session(graph: bytes) -> Int8Graph:
        return Int8Graph(graph, tokenizer, features.max_length, features.batch_size, num_threads)

    if cache_dir and Path(features.folder).is_dir():  # a hub name may stand for other weights tomorrow
        graph = cached_graph(cache_dir, _graph_key(features, names), build, session)
    else:
        graph = session(build())
    return Int8EncoderFeatures(graph, features.folder, features.pooling, features.normalize)


def cached_graph(cache_dir: str, key: str, build, session) -> Int8Graph:
    """``session(graph)`` of the graph cached under ``key`` in ``cache_dir``/int8, or of a new one
    from ``build()``, then cached. The file is named by its key and a hash of its bytes, checked
    on every read: a file that does not match (cut short by a full disk, or another graph in its
    place) is removed and the graph built again. Written to a temporary file and renamed, so that
    a reader (another sweep job) never sees half a graph; a cache that cannot be written costs a
    warning, not the fit."""
    folder = Path(cache_dir) / "int8"
    for path in sorted(folder.glob(f"{key}-*.onnx")):
        try:
            graph = path.read_bytes()
        except OSError:  # removed by another process meanwhile, or not a file
            continue
        if path.stem == f"{key}-{_digest(graph)}":
            return session(graph)
        warnings.warn(f"the cached int8 graph {path} is damaged; building it again", TextclfWarning, stacklevel=2)
        path.unlink(missing_ok=True)
    graph = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f"{key}-", suffix=".partial", dir=folder)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(graph)
            os.replace(partial, folder / f"{key}-{_digest(graph)}.onnx")
        finally:
            Path(partial).unlink(missing_ok=True)
    except OSError as error:
        warnings.warn(f"could not keep the int8 graph in {folder} ({error}); it is built again at every fit. "
                      "Fix: make paths.cache_dir writable", TextclfWarning, stacklevel=2)
    return session(graph)


def _digest(graph: bytes) -> str:
    return hashlib.sha256(graph).hexdigest()[:16]


def _graph_key(features, names: list[str]) -> str:
    """What the graph of an untuned encoder depends on: its folder's weights, config and tokenizer,
    its inputs, the pooling and normalisation traced into it, and how it was exported."""
    from textclf.models.embedding_cache import encoder_fingerprint

    parts = [encoder_fingerprint(features.folder), "+".join(names), "+".join(features.pooling),
             str(int(features.normalize)), f"opset{OPSET}", f"format{GRAPH_FORMAT}",
             *(f"{name}{version(name)}" for name in EXPORTERS)]
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:24]


def _pooled(features, names: list[str]):
    """The encoder with its pooling and normalisation, as one module from token tensors to rows."""
    import torch

    from textclf.serving.inference import pool

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = features.model

        def forward(self, *inputs):
            batch = dict(zip(names, inputs))
            pooled = pool(self.model(**batch).last_hidden_state, batch["attention_mask"], features.pooling)
            return torch.nn.functional.normalize(pooled, dim=-1) if features.normalize else pooled

    return Pooled()


def int8_classifier(model, tokenizer, multi_label: bool, max_length: int, batch_size: int,
                    num_threads: int | None = None) -> Int8SequenceClassifier:
    """A fine-tuned sequence classifier as an int8 graph that returns its logits."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs))).logits

    names = _input_names(tokenizer)
    graph = Int8Graph(_int8_graph(Logits(), tokenizer, names), _fast_tokenizer(tokenizer), max_length,
                      batch_size, num_threads)
    return Int8SequenceClassifier(graph, multi_label)


def _input_names(tokenizer) -> list[str]:
    names = list(tokenizer.model_input_names)
    unknown = sorted(set(names) - set(ENCODING_FIELDS))
    if unknown or "attention_mask" not in names:
        raise UserError(f"the encoder's tokenizer gives {names}; int8 inference feeds only {list(ENCODING_FIELDS)}. "
                        "Fix: set the model's inference to fp32")
    return names


def _fast_tokenizer(tokenizer):
    """A copy of a transformers fast tokenizer's own ``tokenizers.Tokenizer``, the one saved as
    tokenizer.json: what the int8 graph reads its token ids from, in training and once loaded.
    Refused where it would not give the ids transformers gives (special tokens added in Python)."""
    from tokenizers import Tokenizer

    refusal = UserError("int8 inference reads token ids with the encoder's tokenizer.json alone, which gives other "
                        "ids than this encoder's tokenizer. Fix: set the model's inference to fp32")
    if not getattr(tokenizer, "is_fast", False):
        raise refusal
    copy = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    copy.no_padding()
    copy.no_truncation()
    if [encoding.ids for encoding in copy.encode_batch(TOKENIZER_CHECK)] != tokenizer(TOKENIZER_CHECK)["input_ids"]:
        raise refusal
    return copy


def _int8_graph(module, tokenizer, names: list[str]) -> bytes:
    """``module`` (token tensors in ``names`` order -> one row per text) as an int8 ONNX graph."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    example = tokenizer(TRACING_TEXTS, padding=True, return_tensors="pt")
    axes = {name: {0: "texts", 1: "tokens"} for name in names}
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # The TorchScript exporter: 0.5 s and only the onnx package, where torch.export's takes 4.6 s
        # and onnxscript too. Its deprecation and tracer warnings are about models with control
        # flow; the graph is checked against the float model in tests/serving/test_int8.py.
        warnings.simplefilter("ignore")
        float_graph, int8_graph = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        torch.onnx.export(module.eval(), tuple(example[name] for name in names), str(float_graph),
                          input_names=names, output_names=["rows"], dynamic_axes={**axes, "rows": {0: "texts"}},
                          opset_version=OPSET, dynamo=False)
        # Its advice to pre-process (shape inference fails on these graphs) and its per-tensor INFO
        # lines go to the root logger, which Hydra shows at INFO.
        advice = _Without("pre-processing before quantization")
        logging.getLogger().addFilter(advice)
        try:
            quantize_dynamic(float_graph, int8_graph, weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
        finally:
            logging.getLogger().removeFilter(advice)
        return int8_graph.read_bytes()


class _Without(logging.Filter):
    """Drops the log records whose message contains ``text``, and those below WARNING."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and self.text not in record.getMessage()
