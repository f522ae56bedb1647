"""Transformer estimators: scikit-learn contract, overfit, cache, save-load; tiny BERT, offline.

Zero-shot's and the contrastive embedder's own behaviour is tested in test_zeroshot.py and
test_contrastive.py; here they take the checks every estimator passes."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks

from textclf.serving.writer import save_state
from textclf.serving.reader import load_state
from textclf.models.contrastive import ContrastiveEmbedder
from textclf.models.embedder import SentenceEmbedder
from textclf.models.finetune import TransformerClassifier
from textclf.models.zeroshot import ZeroShotClassifier
from textclf.serving.decision import ArgmaxDecision

SECURITY = ["missile launch in pyongyang", "rocket fired on the week", "pyongyang fired a missile",
            "a rocket launch of pyongyang"]
VISITS = ["summit meeting in seoul", "the minister visit to tokyo", "talks and meeting on the week",
          "minister talks in tokyo"]
TEXTS, LABELS = SECURITY + VISITS, ["security"] * 4 + ["visit"] * 4


def estimators(tiny):
    return [SentenceEmbedder(encoder=tiny), TransformerClassifier(encoder=tiny, progress=False),
            ZeroShotClassifier(encoder=tiny, descriptions={"security": "missile", "visit": "summit"}),
            ContrastiveEmbedder(encoder=tiny, progress=False)]


@pytest.mark.parametrize("check", [
    estimator_checks.check_no_attributes_set_in_init,
    estimator_checks.check_parameters_default_constructible,
    estimator_checks.check_get_params_invariance,
    estimator_checks.check_set_params,
    estimator_checks.check_estimator_cloneable,
    estimator_checks.check_estimator_repr,
    estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
])
def test_basic_scikit_learn_checks(tiny, check):
    for estimator in estimators(tiny):
        check(type(estimator).__name__, estimator)


def test_unfitted_estimators_refuse_to_predict(tiny):
    from sklearn.exceptions import NotFittedError

    embedder, classifier, zero_shot, tuned = estimators(tiny)
    for call in (lambda: embedder.transform(TEXTS), lambda: classifier.predict_proba(TEXTS),
                 lambda: zero_shot.predict(TEXTS), lambda: tuned.transform(TEXTS)):
        with pytest.raises(NotFittedError):
            call()


def test_fine_tuning_overfits_a_tiny_task_and_survives_save_load(tiny, tmp_path, capfd):
    model = TransformerClassifier(encoder=tiny, epochs=30, batch_size=4, learning_rate=5.0e-3,
                                  validation_fraction=0.0, random_state=0, progress=False)
    model.fit(TEXTS, LABELS)
    assert list(model.classes_) == ["security", "visit"]
    assert (model.predict(TEXTS) == np.array(LABELS)).mean() == 1.0
    assert len(model.history_) >= 1 and {"train_loss", "held_out_macro_f1"} <= set(model.history_[0])
    save_state(model, ArgmaxDecision(("security", "visit")), tmp_path)
    loaded, _ = load_state(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6)
    assert_no_loading_bar(capfd)


def assert_no_loading_bar(capfd):
    """transformers' "Loading weights" bar, drawn for each model loaded (in every audit fold), is
    hidden while textclf loads, and transformers' own setting is left as it was."""
    from transformers.utils import logging

    assert "Loading weights" not in capfd.readouterr().err
    assert logging.is_progress_bar_enabled()


def test_early_stopping_restores_the_best_epoch_and_stops(tiny):
    """Among seeded runs with a large learning rate, some epoch scores worse than an earlier one:
    training then stops after ``patience`` worse epochs and the best epoch's weights come back."""
    from sklearn.metrics import f1_score

    texts, labels = TEXTS * 3, LABELS * 3
    stopped_after_a_worse_epoch = 0
    for seed in range(6):
        model = TransformerClassifier(encoder=tiny, epochs=12, batch_size=2, learning_rate=0.05, patience=0,
                                      validation_fraction=0.5, random_state=seed, progress=False).fit(texts, labels)
        scores = [h["held_out_macro_f1"] for h in model.history_]
        held_out = model.held_out_rows_
        restored = f1_score(np.array(labels)[held_out], model.predict([texts[i] for i in held_out]), average="macro")
        assert restored == pytest.approx(max(scores))  # the model kept is the best epoch's
        if scores[-1] < max(scores):
            stopped_after_a_worse_epoch += 1
            assert len(scores) < 12  # patience=0: the first epoch without improvement ends training
            assert len(scores) == scores.index(max(scores)) + 2
    assert stopped_after_a_worse_epoch >= 1  # the case above really happened


