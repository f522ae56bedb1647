"""The saved format: every configured model round-trips exactly, and tampering is refused."""

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from helpers.paths import ROOT
from textclf.config import build
from textclf.serving.writer import UnsupportedState, save_state
from textclf.serving.format import UnsafeModelError
from textclf.serving.decision import ArgmaxDecision, ThresholdDecision
from textclf.serving.reader import load_state

TEXTS = [f"{w} talks {i} in seoul on {w}" for i, w in enumerate(["missile", "summit", "alliance", "trust"] * 8)]
LABELS = ["security", "visit", "alliance", "trust"] * 8


def configured(model, task="multiclass"):
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={model}", f"task={task}", "paths.root_dir=."])
    return build(cfg.model.estimator, "model"), build(cfg.task, "task")


@pytest.mark.parametrize("model", ["tfidf_logreg", "tfidf_linearsvc", "tfidf_nb", "tfidf_sgd"])
@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_round_trip_predicts_identically(tmp_path, model, task):
    estimator, task_object = configured(model, task)
    estimator = task_object.prepare(estimator)
    if task == "multilabel":
        targets = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]] * 8)
    else:
        targets = np.array(LABELS)
    estimator.fit(TEXTS, targets)
    decision = (ThresholdDecision(("a", "b", "c", "d"), (0.1, 0.2, 0.3, 0.4), 1) if task == "multilabel"
                else ArgmaxDecision(("alliance", "security", "trust", "visit")))
    save_state(estimator, decision, tmp_path)
    loaded, loaded_decision = load_state(tmp_path)
    assert loaded_decision == decision
    # TF-IDF + linear models are predicted with NumPy alone (serving.linear_tfidf): equal to rounding
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), estimator.predict_proba(TEXTS), rtol=1e-9, atol=1e-12)


def fitted_folder(tmp_path):
    estimator, _ = configured("tfidf_logreg")
    estimator.fit(TEXTS, LABELS)
    save_state(estimator, ArgmaxDecision(tuple(sorted(set(LABELS)))), tmp_path)
    return tmp_path


def test_planted_pickle_in_arrays_is_refused(tmp_path):
    folder = fitted_folder(tmp_path)
    planted = np.array([print, "payload"], dtype=object)  # an object array needs pickle
    np.save(folder / "arrays" / "a0.npy", planted, allow_pickle=True)
    with pytest.raises(UnsafeModelError, match="refusing to load"):
        load_state(folder)


def test_a_large_planted_pickle_is_refused_too(tmp_path):
    folder = fitted_folder(tmp_path)
    planted = np.array([print, *(f"payload {i}" for i in range(200_000))], dtype=object)  # over 1 MiB: mmap path
    np.save(folder / "arrays" / "a0.npy", planted, allow_pickle=True)
    assert (folder / "arrays" / "a0.npy").stat().st_size > 1 << 20
    with pytest.raises(UnsafeModelError, match="refusing to load"):
        load_state(folder)


def test_array_names_cannot_point_outside_the_model(tmp_path):
    folder = fitted_folder(tmp_path)
    np.save(tmp_path.parent / "outside.npy", np.zeros(3))
    document = json.loads((folder / "state.json").read_text())
    document["estimator"] = {"__array__": "../../outside"}
    (folder / "state.json").write_text(json.dumps(document))
    with pytest.raises(UnsafeModelError, match="not an array name"):
        load_state(folder)


def test_a_large_vocabulary_round_trips_through_arrays(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"term{i} t{i % 7}é w{i * 31 % 977} \u00fcber{i % 13}" for i in range(3000)]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2)).fit(texts)
    assert len(vectorizer.vocabulary_) > 1000  # stored as __str_int_dict__, not JSON
    save_state(vectorizer, ArgmaxDecision(()), tmp_path)
    assert "__str_int_dict__" in (tmp_path / "state.json").read_text()
    loaded, _ = load_state(tmp_path)
    assert loaded.vocabulary_ == vectorizer.vocabulary_
    assert (loaded.transform(texts[:50]) != vectorizer.transform(texts[:50])).nnz == 0


def test_planted_class_outside_scikit_learn_is_refused(tmp_path):
    folder = fitted_folder(tmp_path)
    document = json.loads((folder / "state.json").read_text())
    document["estimator"] = {"__object__": "subprocess.Popen", "state": {"args": ["touch", str(tmp_path / "owned")]}}
    (folder / "state.json").write_text(json.dumps(document))
    with pytest.raises(UnsafeModelError, match="only scikit-learn classes"):
        load_state(folder)
    document["estimator"] = {"__type__": "os.system"}
    (folder / "state.json").write_text(json.dumps(document))
    with pytest.raises(UnsafeModelError, match="os.system"):
        load_state(folder)
    assert not (tmp_path / "owned").exists()


def test_unsupported_attributes_fail_at_save_time(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(UnsupportedState, match="func"):
        save_state(FunctionTransformer(func=np.log1p).fit([[1.0]]), ArgmaxDecision(()), tmp_path)


def test_a_format_1_model_still_reads(tmp_path):
    """Format 1 saved decisions without a kind: the thresholds said which rule it was."""
    folder = fitted_folder(tmp_path)
    document = json.loads((folder / "state.json").read_text())
    document["format_version"] = 1
    document["decision"] = {"task": "multilabel", "classes": ["a", "b"], "thresholds": [0.3, 0.6], "min_labels": 1}
    (folder / "state.json").write_text(json.dumps(document))
    _, decision = load_state(folder)
    assert decision == ThresholdDecision(("a", "b"), (0.3, 0.6), 1)
    document["decision"] = {"task": "multiclass", "classes": ["a", "b"]}
    (folder / "state.json").write_text(json.dumps(document))
    assert load_state(folder)[1] == ArgmaxDecision(("a", "b"))
