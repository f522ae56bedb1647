"""model=minilm_setfit: the contrastively tuned embedder (textclf.models.contrastive) on the tiny
in-test BERT, and one short run of the real MiniLM through `python train.py`. The scikit-learn
checks every estimator passes are in test_transformers.py."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from helpers.paths import SEEDS
from helpers.processes import WITHOUT_TEXTCLF, run_train
from helpers.stores import all_runs, client
from textclf.models.contrastive import (ContrastiveEmbedder, LabelBalancedBatches, label_sets, pair_loss,
                                        supervised_contrastive_loss)
from textclf.serving.decision import ArgmaxDecision
from textclf.serving.reader import load_state
from textclf.serving.writer import save_state
from textclf.task import MultilabelTask
from textclf.training import training_history

SECURITY = ["missile launch in pyongyang", "rocket fired on the week", "pyongyang fired a missile",
            "a rocket launch of pyongyang"]
VISITS = ["summit meeting in seoul", "the minister visit to tokyo", "talks and meeting on the week",
          "minister talks in tokyo"]
TRUST = ["restore trust of partners", "trust and commitment", "partners restore the alliance", "alliance trust"]
TEXTS, LABELS = SECURITY + VISITS + TRUST, np.array(["security"] * 4 + ["visit"] * 4 + ["trust"] * 4)


def tuned(tiny, **settings):
    defaults = dict(encoder=tiny, epochs=15, train_batch_size=6, learning_rate=2.0e-3, progress=False)
    return ContrastiveEmbedder(**{**defaults, **settings})


def cosine_gap(vectors: np.ndarray, labels) -> float:
    """Mean cosine of same-label pairs minus that of other pairs."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity, same = unit @ unit.T, np.equal.outer(labels, labels)
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    return float(similarity[same & off_diagonal].mean() - similarity[~same].mean())


def test_label_sets_from_labels_and_from_an_indicator_matrix():
    assert label_sets(np.array(["b", "a", "b"])) == [{1}, {0}, {1}]
    assert label_sets(np.array([[1, 0, 1], [0, 1, 0]])) == [{0, 2}, {1}]


def test_balanced_batches_hold_each_label_twice_and_draw_every_text_before_repeating():
    sets = label_sets(np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 4))
    batches = LabelBalancedBatches(sets, batch_size=4, texts_per_label=2, rng=np.random.default_rng(0))
    drawn = [batches.next() for _ in range(12)]
    for rows in drawn:
        labels = [next(iter(sets[row])) for row in rows]
        assert len(rows) == 4 and len(set(rows)) == 4 and sorted(labels)[0::2] == sorted(labels)[1::2]
    seen_of = {}
    for rows in drawn:
        for row in rows:
            seen_of.setdefault(next(iter(sets[row])), []).append(row)
    for label, rows in seen_of.items():  # each label's texts come in rounds: all of them, then again
        size = len([s for s in sets if label in s])
        complete = len(rows) // size * size
        for start in range(0, complete, size):
            assert len(set(rows[start:start + size])) == size


def test_the_losses_match_a_hand_computation():
    similarity = torch.tensor([[1.0, 0.8, 0.1], [0.8, 1.0, 0.3], [0.1, 0.3, 1.0]])
    shares = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # one same-label pair (0.8 -> 1) and two others (0.1, 0.3 -> 0), each kind averaged apart
    assert pair_loss(similarity, shares).item() == pytest.approx(((0.2 ** 2) + (0.1 ** 2 + 0.3 ** 2) / 2) / 2)
    # texts 0 and 1 have a positive; text 2 has none and is left out
    t = 0.5
    anchor_0 = -np.log(np.exp(0.8 / t) / (np.exp(0.8 / t) + np.exp(0.1 / t)))
    anchor_1 = -np.log(np.exp(0.8 / t) / (np.exp(0.8 / t) + np.exp(0.3 / t)))
    assert supervised_contrastive_loss(similarity, shares, t).item() == pytest.approx((anchor_0 + anchor_1) / 2,
                                                                                      rel=1e-5)


