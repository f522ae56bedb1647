"""int8 inference: a transformer part as an ONNX graph with int8 weights, run by ONNX Runtime.

What ``inference: int8`` saves and runs. The graph (``model.int8.onnx``, a protobuf of standard
operators and weights, no code) takes token ids and returns one row per text: the pooled sentence
vector of an encoder, or the logits of a fine-tuned classifier. Its Linear weights
are int8 per output channel; activations are quantized as they come, per call (dynamic
quantization), so the CPU's int8 dot-product instructions do the matrix products.

Imports onnxruntime and tokenizers only (lazily), never torch or transformers: an int8 model
loads in a fraction of the time a float one takes. ``textclf.models.quantization`` writes the graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .inference import characters_read

INT8_GRAPH = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
# The graph's inputs, and the field of a tokenizers ``Encoding`` each is read from.
ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


class Int8Graph:
    """Texts in, one row per text out: the tokenizer, then the int8 graph, one text per call.

    One text at a time, never padded and never batched: activations are quantized per call, so in
    a batch each text's numbers would move with the texts beside it (a served label could change
    with the request it came in); alone, a text gets the same numbers in training, in ``predict``
    and from ``mlflow models serve``. It costs little: all-MiniLM-L6-v2 on 2 cores tagged the seed
    test split at ~610 passages/s one by one, ~585 in padded batches of 64, ~735 in batches of 8
    (``batch_size`` is kept for the fp32 path and the saved settings).
    """

    def __init__(self, graph: bytes, tokenizer, max_length: int, batch_size: int, num_threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or 0  # 0: ONNX Runtime's own choice, one per physical core
        self.serialized, self.max_length, self.batch_size = graph, max_length, batch_size
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.inputs = {node.name: ENCODING_FIELDS[node.name] for node in self.session.get_inputs()}
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        width = self.session.get_outputs()[0].shape[1]  # a name where tracing left it symbolic
        self.width = width if isinstance(width, int) else self._run(self.tokenizer.encode("x")).shape[0]

    @classmethod
    def load(cls, folder: str, max_length: int, batch_size: int) -> Int8Graph:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(Path(folder) / TOKENIZER_FILE))
        return cls((Path(folder) / INT8_GRAPH).read_bytes(), tokenizer, max_length, batch_size)

    def characters_read(self, text: str) -> int:
        return characters_read(self.tokenizer, text, self.max_length)

    def run(self, texts: list[str], progress: bool = False) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)  # in Rust, on every core
        if progress:
            from tqdm.auto import tqdm

            encodings = tqdm(encodings, desc="encoding", unit="text")
        rows = np.zeros((len(texts), self.width), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            rows[row] = self._run(encoding)
        return rows

    def _run(self, encoding) -> np.ndarray:
        feed = {name: np.array([getattr(encoding, field)], dtype=np.int64) for name, field in self.inputs.items()}
        return self.session.run(None, feed)[0][0]


class Int8EncoderFeatures:
    """Sentence embeddings from an int8 encoder graph (pooling and normalisation inside it); the
    interface of ``inference.EncoderFeatures``."""

    inference = "int8"

    def __init__(self, graph: Int8Graph, folder: str, pooling: tuple[str, ...], normalize: bool):
        self.graph, self.folder = graph, folder
        self.max_length, self.batch_size = graph.max_length, graph.batch_size
        self.pooling, self.normalize = tuple(pooling), normalize

    @classmethod
    def load(cls, folder: str, max_length: int, batch_size: int, pooling: tuple[str, ...], normalize: bool):
        return cls(Int8Graph.load(folder, max_length, batch_size), folder, pooling, normalize)

    @property
    def dimension(self) -> int:
        return self.graph.width

    def transform(self, texts) -> np.ndarray:
        return self.encode(list(texts))

    def characters_read(self, text: str) -> int:
        return self.graph.characters_read(text)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self.graph.run(texts, progress)


class Int8SequenceClassifier:
    """Class probabilities from an int8 fine-tuned classifier graph's logits: a softmax, or a
    sigmoid per label, in float64 as ``inference.SequenceClassifier`` computes them (its interface)."""

    inference = "int8"

    def __init__(self, graph: Int8Graph, multi_label: bool):
        self.graph, self.multi_label = graph, multi_label
        self.max_length, self.batch_size = graph.max_length, graph.batch_size

    @classmethod
    def load(cls, folder: str, multi_label: bool, max_length: int, batch_size: int):
        return cls(Int8Graph.load(folder, max_length, batch_size), multi_label)

    def characters_read(self, text: str) -> int:
        return self.graph.characters_read(text)

    def predict_proba(self, texts) -> np.ndarray:
        logits = self.graph.run(list(texts)).astype(np.float64)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        exponent = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exponent / exponent.sum(axis=1, keepdims=True)
