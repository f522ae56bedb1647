"""TemperatureScaledClassifier, tfidf_linearsvc's classifier: predictions exactly LinearSVC's,
probabilities from a temperature fitted out of sample, rare classes and labels train with a
warning, and a saved model holds a plain LogisticRegression that predicts the same."""

import json
import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss
from sklearn.svm import LinearSVC

from helpers.training import composed
from textclf.config import build
from textclf.data import Split
from textclf.models.calibration import CalibrationWarning, TemperatureScaledClassifier
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


def noisy_problem(seed=0):
    """A 4-class problem with more features than training rows, like TF-IDF: a linear SVM
    separates its training rows with wide margins that unseen rows do not get."""
    X, y = make_classification(n_samples=1600, n_features=1000, n_informative=30, n_classes=4, flip_y=0.1,
                               random_state=seed)
    return X[:800], y[:800], X[800:], y[800:]


def test_predictions_are_exactly_linear_svc_fitted_on_all_the_data():
    X, y, X_test, _ = noisy_problem()
    model = TemperatureScaledClassifier(LinearSVC(random_state=0), holdout=0.1, random_state=0).fit(X, y)
    plain = LinearSVC(random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.predict(X_test), plain.predict(X_test))
    expected = softmax(plain.decision_function(X_test) / model.temperature_, axis=1)
    np.testing.assert_allclose(model.predict_proba(X_test), expected, rtol=1e-10, atol=1e-12)


def test_the_temperature_is_fitted_out_of_sample():
    """Fitted on the training rows' own scores (in sample), the temperature is too low and the
    probabilities overconfident; fitted on held-out rows, unseen data's log loss is lower."""
    X, y, X_test, y_test = noisy_problem()
    model = TemperatureScaledClassifier(LinearSVC(random_state=0), holdout=0.1, random_state=0).fit(X, y)
    scores = LinearSVC(random_state=0).fit(X, y).decision_function(X_test)
    ours = log_loss(y_test, softmax(scores / model.temperature_, axis=1))
    for other in (model.temperature_ / 2, model.temperature_ * 2, 1.0):
        assert ours < log_loss(y_test, softmax(scores / other, axis=1))


def test_a_calibration_set_is_scored_by_the_classifier_itself():
    """Given a calibration set, nothing is held out of training (predictions are LinearSVC's on all
    of X) and the temperature is the best one for the fitted SVM's own scores of that set."""
    X, y, X_rest, y_rest = noisy_problem()
    X_cal, y_cal, X_test = X_rest[:400], y_rest[:400], X_rest[400:]
    model = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(
        X, y, calibration_set=(X_cal, y_cal))
    plain = LinearSVC(random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.predict(X_test), plain.predict(X_test))
    scores = plain.decision_function(X_cal)
    calibration_loss = log_loss(y_cal, softmax(scores / model.temperature_, axis=1))
    for other in (model.temperature_ / 1.2, model.temperature_ * 1.2):
        assert calibration_loss < log_loss(y_cal, softmax(scores / other, axis=1))
    held_out = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(X, y)
    assert "calibration set" in model.choices_["calibration"]
    assert "held-out" in held_out.choices_["calibration"]


def test_a_calibration_set_given_late_or_too_small():
    """A function giving the set is called once the SVM is fitted. A set with fewer than
    min_held_out texts of a class (a temperature fitted on a few texts the SVM gets right runs to
    its bound) gives way to a held-out part of training, which the calibration choice says, with
    why (no warning: nothing is wrong); an empty one is refused."""
    X, y, X_rest, y_rest = noisy_problem()
    late_model = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0)

    def late():
        assert hasattr(late_model, "classes_")  # the SVM is fitted by now
        return X_rest[:400], y_rest[:400]
    late_model.fit(X, y, calibration_set=late)
    given = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(
        X, y, calibration_set=(X_rest[:400], y_rest[:400]))
    assert late_model.temperature_ == given.temperature_
    held_out = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(X, y)
    few = y_rest != 3
    few[np.flatnonzero(y_rest == 3)[:4]] = True  # 4 texts of class 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        small = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(
            X, y, calibration_set=(X_rest[few], y_rest[few]))
    assert small.temperature_ == held_out.temperature_
    assert small.choices_["calibration"].endswith("held-out training texts, scored by a copy trained on the rest "
                                                  "(not the calibration set: it holds 4 text(s) of class 3, fewer than "
                                                  "min_held_out=5)")
    with pytest.raises(ValueError, match="no texts"):
        TemperatureScaledClassifier(LinearSVC(random_state=0)).fit(X, y, calibration_set=(X[:0], y[:0]))