def test_each_epochs_held_out_score_is_reported_and_a_listener_can_stop_training(tiny):
    """What a search trial listens to (pruning): every epoch's held-out macro-F1, as it comes;
    raising from the listener ends the fit there."""
    from textclf import held_out_reports
    from textclf.errors import Pruned

    heard = []
    with held_out_reports.listening(lambda kind, step, value: heard.append((kind, step, value))):
        model = TransformerClassifier(encoder=tiny, epochs=3, batch_size=4, patience=5, validation_fraction=0.5,
                                      random_state=0, progress=False).fit(TEXTS * 2, LABELS * 2)
    assert heard == [("epoch", h["epoch"], h["held_out_macro_f1"]) for h in model.history_]
    assert len(heard) == 3

    def prune_at_epoch_2(kind, step, value):
        if step == 2:
            raise Pruned(kind, step, value)

    stopped = TransformerClassifier(encoder=tiny, epochs=5, batch_size=4, patience=5, validation_fraction=0.5,
                                    random_state=0, progress=False)
    with held_out_reports.listening(prune_at_epoch_2), pytest.raises(Pruned, match="after epoch 2"):
        stopped.fit(TEXTS * 2, LABELS * 2)


def test_fine_tuning_is_seeded(tiny):
    first, second = (TransformerClassifier(encoder=tiny, epochs=2, batch_size=4, random_state=3, progress=False)
                     .fit(TEXTS, LABELS).predict_proba(TEXTS) for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_fine_tuning_multilabel(tiny):
    targets = np.array([[1, 0]] * 4 + [[0, 1]] * 3 + [[1, 1]])
    model = TransformerClassifier(encoder=tiny, epochs=40, batch_size=4, learning_rate=5.0e-3,
                                  validation_fraction=0.0, progress=False).fit(TEXTS, targets)
    probabilities = model.predict_proba(TEXTS)
    assert probabilities.shape == (8, 2)
    assert not np.allclose(probabilities.sum(axis=1), 1.0)  # independent sigmoids, not a softmax
    assert (model.predict(TEXTS) == targets).mean() > 0.9


# Twelve security texts, one visit: unweighted, the tiny model never predicts the visit.
IMBALANCED_TEXTS = SECURITY * 3 + VISITS[:1]
IMBALANCED = {"single": ["security"] * 12 + ["visit"], "multi": np.array([[1, 0]] * 12 + [[0, 1]])}
HEAVY_ON_VISIT = {"single": {"visit": 100.0}, "multi": {1: 100.0}}  # multi-label: labels are target columns


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_class_weight_on_the_minority_class_makes_it_predicted_for_more_texts(tiny, kind):
    """One full batch a step: weighting the one visit text 100x outweighs the twelve others."""
    def visits_predicted(class_weight):
        model = TransformerClassifier(encoder=tiny, epochs=5, batch_size=16, learning_rate=5.0e-3, warmup_ratio=0.0,
                                      validation_fraction=0.0, class_weight=class_weight, progress=False)
        predicted = np.asarray(model.fit(IMBALANCED_TEXTS, IMBALANCED[kind]).predict(TEXTS))
        return int((predicted == "visit").sum() if kind == "single" else predicted[:, 1].sum())

    unweighted, balanced, heavy = (visits_predicted(w) for w in (None, "balanced", HEAVY_ON_VISIT[kind]))
    assert unweighted == 0 and unweighted < balanced < heavy == len(TEXTS)


def test_class_weight_losses_match_a_hand_computation():
    import torch
    import torch.nn.functional as F
    from sklearn.utils.class_weight import compute_class_weight

    from textclf.models.targets import class_weights, targets_for

    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -0.2], [-1.0, 1.5, 0.0], [0.7, 0.2, 0.9]])
    labels = np.array(["a", "a", "b", "c", "a", "c"])
    targets = targets_for(labels)
    rows = targets.encode(labels)[[0, 1, 2, 3]]  # the rows trained on: "a", "a", "b", "c"
    balanced = class_weights("balanced", targets, rows)
    np.testing.assert_allclose(balanced, compute_class_weight("balanced", classes=np.array(["a", "b", "c"]),
                                                              y=labels[[0, 1, 2, 3]]))
    given = class_weights({"b": 3.0}, targets, rows)
    assert given.tolist() == [1.0, 3.0, 1.0]  # labels the dict leaves out weigh 1
    encoded = torch.as_tensor(rows)
    by_hand = (given[encoded] * F.cross_entropy(logits, encoded, reduction="none")).sum() / given[encoded].sum()
    torch.testing.assert_close(batch_mean(targets, given, logits, encoded), by_hand)

    indicators = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 1], [0, 0, 1]])
    targets = targets_for(indicators)
    encoded = torch.as_tensor(targets.encode(indicators))
    balanced = class_weights("balanced", targets, targets.encode(indicators))
    assert balanced.tolist() == [3.0, 3.0, 1.0]  # n_negative / n_positive; no negatives: weighs 1
    given = class_weights({0: 4.0}, targets, targets.encode(indicators))
    by_hand = F.binary_cross_entropy_with_logits(logits, encoded, pos_weight=torch.tensor([4.0, 1.0, 1.0]))
    torch.testing.assert_close(batch_mean(targets, given, logits, encoded), by_hand)
    assert not torch.isclose(batch_mean(targets, given, logits, encoded), batch_mean(targets, None, logits, encoded))


