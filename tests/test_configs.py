"""Every config option composes and builds; every experiment composes."""


import pytest
from hydra import compose, initialize_config_dir

from conftest import ROOT
from textclf.config import build, flatten_config

CONFIGS = ROOT / "configs"


def options(group):
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def composed(*overrides):
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        return compose("train", overrides=["paths.root_dir=" + str(ROOT), *overrides], return_hydra_config=False)


@pytest.mark.parametrize("model", options("model"))
@pytest.mark.parametrize("features", options("features"))
@pytest.mark.parametrize("task", options("task"))
def test_every_model_features_task_combination_builds(model, features, task):
    cfg = composed(f"model={model}", f"features={features}", f"task={task}")
    estimator = build(cfg.task, "task").prepare(build(cfg.model.estimator, "model"))
    assert hasattr(estimator, "fit") and hasattr(estimator, "predict_proba")


def test_seed_corpus_config_loads():
    dataset = build(composed().data, "data")
    assert len(dataset.label_names) == 8 and len(dataset.train) > 1000


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes(experiment):
    cfg = composed(f"experiment={experiment}")
    assert cfg.model and cfg.data


def test_flattened_params_skip_node_aliases():
    flat = flatten_config(composed("run_name=test", "paths.output_dir=."))
    assert flat["model.classifier.estimator.C"] == "0.5"
    assert flat["features.word_ngram_range"] == "[1, 2]"
    assert flat["model.estimator.steps.0.0"] == "features"  # step names stay
    assert not any(key.startswith(("model.estimator.steps.0.1", "model.estimator.steps.1.1")) for key in flat)
