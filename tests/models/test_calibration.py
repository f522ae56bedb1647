"""CalibratedClassifier: tfidf_linearsvc trains when a class or label has 1 or 2 training examples
(fewer folds, or calibration on the training data, with a warning), gives exactly
CalibratedClassifierCV's probabilities otherwise, and saves as plain scikit-learn."""

import json
import warnings

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from helpers.training import composed
from textclf.config import build
from textclf.data import Split
from textclf.models.calibration import CalibratedClassifier, CalibrationFoldsWarning
from textclf.serving.decision import ThresholdDecision
from textclf.serving.reader import load_state
from textclf.serving.writer import save_state

TOPICS = {
    "alliance": ["allies", "treaty", "defense", "pledge", "partners", "commitment"],
    "missile": ["missile", "launch", "ballistic", "warhead", "rocket", "test"],
    "visit": ["summit", "minister", "visit", "talks", "delegation", "meeting"],
    "trade": ["tariffs", "exports", "imports"],
    "cyber": ["hackers"],
}
# Every text has one of the three common topics; "trade" is added to 2 texts and "cyber" to 1.
RARE = {4: ("trade",), 11: ("trade",), 7: ("cyber",)}


def labelled_rows(count: int, offset: int = 0, rare=RARE) -> list[tuple[str, tuple[str, ...]]]:
    common = ["alliance", "missile", "visit"]
    rows = []
    for i in range(count):
        labels = (common[i % 3], *rare.get(i, ()))
        words = [TOPICS[label][(i + offset + j) % len(TOPICS[label])] for label in labels for j in range(2)]
        rows.append((f"report {i + offset}: " + " ".join(words) + f" on day {i + offset}", labels))
    return rows


def split_of(rows, name="train") -> Split:
    return Split(name, tuple(text for text, _ in rows), tuple(labels for _, labels in rows),
                 tuple(f"{name}{i}" for i in range(len(rows))), "test")


def fitted_multilabel_model():
    """The real tfidf_linearsvc config, wrapped by the real multi-label task, fitted on 18 texts."""
    cfg = composed("model=tfidf_linearsvc", "task=multilabel")
    task = build(cfg.task, "task")
    estimator = task.prepare(build(cfg.model.estimator, "model"))
    train = split_of(labelled_rows(18))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(list(train.texts), task.targets(train, list(TOPICS)))
    return estimator, train, [w for w in caught if issubclass(w.category, CalibrationFoldsWarning)]


def test_a_label_with_one_or_two_positives_trains_with_fewer_folds_and_a_warning():
    estimator, train, caught = fitted_multilabel_model()
    per_label = dict(zip(TOPICS, estimator.steps[-1][1].estimators_))
    assert {label: model.cv_used_ for label, model in per_label.items()} == {
        "alliance": 3, "missile": 3, "visit": 3, "trade": 2, "cyber": None}
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2, messages
    assert sum("a label has only 2 training examples: calibrating on 2 folds instead of 3" in m for m in messages) == 1
    assert sum("a label has a single training example" in m and "calibrating on the training data itself" in m
               for m in messages) == 1

    probabilities = estimator.predict_proba(list(train.texts))
    assert probabilities.shape == (18, 5)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    # the rare labels are learnt, not constant: their own texts score highest
    assert np.argmax(probabilities[:, 4]) == 7 and set(np.argsort(probabilities[:, 3])[-2:]) == {4, 11}


def test_the_saved_model_holds_plain_calibrated_classifier_cv_and_predicts_the_same(tmp_path):
    estimator, train, _ = fitted_multilabel_model()
    save_state(estimator, ThresholdDecision(tuple(TOPICS), (0.5,) * 5, 1), tmp_path)
    state = (tmp_path / "state.json").read_text()
    assert "textclf" not in json.dumps(json.loads(state)["estimator"])
    assert state.count('"sklearn.calibration.CalibratedClassifierCV"') == 6  # 5 fitted, 1 one-vs-rest template
    loaded, _ = load_state(tmp_path)
    texts = list(train.texts) + ["hackers launch tariffs at the summit"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), estimator.predict_proba(texts))