def batch_mean(targets, weights, logits, encoded):
    """The loss a training step back-propagates in one process (``BatchLoss.step``) for ``logits``."""
    import torch

    from textclf.models.data_parallel import Ranks
    from textclf.models.targets import BatchLoss

    rows = np.arange(len(logits))
    step = BatchLoss(targets, weights, Ranks(), "cpu").step
    return torch.tensor(step(logits.detach().clone().requires_grad_(), encoded.numpy(), rows, 1.0, rows))


@pytest.mark.parametrize("y", [LABELS, np.array([[1, 0]] * 4 + [[0, 1]] * 3 + [[1, 1]])], ids=["single", "multi"])
def test_class_weight_none_trains_as_the_models_own_loss(tiny, y):
    import torch

    from textclf.models.targets import targets_for

    settings = dict(encoder=tiny, epochs=2, batch_size=4, random_state=3, progress=False)
    unset = TransformerClassifier(**settings).fit(TEXTS, y)
    none = TransformerClassifier(**settings, class_weight=None).fit(TEXTS, y)
    np.testing.assert_array_equal(none.predict_proba(TEXTS), unset.predict_proba(TEXTS))
    # ...and that is the loss the model computes itself from labels=, as training did before class_weight.
    targets = targets_for(np.asarray(y))
    labels = torch.as_tensor(targets.encode(np.asarray(y)))
    inputs = none.tokenizer_(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        output = none.model_(**inputs, labels=labels)
    torch.testing.assert_close(batch_mean(targets, None, output.logits, labels), output.loss)


def test_class_weight_naming_an_unknown_label_or_mode_is_refused(tiny):
    from textclf.errors import UserError
    from textclf.models.params import check_estimator_params

    model = TransformerClassifier(encoder=tiny, class_weight={"visits": 2.0}, progress=False)
    with pytest.raises(UserError, match=r"class_weight names label 'visits'.*\(security, visit\)\. Fix: "):
        model.fit(TEXTS, LABELS)
    with pytest.raises(UserError, match="class_weight"):
        check_estimator_params(TransformerClassifier(encoder=tiny, class_weight="balance"))


def test_class_weight_is_a_config_setting_of_the_trained_minilm_models():
    from helpers.training import composed
    from textclf.config import build, flatten_config

    assert flatten_config(composed("model=minilm_finetune"))["model.estimator.class_weight"] == "None"  # logged
    assert flatten_config(composed("model=minilm_logreg"))["model.classifier.class_weight"] == "balanced"
    cfg = composed("model=minilm_finetune", "model.estimator.class_weight={visit: 3.0}")
    assert build(cfg.model.estimator, "model").get_params()["class_weight"] == {"visit": 3.0}


def test_embeddings_are_cached_on_disk(tiny, tmp_path):
    pipeline = Pipeline([("features", SentenceEmbedder(encoder=tiny, cache_dir=str(tmp_path))),
                         ("classifier", LogisticRegression())])
    pipeline.fit(TEXTS, LABELS)
    embedder = pipeline.named_steps["features"]
    first = embedder.transform(TEXTS)
    again = clone(embedder).fit(TEXTS).transform(TEXTS)  # a new process would see the same file
    np.testing.assert_array_equal(first, again)
    assert (tmp_path / "embeddings.sqlite").exists()
    from textclf.models.embedding_cache import EmbeddingCache

    cache = EmbeddingCache(str(tmp_path), tiny, "128:mean:0")
    calls = []
    cache.embed(TEXTS + ["new text on trust"], lambda missing: calls.append(missing) or embedder.features_.encode(missing))
    assert calls == [["new text on trust"]] and cache.hits == 8
    shorter = SentenceEmbedder(encoder=tiny, cache_dir=str(tmp_path), max_length=4).fit(TEXTS).transform(TEXTS)
    assert not np.array_equal(shorter, first)  # settings are part of the key


def test_encoders_whose_weights_differ_only_in_their_shards_get_different_fingerprints(tiny, tmp_path):
    """What keys the embedding and int8 graph caches: a folder of sharded weights (no
    model.safetensors) counts its weights too, the tokenizer's settings count beside tokenizer.json
    (``do_lower_case: false`` turns a cased word of MiniLM's into [UNK]), and two hub names get two keys."""
    import json
    import shutil

    import torch
    from safetensors.torch import save_file

    from textclf.models.embedding_cache import encoder_fingerprint

    cased = tmp_path / "cased"
    shutil.copytree(tiny, cased)
    settings = json.loads((cased / "tokenizer_config.json").read_text())
    (cased / "tokenizer_config.json").write_text(json.dumps({**settings, "do_lower_case": False}))
    assert encoder_fingerprint(str(cased)) != encoder_fingerprint(tiny)
    fingerprints = set()
    for value in (0.0, 1.0):
        folder = tmp_path / f"sharded-{value}"
        shutil.copytree(tiny, folder)
        (folder / "model.safetensors").unlink()
        save_file({"embeddings.word_embeddings.weight": torch.full((2, 2), value)},
                  str(folder / "model-00001-of-00001.safetensors"))
        fingerprints.add(encoder_fingerprint(str(folder)))
    assert len(fingerprints) == 2
    assert encoder_fingerprint("someone/an-encoder") != encoder_fingerprint("someone/another-encoder")


def test_a_tokenizer_built_from_vocab_txt_is_part_of_the_cache_key(tiny, tmp_path):
    """A folder without tokenizer.json (a BERT tokenizer from vocab.txt and tokenizer_config.json):
    after its vocabulary is edited, the cache serves the new vectors, not those of the old one."""
    import json
    import shutil

    folder = tmp_path / "vocab-only"
    shutil.copytree(tiny, folder)
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    (folder / "tokenizer.json").unlink()
    words = sorted(vocab, key=vocab.get)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))

    def embeddings(cache_dir=None):
        return SentenceEmbedder(encoder=str(folder), cache_dir=cache_dir).fit(TEXTS).transform(TEXTS)

    before = embeddings(str(tmp_path / "cache"))
    first, second = words.index("missile"), words.index("summit")
    words[first], words[second] = words[second], words[first]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    after = embeddings()  # no cache
    assert not np.allclose(after, before, atol=1e-4)  # the edit changes the vectors
    np.testing.assert_allclose(embeddings(str(tmp_path / "cache")), after, atol=1e-6)


