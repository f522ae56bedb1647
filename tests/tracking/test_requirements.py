"""What a saved model pins: a TF-IDF model needs no torch or transformers; a MiniLM model pins
torch without its local build tag (``2.13.0+cpu`` is not on PyPI)."""

import logging
from importlib.metadata import version

import numpy as np
import pytest

from helpers.training import composed
from textclf.config import build
from textclf.serving.decision import ArgmaxDecision
from textclf.serving.writer import save_state
from textclf.tracking.requirements import requirements

TEXTS = ["allies meet in seoul", "missile test at dawn", "allies pledge support", "missile launch at sea"] * 3
LABELS = ["alliance", "missile"] * 6


def pinned_names(lines) -> set[str]:
    return {line.split("==")[0] for line in lines}


@pytest.mark.parametrize("model", ["tfidf_linearsvc", "tfidf_logreg", "tfidf_nb", "tfidf_sgd"])
@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_a_tfidf_model_pins_no_torch(tmp_path, model, task):
    cfg = composed(f"model={model}", f"task={task}")
    task_object = build(cfg.task, "task")
    estimator = task_object.prepare(build(cfg.model.estimator, "model"))
    targets = np.array([[1, 0], [0, 1]] * 6) if task == "multilabel" else LABELS
    estimator.fit(TEXTS, targets)
    packages = save_state(estimator, ArgmaxDecision(("alliance", "missile")), tmp_path)
    assert pinned_names(requirements(packages)) == {"mlflow", "numpy", "pandas", "scikit-learn", "scipy"}


def test_the_logged_default_model_pins_no_torch(trained_store):
    folder, _ = trained_store
    (requirements_file,) = (folder / "mlruns").rglob("requirements.txt")
    lines = requirements_file.read_text().split()
    assert pinned_names(lines) == {"mlflow", "numpy", "pandas", "scikit-learn", "scipy"}, lines


def test_a_transformer_model_pins_torch_without_its_local_build_tag():
    pins = requirements(["torch", "transformers", "tokenizers"])
    assert f"torch=={version('torch').split('+')[0]}" in pins
    assert not [pin for pin in pins if "+" in pin]


def test_mlflows_own_pin_check_finds_nothing_in_our_pins_so_the_log_skips_it(caplog):
    """``tracker.pins_not_rechecked`` skips MLflow's check of a logged model's pins (0.9 s of a
    short run): it holds only while our pins, read from this environment, are ones that check
    passes, local build tag and all. The check is back once the log is done."""
    from mlflow.utils import environment

    from textclf.tracking.tracker import pins_not_rechecked

    check = environment.warn_dependency_requirement_mismatches
    with pins_not_rechecked():
        assert environment.warn_dependency_requirement_mismatches is not check
    assert environment.warn_dependency_requirement_mismatches is check
    logger = logging.getLogger("mlflow.utils.requirements_utils")  # MLflow's loggers do not propagate
    logger.addHandler(caplog.handler)
    try:
        check(requirements(["torch", "transformers", "tokenizers"]))
        assert caplog.text == ""
        check(["numpy==1.0.0"])  # the check does speak when a pin differs
        assert "numpy (current:" in caplog.text
    finally:
        logger.removeHandler(caplog.handler)