@pytest.mark.parametrize("multilabel", [False, True])
def test_with_enough_examples_it_is_exactly_calibrated_classifier_cv(multilabel):
    rows = labelled_rows(30, rare={i: ("trade",) for i in range(0, 30, 5)})
    features = TfidfVectorizer().fit_transform([text for text, _ in rows])
    if multilabel:
        targets = np.array([[label in labels for label in ("alliance", "missile", "visit", "trade")]
                            for _, labels in rows], dtype=int)
        wrap = OneVsRestClassifier
    else:
        targets = np.array([labels[0] for _, labels in rows])
        wrap = lambda model: model  # noqa: E731
    svc = LinearSVC(C=0.5, class_weight="balanced", random_state=42)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationFoldsWarning)
        ours = wrap(CalibratedClassifier(svc, method="sigmoid", cv=3)).fit(features, targets)
    theirs = wrap(CalibratedClassifierCV(svc, method="sigmoid", cv=3)).fit(features, targets)
    np.testing.assert_array_equal(ours.predict_proba(features), theirs.predict_proba(features))
    np.testing.assert_array_equal(ours.predict(features), theirs.predict(features))


def test_a_class_with_a_single_example_trains_a_multiclass_model():
    rows = labelled_rows(12) + [("hackers breached the ministry network", ("cyber",))]
    texts, labels = [text for text, _ in rows], [labels[0] for _, labels in rows]
    features = TfidfVectorizer().fit_transform(texts)
    with pytest.warns(CalibrationFoldsWarning, match="class 'cyber' has a single training example"):
        model = CalibratedClassifier(LinearSVC(random_state=0)).fit(features, labels)
    assert model.cv_used_ is None and list(model.classes_) == ["alliance", "cyber", "missile", "visit"]
    probabilities = model.predict_proba(features)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert model.predict(features[-1:])[0] == "cyber"


def write_csv(path, rows):
    import pandas as pd

    pd.DataFrame({"text": [text for text, _ in rows], "label": ["|".join(labels) for _, labels in rows]}).to_csv(
        path, index=False)
    return path


@pytest.mark.parametrize("task", ["multilabel", "multiclass"])
def test_train_py_trains_tfidf_linearsvc_on_rare_labels(tmp_path, train_in_process, task):
    train = write_csv(tmp_path / "train.csv", labelled_rows(18))
    validation = write_csv(tmp_path / "validation.csv", labelled_rows(9, offset=100, rare={1: ("trade",)}))
    test = write_csv(tmp_path / "test.csv", labelled_rows(9, offset=200, rare={2: ("cyber",)}))
    if task == "multiclass":  # "cyber" as the primary label of one training text
        write_csv(train, labelled_rows(18) + [("hackers breached the ministry network", ("cyber",))])
    with pytest.warns(CalibrationFoldsWarning) as caught:
        result = train_in_process(tmp_path, "data=files", f"data.train={train}", f"data.validation={validation}",
                                  f"data.test={test}", f"task={task}", "data.label_separator=|")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "now champion" in result.stdout
    single = "a label has a single" if task == "multilabel" else "class 'cyber' has a single"
    assert any(str(w.message).startswith(single) for w in caught), [str(w.message) for w in caught]


def test_textclf_warnings_print_as_one_line():
    from textclf.cli.errors import format_warning

    line = format_warning(CalibrationFoldsWarning("a label has only 2 training examples"), CalibrationFoldsWarning,
                          "/site-packages/sklearn/multiclass.py", 96, "estimator.fit(X, y)")
    assert line == "warning: a label has only 2 training examples\n"
    other = format_warning(UserWarning("not ours"), UserWarning, "lib.py", 3, "x = 1")
    assert other.startswith("lib.py:3: UserWarning: not ours")


def test_it_passes_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checks fit classes of 1 example on purpose
        check_estimator(CalibratedClassifier(LinearSVC(random_state=0)))