def test_pipeline_with_embedder_survives_save_load(tiny, tmp_path, capfd):
    pipeline = Pipeline([("features", SentenceEmbedder(encoder=tiny)), ("classifier", LogisticRegression())])
    pipeline.fit(TEXTS, LABELS)
    save_state(pipeline, ArgmaxDecision(("security", "visit")), tmp_path)
    assert (tmp_path / "encoder_0" / "model.safetensors").exists()
    loaded, _ = load_state(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), pipeline.predict_proba(TEXTS), atol=1e-6)
    assert_no_loading_bar(capfd)


def test_max_length_beyond_the_encoders_positions_is_refused_before_training(tiny):
    texts = ["a missile test", "a summit visit"] * 4
    with pytest.raises(ValueError, match="max_length=512 exceeds the 128 positions"):
        TransformerClassifier(encoder=tiny, max_length=512, progress=False).fit(texts, ["security", "visit"] * 4)


def _cls_pooling_sentence_transformer(tiny, folder):
    """A sentence-transformers model folder around the tiny BERT: CLS pooling, then Normalize."""
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(tiny, max_seq_length=64)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="cls")
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
    model.save(str(folder))
    return model


def test_embeddings_follow_the_encoders_own_pooling_and_normalisation(tiny, tmp_path):
    model = _cls_pooling_sentence_transformer(tiny, tmp_path / "st")
    expected = model.encode(TEXTS, convert_to_numpy=True)
    embedder = SentenceEmbedder(encoder=str(tmp_path / "st"), max_length=64).fit(TEXTS)
    assert embedder.features_.pooling == ("cls",) and embedder.features_.normalize
    np.testing.assert_allclose(embedder.transform(TEXTS), expected, atol=1e-5)
    mean_pooled = SentenceEmbedder(encoder=str(tmp_path / "st"), max_length=64, pooling="mean").fit(TEXTS)
    assert not np.allclose(mean_pooled.transform(TEXTS), expected, atol=1e-3)  # the setting really changes it
    # ...and the saved model pools the same way.
    pipeline = Pipeline([("features", embedder), ("classifier", LogisticRegression())]).fit(TEXTS, LABELS)
    save_state(pipeline, ArgmaxDecision(("security", "visit")), tmp_path / "saved")
    loaded, _ = load_state(tmp_path / "saved")
    np.testing.assert_allclose(loaded[0].transform(TEXTS), expected, atol=1e-5)