@pytest.mark.parametrize("loss", ["supcon", "cosine"])
def test_tuning_pulls_same_label_texts_together_and_the_head_fits_them(tiny, loss):
    from textclf.models.embedder import SentenceEmbedder

    before = cosine_gap(SentenceEmbedder(encoder=tiny).fit(TEXTS).transform(TEXTS), LABELS)
    model = Pipeline([("features", tuned(tiny, loss=loss)), ("classifier", LogisticRegression(C=10.0))])
    model.fit(TEXTS, LABELS)
    after = cosine_gap(model[0].transform(TEXTS), LABELS)
    assert after > before + 0.3, (before, after)
    assert list(model.predict(TEXTS)) == list(LABELS)
    history = training_history(model)  # the embedder's, though it is not the last step
    assert [entry["epoch"] for entry in history] == list(range(1, 16))
    assert history[-1]["contrastive_loss"] < history[0]["contrastive_loss"]


def test_tuning_is_seeded(tiny):
    first = tuned(tiny, epochs=3, random_state=3).fit(TEXTS, LABELS).transform(TEXTS)
    again = tuned(tiny, epochs=3, random_state=3).fit(TEXTS, LABELS).transform(TEXTS)
    other = tuned(tiny, epochs=3, random_state=4).fit(TEXTS, LABELS).transform(TEXTS)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_steps_grow_with_the_examples_up_to_the_cap(tiny):
    few = tuned(tiny, epochs=2, train_batch_size=4).fit(TEXTS[:4] + TEXTS[4:8], LABELS[:8])
    many = tuned(tiny, epochs=2, train_batch_size=4, max_steps=5).fit(TEXTS, LABELS)
    # 8 texts: 2 steps an epoch, 2 epochs; 12 texts would take 6 steps, capped at 5 (3 + 2)
    assert [entry["epoch"] for entry in few.history_] == [1, 2]
    assert [entry["epoch"] for entry in many.history_] == [1, 2]


@pytest.mark.parametrize("inference", ["fp32", "int8"])
def test_the_tuned_encoder_is_saved_as_data_and_loads_with_the_same_predictions(tiny, tmp_path, inference):
    model = Pipeline([("features", tuned(tiny, inference=inference)), ("classifier", LogisticRegression())])
    model.fit(TEXTS, LABELS)
    save_state(model, ArgmaxDecision(tuple(model.classes_)), tmp_path)
    saved = {path.name for path in (tmp_path / "encoder_0").iterdir()}
    assert "model.safetensors" in saved and not any(name.endswith((".pkl", ".bin")) for name in saved)
    assert ("model.int8.onnx" in saved) == (inference == "int8")
    loaded, _ = load_state(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6)
    # the tuned weights were saved, not the encoder it started from
    untuned = Pipeline([("features", tuned(tiny, inference=inference, epochs=1, learning_rate=1e-9)),
                        ("classifier", LogisticRegression())]).fit(TEXTS, LABELS)
    assert not np.allclose(loaded[0].transform(TEXTS), untuned[0].transform(TEXTS), atol=1e-3)


def test_multilabel_texts_sharing_any_label_are_pulled_together(tiny):
    names = ["security", "trust", "visit"]
    y = np.array([[1, 0, 0]] * 4 + [[0, 0, 1]] * 4 + [[0, 1, 0]] * 3 + [[1, 1, 0]])
    model = MultilabelTask().prepare(Pipeline([("features", tuned(tiny)), ("classifier", LogisticRegression())]),
                                     names)
    model.fit(TEXTS, y)
    assert model.predict_proba(TEXTS).shape == (12, 3)
    assert (model.predict(TEXTS)[:8] == y[:8]).all()


def test_descriptions_join_their_labels_texts_in_tuning(tiny):
    """One text per label gives supcon no same-label pair to learn from; the labels' descriptions
    do. Descriptions of a label the data lacks are ignored, and they add no steps."""
    rows = [0, 4, 8]
    texts, labels = [TEXTS[i] for i in rows], LABELS[rows]
    descriptions = {"security": SECURITY[1:], "visit": VISITS[1:], "trust": TRUST[1:], "weather": "rain today"}
    alone = tuned(tiny).fit(texts, labels)
    described = tuned(tiny, descriptions=descriptions).fit(texts, labels)
    gaps = cosine_gap(alone.transform(TEXTS), LABELS), cosine_gap(described.transform(TEXTS), LABELS)
    assert gaps[1] > gaps[0] + 0.2, gaps
    assert len(described.history_) == len(alone.history_) == 15
    assert described.choices_ == {"setfit.descriptions": "9 descriptions of 3 labels tuned on with the labelled texts"}
    assert alone.choices_ == {"setfit.descriptions": "none"}