def test_a_two_class_calibration_set_fits_the_sigmoid_temperature():
    X, y, X_rest, y_rest = noisy_problem()
    two, two_rest = y < 2, y_rest < 2
    model = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(
        X[two], y[two], calibration_set=(X_rest[two_rest], y_rest[two_rest]))
    scores = LinearSVC(random_state=0).fit(X[two], y[two]).decision_function(X_rest[two_rest])
    loss = lambda t: log_loss(y_rest[two_rest], 1 / (1 + np.exp(-scores / t)))  # noqa: E731
    assert loss(model.temperature_) < min(loss(model.temperature_ * 1.2), loss(model.temperature_ / 1.2))
    assert model.predict_proba(X_rest[:3]).shape == (3, 2)


def fitted_multilabel_model():
    """The real tfidf_linearsvc config, wrapped by the real multi-label task, fitted on 18 texts."""
    cfg = composed("model=tfidf_linearsvc", "task=multilabel")
    task = build(cfg.task, "task")
    estimator = task.prepare(build(cfg.model.estimator, "model"))
    train = split_of(labelled_rows(18))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(list(train.texts), task.targets(train, list(TOPICS)))
    return estimator, train, [w for w in caught if issubclass(w.category, CalibrationWarning)]


def test_a_label_with_one_positive_trains_with_a_warning():
    estimator, train, caught = fitted_multilabel_model()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and messages[0].startswith("a label has a single training example"), messages
    probabilities = estimator.predict_proba(list(train.texts))
    assert probabilities.shape == (18, 5)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    # the rare labels are learnt, not constant: their own texts score highest
    assert np.argmax(probabilities[:, 4]) == 7 and set(np.argsort(probabilities[:, 3])[-2:]) == {4, 11}


def test_the_saved_model_holds_plain_logistic_regressions_and_predicts_the_same(tmp_path):
    estimator, train, _ = fitted_multilabel_model()
    save_state(estimator, ThresholdDecision(tuple(TOPICS), (0.5,) * 5, 1), tmp_path)
    state = (tmp_path / "state.json").read_text()
    assert "textclf" not in json.dumps(json.loads(state)["estimator"])
    assert state.count('"sklearn.linear_model._logistic.LogisticRegression"') == 5  # one per label
    loaded, _ = load_state(tmp_path)  # predicted with NumPy alone (serving.linear_tfidf): equal to rounding
    texts = list(train.texts) + ["hackers launch tariffs at the summit"]
    np.testing.assert_allclose(loaded.predict_proba(texts), estimator.predict_proba(texts), rtol=1e-9, atol=1e-12)


def test_a_class_with_a_single_example_trains_a_multiclass_model():
    rows = labelled_rows(30) + [("hackers breached the ministry network", ("cyber",))]
    texts, labels = [text for text, _ in rows], [labels[0] for _, labels in rows]
    cfg = composed("model=tfidf_linearsvc")
    with pytest.warns(CalibrationWarning, match="class 'cyber' has a single training example"):
        model = build(cfg.model.estimator, "model").fit(texts, labels)
    assert list(model.classes_) == ["alliance", "cyber", "missile", "visit"]
    np.testing.assert_allclose(model.predict_proba(texts).sum(axis=1), 1.0)
    assert model.predict(texts[-1:])[0] == "cyber"


def write_csv(path, rows):
    import pandas as pd

    pd.DataFrame({"text": [text for text, _ in rows], "label": ["|".join(labels) for _, labels in rows]}).to_csv(
        path, index=False)
    return path


# Multi-label runs always hold out part of train (the default config here); a multiclass run does
# with calibration_set=null.
@pytest.mark.parametrize("task", ["multilabel", "multiclass"])
def test_train_py_trains_tfidf_linearsvc_on_rare_labels(tmp_path, train_in_process, task):
    train = write_csv(tmp_path / "train.csv", labelled_rows(18))
    validation = write_csv(tmp_path / "validation.csv", labelled_rows(9, offset=100, rare={1: ("trade",)}))
    test = write_csv(tmp_path / "test.csv", labelled_rows(9, offset=200, rare={2: ("cyber",)}))
    if task == "multiclass":  # "cyber" as the primary label of one training text
        write_csv(train, labelled_rows(18) + [("hackers breached the ministry network", ("cyber",))])
    with pytest.warns(CalibrationWarning) as caught:
        result = train_in_process(tmp_path, "data=files", f"data.train={train}", f"data.validation={validation}",
                                  f"data.test={test}", f"task={task}", "data.label_separator=|",
                                  *(["model.calibration_set=null"] if task == "multiclass" else []))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "now champion" in result.stdout
    single = "a label has a single" if task == "multilabel" else "class 'cyber' has a single"
    assert any(str(w.message).startswith(single) for w in caught), [str(w.message) for w in caught]


def test_textclf_warnings_print_as_one_line():
    from textclf.cli.errors import format_warning

    line = format_warning(CalibrationWarning("a label has a single training example"), CalibrationWarning,
                          "/site-packages/sklearn/multiclass.py", 96, "estimator.fit(X, y)")
    assert line == "warning: a label has a single training example\n"
    other = format_warning(UserWarning("not ours"), UserWarning, "lib.py", 3, "x = 1")
    assert other.startswith("lib.py:3: UserWarning: not ours")