class _RecordingClassifier(TransformerClassifier):
    """Records the dtype of the first encoder layer's query projection on every training forward pass."""

    def _pretrained(self, path):
        model, tokenizer = super()._pretrained(path)
        self.seen_dtypes_ = []

        def record(module, args, output):
            if module.training:
                self.seen_dtypes_.append(output.dtype)

        model.base_model.encoder.layer[0].attention.self.query.register_forward_hook(record)
        return model, tokenizer


def test_bf16_precision_trains_in_bfloat16_and_keeps_float32_weights(tiny):
    import torch

    seen = {}
    for precision in ("bf16", "fp32"):
        model = _RecordingClassifier(encoder=tiny, epochs=2, batch_size=4, validation_fraction=0.0, precision=precision,
                                     progress=False).fit(TEXTS, LABELS)
        seen[precision] = set(model.seen_dtypes_)
        assert {p.dtype for p in model.model_.parameters()} == {torch.float32}  # saved and served as float32
        assert np.isfinite(model.history_[-1]["train_loss"]) and np.isfinite(model.predict_proba(TEXTS)).all()
    assert seen == {"bf16": {torch.bfloat16}, "fp32": {torch.float32}}


@pytest.mark.parametrize("native", [False, True])
def test_auto_precision_trains_in_bf16_only_where_the_cpu_multiplies_bfloat16_and_says_which(tiny, monkeypatch,
                                                                                              native):
    """Emulated bfloat16 trains many times slower than float32 (74 s against 5 s an epoch on a CPU
    without AVX512-BF16), so ``auto`` takes it only where the CPU has the instructions (the
    hardware probe is set here, both ways, whatever this machine has); a bf16 set by hand there warns."""
    import warnings

    import torch

    from textclf.errors import TextclfWarning

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    auto = _RecordingClassifier(encoder=tiny, epochs=1, batch_size=4, validation_fraction=0.0, precision="auto",
                                progress=False, device="cpu").fit(TEXTS, LABELS)
    expected = "bf16" if native else "fp32"
    assert auto.precision_ == expected and set(auto.seen_dtypes_) == {torch.bfloat16 if native else torch.float32}
    assert auto.choices_ == {"finetune.precision": f"{expected} (auto: bfloat16 is "
                                                   f"{'native' if native else 'emulated'} on cpu)"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        by_hand = TransformerClassifier(encoder=tiny, epochs=1, batch_size=4, validation_fraction=0.0, precision="bf16",
                                        progress=False, device="cpu").fit(TEXTS, LABELS)
    said = [str(w.message) for w in caught if issubclass(w.category, TextclfWarning)]
    assert said == ([] if native else ["precision=bf16 on a CPU without bfloat16 instructions (AVX512-BF16 or AMX) "
                                       "trains slower than float32. Fix: set model.estimator.precision=auto (or fp32)"])
    assert by_hand.precision_ == "bf16" and by_hand.choices_ == {}  # as set: the param says it


def test_precision_is_a_logged_config_setting_and_a_wrong_one_is_refused_before_training(tiny):
    from helpers.training import composed
    from textclf.config import build, flatten_config
    from textclf.errors import UserError
    from textclf.models.params import check_estimator_params

    cfg = composed("model=minilm_finetune")
    assert flatten_config(cfg)["model.estimator.precision"] == "auto"  # logged as an MLflow param
    assert build(cfg.model.estimator, "model").get_params()["precision"] == "auto"
    with pytest.raises(UserError, match="precision"):
        check_estimator_params(TransformerClassifier(encoder=tiny, precision="fp16"))
    with pytest.raises(ValueError, match="precision"):
        TransformerClassifier(encoder=tiny, precision="fp16", progress=False).fit(TEXTS, LABELS)


def test_length_grouped_batches_hold_every_training_row_once_per_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 120, size=1000)
    tokens = [[1] * n for n in lengths]
    rows = rng.permutation(1000)[:900]  # a held-out part is missing from the rows trained on
    estimator = TransformerClassifier(batch_size=16)
    epochs = [estimator._batches(tokens, rows, rng) for _ in range(2)]
    for batches in epochs:
        assert sorted(np.concatenate(batches)) == sorted(rows)  # each row once, no other row
        assert all(1 <= len(batch) <= 16 for batch in batches) and sum(len(b) < 16 for b in batches) <= 2
        padded = sum(len(batch) * max(lengths[batch]) for batch in batches)
        assert padded < 1.05 * lengths[rows].sum()  # grouped by length: a random order pads ~60% more
    assert [list(b) for b in epochs[0]] != [list(b) for b in epochs[1]]  # a new order every epoch