def test_descriptions_of_a_multilabel_task_go_by_column(tiny):
    names = ["security", "trust", "visit"]
    y = np.array([[1, 0, 0]] * 4 + [[0, 0, 1]] * 4 + [[0, 1, 0]] * 4)
    descriptions = {"visit": "a state visit", "trust": ["trust", "restored trust"]}
    model = MultilabelTask().prepare(Pipeline([("features", tuned(tiny, epochs=1, descriptions=descriptions)),
                                               ("classifier", LogisticRegression())]), names)
    assert model[0].label_names == names  # set by the task: the embedder reads y
    texts, sets = model[0]._described(y)
    assert texts == ["a state visit", "trust", "restored trust"] and sets == [{2}, {1}, {1}]
    with pytest.raises(ValueError, match="need label_names"):
        tuned(tiny, epochs=1, descriptions=descriptions).fit(TEXTS, y)


@pytest.mark.parametrize("loss", ["supcon", "cosine"])
def test_one_example_per_label_trains_without_a_same_label_pair(tiny, loss):
    rows = [0, 4, 8]
    model = tuned(tiny, loss=loss, epochs=2).fit([TEXTS[i] for i in rows], LABELS[rows])
    assert all(np.isfinite(entry["contrastive_loss"]) for entry in model.history_)
    assert np.isfinite(model.transform(TEXTS)).all()


def test_a_bad_setting_is_refused_before_tuning(tiny):
    from sklearn.utils._param_validation import InvalidParameterError

    for setting in ({"loss": "triplet"}, {"texts_per_label": 1}, {"max_steps": 0}):
        with pytest.raises(InvalidParameterError):
            tuned(tiny, **setting).fit(TEXTS, LABELS)


def test_a_short_real_minilm_setfit_run_registers_logs_its_loss_and_reloads_offline(tmp_path):
    """data.per_label=2 (16 passages), 2 epochs: the contract, not the accuracy."""
    result = run_train(tmp_path, "model=minilm_setfit", "data.per_label=2", "model.embedder.epochs=2",
                       "model.embedder.max_length=64")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = all_runs(tmp_path)
    losses = client(tmp_path).get_metric_history(run.info.run_id, "train/contrastive_loss")
    assert [point.step for point in losses] == [1, 2]
    assert run.data.tags["registered_version"] == "1" and run.data.metrics["test/macro_f1"] > 0.2
    expected = pd.read_csv(client(tmp_path).download_artifacts(run.info.run_id, "test_predictions.csv",
                                                               str(tmp_path)))
    script = WITHOUT_TEXTCLF + textwrap.dedent(f"""
        mlflow.set_tracking_uri("sqlite:///{tmp_path}/mlflow.db")
        model = mlflow.pyfunc.load_model("models:/diplomacy-topics@champion")
        model.predict(pd.DataFrame({{"text": sys.argv[2:]}})).to_csv(sys.argv[1], index=False)
    """)
    produced = tmp_path / "loaded.csv"
    texts_of = {row["id"]: row["text"] for row in map(json.loads, (SEEDS / "test.jsonl").read_text().splitlines())}
    first = expected.head(20)
    subprocess.run([sys.executable, "-c", script, str(produced), *(texts_of[i] for i in first["id"])], check=True,
                   cwd=tmp_path, timeout=300)
    assert list(pd.read_csv(produced)["label"]) == list(first["predicted"])


def test_a_description_of_no_training_label_is_named_with_the_label_it_may_misspell(tiny):
    from textclf.errors import TextclfWarning

    descriptions = {"security": "missiles", "visit": "summits", "trust": "apologies", "trsut": "a typo"}
    with pytest.warns(TextclfWarning, match=r"no training label named 'trsut' \(did you mean 'trust'\?\)"):
        model = tuned(tiny, descriptions=descriptions, epochs=1).fit(TEXTS, LABELS)
    assert model.choices_["setfit.descriptions"].startswith("3 descriptions of 3 labels")
