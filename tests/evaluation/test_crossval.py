"""k-fold cross-validation: stratified and grouped folds, out-of-fold probabilities for every
training row exactly once, honest multi-label fold scores, and what a `cv=kfold` run logs."""

from collections import Counter

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from helpers.stores import all_runs, client
from helpers.training import train_here
from textclf import held_out_reports
from textclf.data import Dataset, Split, load_files
from textclf.errors import UserError
from textclf.evaluation.crossval import KFold, cross_validate
from textclf.evaluation.evaluate import run_metric_names
from textclf.task import MulticlassTask, MultilabelTask

from helpers.paths import SEEDS


def _seed_dataset(rows: int = 400) -> Dataset:
    full = load_files("diplomacy", str(SEEDS / "train.jsonl"), str(SEEDS / "validation.jsonl"),
                      str(SEEDS / "test.jsonl"), label_column="labels", id_column="id")
    cut = lambda split, n: Split(split.name, split.texts[:n], split.labels[:n], split.ids[:n], split.source)  # noqa: E731
    return Dataset("diplomacy", cut(full.train, rows), cut(full.validation, rows // 4), full.test, full.label_names)


def _estimator():
    return Pipeline([("features", TfidfVectorizer(sublinear_tf=True)), ("classifier", LogisticRegression(C=10.0))])


def test_folds_are_stratified_and_cover_every_row_once():
    labels = tuple((label,) for label in ["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    split = Split("cv", tuple(f"t{i}" for i in range(100)), labels, tuple(map(str, range(100))), "mem")
    folds = KFold(folds=5, seed=3).split(split)
    held = np.concatenate([scored for _, scored in folds])
    assert sorted(held.tolist()) == list(range(100))
    for fitted, scored in folds:
        assert not set(fitted) & set(scored)
        assert Counter(labels[i][0] for i in scored) == {"a": 10, "b": 6, "c": 4}  # each fold mirrors the whole


def test_a_group_stays_inside_one_fold():
    labels = tuple((label,) for label in ["a", "b"] * 30)
    groups = tuple(f"article{i // 4}" for i in range(60))  # 15 articles of 4 passages
    split = Split("cv", tuple(f"t{i}" for i in range(60)), labels, tuple(map(str, range(60))), "mem", groups)
    folds = KFold(folds=3, group_column="article", seed=0).split(split)
    fold_of_group = {}
    for number, (_, scored) in enumerate(folds):
        for row in scored:
            assert fold_of_group.setdefault(groups[row], number) == number
    assert len(set(fold_of_group.values())) == 3


def test_cv_group_column_is_the_column_the_data_reads():
    from helpers.training import composed

    cfg = composed("cv=kfold", "cv.group_column=article_id")
    assert cfg.data.group_column == "article_id" and cfg.optimized_metric == "cv/macro_f1"
    assert composed().data.group_column is None


def test_too_few_rows_or_groups_for_the_folds_is_one_user_error():
    split = Split("cv", ("x", "y", "z"), (("a",), ("b",), ("a",)), ("1", "2", "3"), "mem", ("g", "g", "h"))
    with pytest.raises(UserError, match="needs at least 3 groups"):
        KFold(folds=3, group_column="article").split(split)
    with pytest.raises(UserError, match="at least 2"):
        KFold(folds=1)  # refused as the config is built, before any run exists


def test_out_of_fold_probabilities_are_each_folds_own_held_out_predictions():
    """Every pooled row gets the probabilities of the model that did not train on it, and the
    fold scores are reported as they come (what pruning listens to)."""
    dataset = _seed_dataset()
    reports = []
    with held_out_reports.listening(lambda kind, step, value: reports.append((kind, step, value))):
        cv = cross_validate(_estimator(), dataset, MulticlassTask(), KFold(folds=4, seed=0))
    pool_texts = dataset.train.texts + dataset.validation.texts
    assert cv.pool.texts == pool_texts and sorted(set(cv.fold_of_row)) == [1, 2, 3, 4]
    np.testing.assert_allclose(cv.probabilities.sum(axis=1), 1.0)
    rows = np.flatnonzero(cv.fold_of_row == 2)
    others = np.flatnonzero(cv.fold_of_row != 2)
    model = _estimator().fit([pool_texts[i] for i in others], [cv.pool.labels[i][0] for i in others])
    expected = np.zeros((len(rows), len(dataset.label_names)))
    expected[:, [dataset.label_names.index(c) for c in model.classes_]] = model.predict_proba([pool_texts[i] for i in rows])
    np.testing.assert_allclose(cv.probabilities[rows], expected)
    assert [(kind, step) for kind, step, _ in reports] == [("fold", n) for n in (1, 2, 3, 4)]
    assert [value for *_, value in reports] == pytest.approx([fold["macro_f1"] for fold in cv.fold_metrics])
    summary = cv.metrics()
    assert summary["cv/macro_f1"] == pytest.approx(np.mean([fold["macro_f1"] for fold in cv.fold_metrics]))
    assert summary["cv/macro_f1_std"] == pytest.approx(np.std([fold["macro_f1"] for fold in cv.fold_metrics], ddof=1))


def test_multilabel_folds_are_scored_with_thresholds_tuned_on_the_other_folds():
    dataset = _seed_dataset()
    task = MultilabelTask()
    cv = cross_validate(task.prepare(_estimator()), dataset, task, KFold(folds=3, seed=0))
    rows, others = np.flatnonzero(cv.fold_of_row == 1), np.flatnonzero(cv.fold_of_row != 1)
    pick = lambda ix, name: Split(name, tuple(cv.pool.texts[i] for i in ix), tuple(cv.pool.labels[i] for i in ix),  # noqa: E731
                                  tuple(cv.pool.ids[i] for i in ix), "mem")
    decision = task.decide(pick(others, "others"), cv.label_names, cv.probabilities[others])
    fold = pick(rows, "fold1")
    expected = task.score(fold, tuple(decision.labels(cv.probabilities[rows])), cv.probabilities[rows], decision)
    assert cv.fold_metrics[0]["macro_f1"] == pytest.approx(expected["macro_f1"])


def test_a_cv_run_logs_fold_steps_the_spread_and_oof_predictions(tmp_path, monkeypatch, capsys):
    """`python train.py cv=kfold`: fold metrics as steps, cv/ mean and std, oof_predictions.csv
    with one row per train + validation text, and the final model trained and registered as usual."""
    import pandas as pd

    result = train_here(tmp_path, "cv=kfold", "cv.folds=3", "features=tfidf_word", monkeypatch=monkeypatch,
                        capsys=capsys)
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = all_runs(tmp_path)
    history = client(tmp_path).get_metric_history(run.info.run_id, "cv_fold/macro_f1")
    assert sorted(m.step for m in history) == [1, 2, 3]
    assert run.data.metrics["cv/macro_f1"] == pytest.approx(np.mean([m.value for m in history]))
    assert "cv/macro_f1_std" in run.data.metrics and "test/macro_f1" in run.data.metrics
    path = client(tmp_path).download_artifacts(run.info.run_id, "oof_predictions.csv", str(tmp_path))
    oof = pd.read_csv(path, keep_default_na=False)
    train = pd.read_json(SEEDS / "train.jsonl", lines=True)
    validation = pd.read_json(SEEDS / "validation.jsonl", lines=True)
    assert sorted(oof["id"]) == sorted(list(train["id"]) + list(validation["id"]))
    assert sorted(set(oof["fold"])) == [1, 2, 3]
    probability_columns = [c for c in oof.columns if c.startswith("prob_")]
    assert len(probability_columns) == 8
    np.testing.assert_allclose(oof[probability_columns].sum(axis=1), 1.0, atol=1e-4)
    assert len(client(tmp_path).search_model_versions()) == 1
    assert "cv/macro_f1" in result.stdout
    # tracking.champion_metric and optimized_metric are checked, before a run, against these names
    logged = {name for name in run.data.metrics if not name.startswith("cv_fold/")}  # steps, not scores
    assert logged == set(run_metric_names("multiclass", run.data.tags["data.labels"].split(","), cross_validated=True))


def test_each_warning_is_said_once_and_kept_when_a_fold_fails(recwarn):
    import warnings

    from textclf.evaluation.crossval import each_warning_once

    with each_warning_once():
        for _ in range(3):  # as each fold's model says it
            warnings.warn("class 'x' has a single training example", UserWarning)
    with pytest.raises(ValueError), each_warning_once():
        warnings.warn("what explains the failure", UserWarning)
        raise ValueError("the fold could not be fitted")
    assert [str(w.message) for w in recwarn] == ["class 'x' has a single training example", "what explains the failure"]
