"""``inference: int8``: the int8 graph answers as the float model does, travels as data only, runs
each text on its own, and loads without torch; tiny BERT, offline."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from textclf.models.embedder import SentenceEmbedder
from textclf.serving.decision import ArgmaxDecision
from textclf.serving.int8 import INT8_GRAPH, Int8EncoderFeatures
from textclf.serving.reader import load_state
from textclf.serving.writer import save_state

TEXTS = ["missile launch in pyongyang", "rocket fired on the week", "pyongyang fired a missile",
         "a rocket launch of pyongyang", "summit meeting in seoul", "the minister visit to tokyo",
         "talks and meeting on the week", "minister talks in tokyo"]
LABELS = ["security"] * 4 + ["visit"] * 4
# What a saved model may hold: weights, graphs, tokenizer and settings, arrays; never a pickle.
DATA_SUFFIXES = {".json", ".npy", ".safetensors", ".onnx", ".txt"}
PICKLE_OPCODES = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def saved_int8_pipeline(tiny, folder):
    pipeline = Pipeline([("features", SentenceEmbedder(encoder=tiny, inference="int8")),
                         ("classifier", LogisticRegression())]).fit(TEXTS, LABELS)
    save_state(pipeline, ArgmaxDecision(("security", "visit")), folder)
    return pipeline


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "lasttoken"])
def test_int8_embeddings_are_the_float_ones_within_quantization_noise(tiny, pooling):
    float_vectors = SentenceEmbedder(encoder=tiny, pooling=pooling, normalize=True).fit(TEXTS).transform(TEXTS)
    int8 = SentenceEmbedder(encoder=tiny, pooling=pooling, normalize=True, inference="int8").fit(TEXTS)
    assert isinstance(int8.features_, Int8EncoderFeatures)
    vectors = int8.transform(TEXTS)
    assert vectors.shape == float_vectors.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # normalised in the graph
    assert (vectors * float_vectors).sum(axis=1).min() > 0.999  # cosine to float, text by text


def test_the_graph_really_is_int8(tiny, tmp_path):
    import onnx

    saved_int8_pipeline(tiny, tmp_path)
    graph = onnx.load(str(tmp_path / "encoder_0" / INT8_GRAPH))
    operators = {node.op_type for node in graph.graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= operators or "DynamicQuantizeMatMul" in operators
    float_matmuls = [n.name for n in graph.graph.node if n.op_type == "MatMul" and "dense" in n.name]
    assert float_matmuls == []  # every Linear layer runs in int8


def test_saved_int8_model_is_data_only_and_predicts_as_in_training(tiny, tmp_path):
    pipeline = saved_int8_pipeline(tiny, tmp_path)
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {path.suffix for path in files} <= DATA_SUFFIXES
    assert not [path for path in files if path.read_bytes()[:2] in PICKLE_OPCODES]
    state = json.loads((tmp_path / "state.json").read_text())
    assert '"inference": "int8"' in json.dumps(state)
    loaded, _ = load_state(tmp_path)
    assert isinstance(loaded[0], Int8EncoderFeatures)
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), pipeline.predict_proba(TEXTS))


def test_a_text_gets_the_same_numbers_alone_or_among_others(tiny):
    """Activations are quantized per call: were texts batched, a text's vector would depend on the
    texts beside it, and a served label on the request it came in."""
    features = SentenceEmbedder(encoder=tiny, inference="int8").fit(TEXTS).features_
    together = features.transform(TEXTS + ["talks " * 40])  # a long text beside them changes nothing
    alone = np.stack([features.transform([text])[0] for text in TEXTS])
    np.testing.assert_array_equal(together[:len(TEXTS)], alone)


def test_an_int8_model_loads_and_predicts_without_torch_or_transformers(tiny, tmp_path):
    pipeline = saved_int8_pipeline(tiny, tmp_path)
    script = textwrap.dedent(f"""
        import json, sys
        from textclf.serving.reader import load_state
        estimator, _ = load_state({str(tmp_path)!r})
        probabilities = estimator.predict_proba({TEXTS!r}).tolist()
        print(json.dumps([[name for name in ("torch", "transformers") if name in sys.modules], probabilities]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported, probabilities = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == []
    np.testing.assert_array_equal(probabilities, pipeline.predict_proba(TEXTS))


def test_a_fit_that_finds_the_cached_graph_imports_neither_torch_nor_transformers(tiny, tmp_path):
    """What makes a second `train.py model=minilm_logreg` seconds faster: the cached entry is all
    the fit needs, in a fresh interpreter too."""
    def pipeline():
        return Pipeline([("features", SentenceEmbedder(encoder=tiny, inference="int8", cache_dir=str(tmp_path))),
                         ("classifier", LogisticRegression())])

    built = pipeline().fit(TEXTS, LABELS)
    script = textwrap.dedent(f"""
        import json, sys
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from textclf.models.embedder import SentenceEmbedder
        pipeline = Pipeline([("features", SentenceEmbedder(encoder={tiny!r}, inference="int8",
                                                           cache_dir={str(tmp_path)!r})),
                             ("classifier", LogisticRegression())]).fit({TEXTS!r}, {LABELS!r})
        probabilities = pipeline.predict_proba({TEXTS!r} + ["a text no cache holds"]).tolist()
        print(json.dumps([[name for name in ("torch", "transformers") if name in sys.modules], probabilities]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported, probabilities = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == []
    np.testing.assert_array_equal(probabilities, built.predict_proba(TEXTS + ["a text no cache holds"]))


def test_int8_models_pin_onnxruntime_not_torch(tiny, tmp_path):
    pipeline = Pipeline([("features", SentenceEmbedder(encoder=tiny, inference="int8")),
                         ("classifier", LogisticRegression())]).fit(TEXTS, LABELS)
    packages = save_state(pipeline, ArgmaxDecision(("security", "visit")), tmp_path)
    assert {"onnxruntime", "tokenizers"} <= set(packages) and "torch" not in packages and "transformers" not in packages


def test_a_frozen_encoders_graph_is_built_once_then_read_from_the_cache(tiny, tmp_path, monkeypatch):
    from textclf.models import embedder as embedder_module, quantization

    def embedder(**settings):
        return SentenceEmbedder(encoder=tiny, inference="int8", cache_dir=str(tmp_path), **settings).fit(TEXTS)

    built = SentenceEmbedder(encoder=tiny, inference="int8").fit(TEXTS)  # no cache: built here
    first = embedder()
    (cached,) = (tmp_path / "int8").iterdir()
    entry = cached.read_bytes()  # the tokenizer, then the graph
    assert entry.endswith(first.features_.graph.serialized)
    assert np.array_equal(first.transform(TEXTS[:1] + ["a text the embedding cache lacks"]),
                          built.transform(TEXTS[:1] + ["a text the embedding cache lacks"]))

    def exported_again(*args):
        raise AssertionError("the graph was exported again")

    def float_model_loaded(*args):
        raise AssertionError("the float model was loaded: the cached entry is all a fit needs")

    with monkeypatch.context() as patched:
        patched.setattr(quantization, "_int8_graph", exported_again)
        patched.setattr(embedder_module, "load_encoder", float_model_loaded)
        again = embedder()
    assert again.features_.graph.serialized == first.features_.graph.serialized
    assert np.array_equal(again.transform(["another text the cache lacks"]), built.transform(["another text the cache lacks"]))
    assert again.characters_read("missile launch " * 200) == built.characters_read("missile launch " * 200)

    # The pooling is traced into the graph: another pooling is another graph.
    cls = embedder(pooling="cls")
    (other,) = set((tmp_path / "int8").iterdir()) - {cached}
    assert not np.allclose(cls.transform(["one more new text"]), first.transform(["one more new text"]))

    # Half a file (a disk that filled up), or another graph in its place: built again, with a warning.
    for damaged in (entry[: len(entry) // 2], other.read_bytes()):
        cached.write_bytes(damaged)
        with pytest.warns(UserWarning, match="damaged"):
            assert embedder().features_.graph.serialized == first.features_.graph.serialized
        assert cached.read_bytes() == entry
    assert sorted(path.suffix for path in (tmp_path / "int8").iterdir()) == [".onnx", ".onnx"]


def test_the_cached_graph_follows_the_encoders_tokenizer_files(tiny, tmp_path):
    """The cached entry holds the tokenizer made from the folder's tokenizer files: another
    tokenizer_config.json (or vocab.txt...) is another entry, not the old tokenizer."""
    import shutil

    folder = tmp_path / "encoder"
    shutil.copytree(tiny, folder)
    cache = tmp_path / "cache"
    SentenceEmbedder(encoder=str(folder), inference="int8", cache_dir=str(cache)).fit(TEXTS)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**settings, "model_max_length": 64}))
    SentenceEmbedder(encoder=str(folder), inference="int8", cache_dir=str(cache)).fit(TEXTS)
    assert len(list((cache / "int8").iterdir())) == 2


def test_a_cache_folder_that_cannot_be_written_costs_a_warning_not_the_fit(tiny, tmp_path):
    built = SentenceEmbedder(encoder=tiny, inference="int8", cache_dir=str(tmp_path / "writable")).fit(TEXTS)
    (name,) = [path.name for path in (tmp_path / "writable" / "int8").iterdir()]
    (tmp_path / "no-folder").mkdir()
    (tmp_path / "no-folder" / "int8").write_text("a file where the graphs' folder would be")
    (tmp_path / "no-file" / "int8" / name).mkdir(parents=True)  # a folder where the graph would go
    for cache in ("no-folder", "no-file"):
        with pytest.warns(UserWarning, match="could not keep the int8 graph"):
            embedder = SentenceEmbedder(encoder=tiny, inference="int8", cache_dir=str(tmp_path / cache)).fit(TEXTS)
        assert np.array_equal(embedder.transform(["a text"]), built.transform(["a text"]))
    assert [path.name for path in (tmp_path / "no-file" / "int8").iterdir()] == [name]  # no half-written file left


def test_the_graph_of_an_encoder_named_on_the_hub_is_not_cached(tiny, tmp_path):
    """A hub name may stand for other weights tomorrow; a folder's files are what the key hashes."""
    from textclf.models.encoders import encoder_layout, load_encoder
    from textclf.models.quantization import int8_encoder

    features = load_encoder(encoder_layout(tiny, None, None), 128, 64)
    features.folder = "someone/an-encoder"  # as EncoderFeatures holds a hub name it was loaded by
    int8_encoder(features, cache_dir=str(tmp_path))
    assert not (tmp_path / "int8").exists()