def test_int8_fine_tuned_classifier_predicts_as_the_float_one_and_survives_save_load(tiny, tmp_path):
    from textclf.serving.int8 import Int8SequenceClassifier

    settings = dict(encoder=tiny, epochs=30, batch_size=4, learning_rate=5.0e-3, validation_fraction=0.0,
                    random_state=0, progress=False)
    float_model = TransformerClassifier(**settings).fit(TEXTS, LABELS)
    model = TransformerClassifier(**settings, inference="int8").fit(TEXTS, LABELS)
    assert isinstance(model.predictor_, Int8SequenceClassifier)  # predict_proba after fit: what is saved
    np.testing.assert_allclose(model.predict_proba(TEXTS), float_model.predict_proba(TEXTS), atol=0.01)
    assert (model.predict(TEXTS) == np.array(LABELS)).all()
    packages = save_state(model, ArgmaxDecision(("security", "visit")), tmp_path)
    assert "onnxruntime" in packages and "torch" not in packages
    loaded, _ = load_state(tmp_path)
    assert isinstance(loaded, Int8SequenceClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS))


def test_an_unknown_inference_is_refused_before_training(tiny):
    from textclf.errors import UserError
    from textclf.models.params import check_estimator_params

    for estimator in estimators(tiny):
        with pytest.raises(UserError, match="inference"):
            check_estimator_params(estimator.set_params(inference="int4"))


def test_int8_without_onnxruntime_names_the_extra(tiny, monkeypatch):
    from textclf import extras
    from textclf.errors import UserError

    installed = extras.is_installed
    monkeypatch.setattr(extras, "is_installed", lambda name: name != "onnxruntime" and installed(name))
    with pytest.raises(UserError, match=r"pip install -e '\.\[int8\]', or set the model's inference to fp32"):
        SentenceEmbedder(encoder=tiny, inference="int8").fit(TEXTS)


@pytest.mark.parametrize(("model", "key"), [("minilm_logreg", "model.embedder.inference"),
                                            ("minilm_zeroshot", "model.estimator.inference"),
                                            ("minilm_finetune", "model.estimator.inference")])
def test_minilm_configs_run_int8_and_say_so_in_the_logged_params(model, key):
    from hydra import compose, initialize_config_dir

    from helpers.paths import ROOT
    from textclf.config import build, flatten_config

    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={model}", "paths.root_dir=."])
    assert flatten_config(cfg.model)[key.removeprefix("model.")] == "int8"  # run params: flatten_config(cfg)
    estimator = build(cfg.model.estimator, "model")
    final = estimator.steps[0][1] if hasattr(estimator, "steps") else estimator
    assert final.inference == "int8"