def test_it_passes_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checks fit classes of 1 example on purpose
        check_estimator(TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0))


def test_two_fits_with_the_same_seed_give_the_same_probabilities():
    """The copy fits in a forked child while the full model fits here: two liblinear fits on two
    threads would share one random number generator and differ from run to run."""
    X, y, X_test, _ = noisy_problem()
    first, second = (TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(X, y)
                     for _ in range(2))
    assert first.temperature_ == second.temperature_
    np.testing.assert_array_equal(first.predict_proba(X_test), second.predict_proba(X_test))


def test_a_rare_class_gets_a_temperature_from_out_of_fold_scores_not_from_one_held_out_example():
    """A rare label's 10% held-out part holds one positive or none: its temperature is fitted on
    every training text's out-of-fold score instead. (Fitted on the held-out part with targets of
    exactly 1, it collapsed and its probabilities were all 0 or 1, leaving a tuned threshold
    nothing to choose; Platt's targets now keep that from happening either way.)"""
    X, y = make_classification(n_samples=1200, n_features=400, n_informative=20, weights=[0.985], flip_y=0,
                               class_sep=2.0, random_state=1)
    X_train, y_train, X_test = X[:800], y[:800], X[800:]
    assert 5 <= y_train.sum() <= 20

    def saturated(model):
        positive = model.predict_proba(X_test)[:, 1]
        return np.mean((positive < 1e-6) | (positive > 1 - 1e-6))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear's convergence warning on this toy problem
        one_part = TemperatureScaledClassifier(LinearSVC(random_state=0), min_held_out=1, random_state=0).fit(
            X_train, y_train)
        folds = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(X_train, y_train)
    assert "all 800 training texts, each scored by one of 3 copies" in folds.choices_["calibration"]
    assert "80 held-out training texts" in one_part.choices_["calibration"]
    assert saturated(folds) < 0.05 and saturated(one_part) < 0.05
    np.testing.assert_array_equal(folds.predict(X_test), one_part.predict(X_test))  # decisions stay LinearSVC's


def test_a_calibration_set_the_classifier_separates_does_not_drive_probabilities_to_0_and_1():
    """Platt's targets: on held-out texts the SVM gets all right with room to spare (a small,
    clean corpus), a likelihood with targets of exactly 1 is highest as T goes to 0, and every
    probability became 0 or 1 (1e-131 was seen). With (n + 1) / (n + 2) the optimum stays inside."""
    from textclf.models.calibration import platt_targets

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-3, 0.3, (40, 2)), rng.normal(3, 0.3, (40, 2))])
    y = np.array([0] * 40 + [1] * 40)
    model = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(
        X, y, calibration_set=(X[::4], y[::4]))
    assert model.temperature_ > 0.05  # the floor is e^-7
    probabilities = model.predict_proba(X)
    assert probabilities.min() > 1e-6 and probabilities.max() < 1 - 1e-6
    np.testing.assert_allclose(platt_targets(np.array([0, 0, 0, 1]), 2),
                               [[0.8, 0.2], [0.8, 0.2], [0.8, 0.2], [1 / 3, 2 / 3]])
    np.testing.assert_allclose(platt_targets(np.array([2, 0]), 3)[0], [1 / 6, 1 / 6, 2 / 3])


def test_a_multilabel_run_says_which_texts_each_labels_temperature_came_from():
    """The run's `calibration` tag: a multi-label model's copies hold out part of train (its
    config still says model.calibration_set=validation, which multi-label runs cannot use)."""
    from textclf.training import report_choices

    estimator, _, _ = fitted_multilabel_model()
    said = report_choices(estimator)["calibration"]
    assert said.startswith("per label: temperature fitted on ") and "labels)" in said
    counts = [int(part.rsplit("(", 1)[1].split()[0]) for part in said.removeprefix("per label: ").split("; ")]
    assert sum(counts) == 5  # every label's copy, once


def test_the_fitted_model_holds_its_weights_once():
    """The classifier's weights are the model's largest part (51 MB for 20 Newsgroups): a fitted
    model keeps one copy, the scaled one, not the classifier's as well."""
    X, y, X_test, _ = noisy_problem()
    model = TemperatureScaledClassifier(LinearSVC(random_state=0), random_state=0).fit(X, y, calibration_set=(X_test, _))
    weights = [value for value in _arrays_in(model) if value.shape == model.scaled_.coef_.shape]
    assert len(weights) == 1


def _arrays_in(value, seen=None):
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        yield value
    elif hasattr(value, "__dict__"):
        for item in vars(value).values():
            yield from _arrays_in(item, seen)
