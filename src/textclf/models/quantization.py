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
a cross-validation's folds, a sweep's runs, the next ``train.py``. The cached entry holds the
tokenizer the graph reads its ids from too, so that a fit which finds it (``cached_int8_encoder``)
loads neither torch nor the float model: about 3.7 s here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
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
# serving.inference.pool, which it calls) or what an entry holds, so that no cache serves an entry
# built the old way. 2: an entry holds the tokenizer beside the graph.
GRAPH_FORMAT = 2
# The packages whose code is traced into a graph, quantizes it, or writes its tokenizer: another
# version may build another.
EXPORTERS = ("torch", "transformers", "onnx", "onnxruntime", "tokenizers")
# An encoder folder's files that are not its weights: config and tokenizer (tokenizer_config.json,
# vocab.txt...), hashed whole into a graph's key, since the cached tokenizer comes from them.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ot", ".ckpt")


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
        return _entry(_int8_graph(_pooled(features, names), features.tokenizer, names), tokenizer)

    if cache_dir and Path(features.folder).is_dir():  # a hub name may stand for other weights tomorrow
        entry = cached_graph(cache_dir, _graph_key(features.folder, features.pooling, features.normalize), build)
    else:
        entry = build()
    return _encoder_features(entry, features.folder, features.pooling, features.normalize, features.max_length,
                             features.batch_size, num_threads)


def cached_int8_encoder(layout, max_length: int, batch_size: int, num_threads: int | None = None,
                        cache_dir: str | None = None) -> Int8EncoderFeatures | None:
    """What ``int8_encoder`` gives for the encoder of ``layout`` (``encoders.EncoderLayout``), read
    from ``cache_dir`` without torch, transformers or the float model; None when it is not cached."""
    if not cache_dir or not Path(layout.folder).is_dir():
        return None
    entry = cached_graph(cache_dir, _graph_key(layout.folder, layout.pooling, layout.normalize), build=None)
    if entry is None:
        return None
    return _encoder_features(entry, layout.folder, layout.pooling, layout.normalize, max_length, batch_size,
                             num_threads)


def _entry(graph: bytes, tokenizer) -> bytes:
    """A cache entry: the tokenizer (``tokenizers.Tokenizer`` as JSON) and its length first, then the graph."""
    header = tokenizer.to_str().encode("utf-8")
    return len(header).to_bytes(8, "little") + header + graph


def _encoder_features(entry: bytes, folder: str, pooling, normalize: bool, max_length: int, batch_size: int,
                      num_threads: int | None) -> Int8EncoderFeatures:
    from tokenizers import Tokenizer

    length = int.from_bytes(entry[:8], "little")
    tokenizer = Tokenizer.from_str(entry[8:8 + length].decode("utf-8"))
    graph = Int8Graph(entry[8 + length:], tokenizer, max_length, batch_size, num_threads)
    return Int8EncoderFeatures(graph, folder, pooling, normalize)


def cached_graph(cache_dir: str, key: str, build) -> bytes | None:
    """The entry cached under ``key`` in ``cache_dir``/int8, or a new one from ``build()``, then
    cached (``build`` None: None when nothing usable is cached). The file is named by its key and a
    hash of its bytes, checked on every read: a file that does not match (cut short by a full disk,
    or another graph in its place) is removed. Written to a temporary file and renamed, so that
    a reader (another sweep job) never sees half a graph; a cache that cannot be written costs a
    warning, not the fit."""
    folder = Path(cache_dir) / "int8"
    for path in sorted(folder.glob(f"{key}-*.onnx")):
        try:
            entry = path.read_bytes()
        except OSError:  # removed by another process meanwhile, or not a file
            continue
        if path.stem == f"{key}-{_digest(entry)}":
            return entry
        warnings.warn(f"the cached int8 graph {path} is damaged; building it again", TextclfWarning, stacklevel=2)
        path.unlink(missing_ok=True)
    if build is None:
        return None
    entry = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f"{key}-", suffix=".partial", dir=folder)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(entry)
            os.replace(partial, folder / f"{key}-{_digest(entry)}.onnx")
        finally:
            Path(partial).unlink(missing_ok=True)
    except OSError as error:
        warnings.warn(f"could not keep the int8 graph in {folder} ({error}); it is built again at every fit. "
                      "Fix: make paths.cache_dir writable", TextclfWarning, stacklevel=2)
    return entry


def _installed(package: str) -> str:
    """The package's version, or "absent": without torch a key matches no entry, and the fit
    that needs the float model says which extra to install."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def _digest(entry: bytes) -> str:
    return hashlib.sha256(entry).hexdigest()[:16]


def _graph_key(folder: str, pooling, normalize: bool) -> str:
    """What the graph of an untuned encoder and its tokenizer depend on: its folder's weights,
    config and tokenizer files, the pooling and normalisation traced into it, and how it was
    exported. (The graph's inputs are the tokenizer's, so its files and transformers decide them.)"""
    from textclf.models.embedding_cache import encoder_fingerprint

    side_files = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and path.suffix not in WEIGHT_SUFFIXES:
            side_files.update(path.name.encode("utf-8") + b"\0" + path.read_bytes())
    parts = [encoder_fingerprint(folder), side_files.hexdigest(), "+".join(pooling), str(int(normalize)),
             f"opset{OPSET}", f"format{GRAPH_FORMAT}", *(f"{name}{_installed(name)}" for name in EXPORTERS)]
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
