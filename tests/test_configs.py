"""Every config option composes, builds and fits; every experiment's sweep builds every model it names."""

import itertools

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from helpers.paths import CONFIGS, ROOT
from helpers.training import composed
from textclf.config import build, flatten_config

TEXTS = [f"{w} talks {i} in seoul on {w}" for i, w in enumerate(["missile", "summit", "alliance", "trust"] * 6)]
LABELS = ["security", "visit", "alliance", "trust"] * 6
INDICATORS = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]] * 6)


def options(group):
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


TFIDF_MODELS = [m for m in options("model") if m.startswith("tfidf_")]
ENCODER_MODELS = [m for m in options("model") if not m.startswith("tfidf_")]  # they bring their own features
TFIDF_FEATURES = [f for f in options("features") if f != "none"]


def fit_and_predict(cfg, task_name):
    estimator = build(cfg.task, "task").prepare(build(cfg.model.estimator, "model"), sorted(set(LABELS)))
    estimator.fit(TEXTS, INDICATORS if task_name == "multilabel" else np.array(LABELS))
    return estimator.predict_proba(TEXTS[:5])


@pytest.mark.parametrize(("model", "features", "task"),
                         list(itertools.product(TFIDF_MODELS, TFIDF_FEATURES, options("task"))))
def test_every_tfidf_model_features_task_combination_fits(model, features, task):
    probabilities = fit_and_predict(composed(f"model={model}", f"features={features}", f"task={task}"), task)
    assert probabilities.shape == (5, 4)
    assert np.all((probabilities >= 0) & (probabilities <= 1))


@pytest.mark.parametrize(("model", "task"), list(itertools.product(ENCODER_MODELS, options("task"))))
def test_every_encoder_model_fits_on_each_task(model, task, tiny):
    overrides = [f"model={model}", f"task={task}", f"model.encoder={tiny}", "paths.cache_dir=null"]
    if model == "minilm_finetune":
        overrides += ["model.estimator.epochs=1", "model.estimator.progress=false"]
    if model == "minilm_setfit":
        overrides += ["model.embedder.epochs=1", "model.embedder.progress=false"]
    if model == "minilm_zeroshot":
        overrides += ["~model.estimator.descriptions", "+model.estimator.descriptions={alliance: ally, "
                      "security: missile, trust: trust, visit: summit}"]
    cfg = composed(*overrides)
    assert cfg.features.transformer is None  # the encoder is the feature extractor
    assert fit_and_predict(cfg, task).shape == (5, 4)


def sweep_jobs(experiment):
    """The override lists of every job that `python train.py -m experiment=NAME` launches."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.root_dir={ROOT}", f"experiment={experiment}"],
                      return_hydra_config=True)
    params = cfg.hydra.sweeper.params or {}
    choices = [[f"{key}={value.strip()}" for value in str(values).split(",")] for key, values in params.items()]
    return [list(job) for job in itertools.product(*choices)]


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_builds_every_model_it_sweeps(experiment):
    jobs = sweep_jobs(experiment)
    assert len(jobs) > 1
    for job in jobs:
        cfg = composed(f"experiment={experiment}", *job)
        estimator = build(cfg.task, "task").prepare(build(cfg.model.estimator, "model"))
        assert hasattr(estimator, "predict_proba"), job


def test_a_learning_curves_runs_register_nothing():
    """They are measurements, not candidates for the champion (README, experiment=learning_curve)."""
    assert composed("experiment=learning_curve").tracking.register is False
    assert composed().tracking.register is True


def test_a_misspelled_model_in_an_experiment_is_caught(tmp_path, monkeypatch):
    experiment = tmp_path / "experiment"
    experiment.mkdir()
    (experiment / "typo.yaml").write_text("# @package _global_\nhydra:\n  sweeper:\n    params:\n"
                                          "      model: tfidf_logreg,tfidf_lgoreg\n")
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.root_dir={ROOT}", f"hydra.searchpath=[file://{tmp_path}]",
                                          "experiment=typo"], return_hydra_config=True)
    models = str(cfg.hydra.sweeper.params.model).split(",")
    with pytest.raises(Exception, match="tfidf_lgoreg"):
        for model in models:
            composed(f"model={model}")


def test_seed_corpus_config_loads():
    dataset = build(composed().data, "data")
    assert len(dataset.label_names) == 8 and len(dataset.train) > 1000


def test_flattened_params_skip_node_aliases():
    flat = flatten_config(composed())
    assert flat["model.classifier.estimator.C"] == "1.0"
    assert flat["features.word_ngram_range"] == "[1, 2]"
    assert flat["model.estimator.steps.0.0"] == "features"  # step names stay
    assert not any(key.startswith(("model.estimator.steps.0.1", "model.estimator.steps.1.1")) for key in flat)


def test_train_returns_the_metric_a_sweeper_optimises():
    cfg = composed("tracking.champion_metric=test/accuracy")
    assert cfg.optimized_metric == "test/accuracy"


def test_a_launcher_whose_plugin_is_missing_names_the_extra_to_install():
    """Hydra's own report when a launcher plugin is absent (here one made with Hydra's real message
    format: the ray plugin is installed in the test environment), as train.py prints it."""
    from hydra.errors import MissingConfigException

    from textclf.config import describe_config_error

    report = ("In 'hydra/config': Could not find 'hydra/launcher/ray'\n\nAvailable options in 'hydra/launcher':"
              "\n\tbasic\n\tjoblib\nConfig search path:\n\tprovider=hydra, path=pkg://hydra.conf")
    line = describe_config_error(MissingConfigException(report, "hydra/launcher/ray"))
    assert "Could not find 'hydra/launcher/ray'" in line and "Fix: pip install -e '.[ray]'" in line
    typo = describe_config_error(MissingConfigException(report.replace("/ray'", "/rayy'"), "hydra/launcher/rayy"))
    assert "choose one of: basic, joblib" in typo  # a misspelt launcher still lists the choices
    # configs/hydra/launcher/slurm_example.yaml names submitit_slurm in its defaults: Hydra says
    # "Could not load" then, and lists no options (its message, seen without the launchers extra)
    nested = ("In 'hydra/launcher/slurm_example': Could not load 'hydra/launcher/submitit_slurm'.\n\n"
              "Config search path:\n\tprovider=hydra, path=pkg://hydra.conf")
    line = describe_config_error(MissingConfigException(nested, "hydra/launcher/submitit_slurm"))
    assert "'hydra/launcher/submitit_slurm': its Hydra plugin is not installed" in line
    assert "Fix: pip install -e '.[launchers]'" in line


def test_a_sweeps_own_settings_that_would_stop_it_are_refused():
    """``hydra.launcher.n_jobs`` (joblib: -1 is one job per core) and the search sweeper's
    ``n_trials``/``n_jobs``, checked on the composed config before a sweep starts."""
    from omegaconf import OmegaConf

    from textclf.config import check_sweep_settings
    from textclf.errors import UserError

    def refusal(launcher_jobs=-1, **sweeper):
        config = OmegaConf.create({"hydra": {"launcher": {"n_jobs": launcher_jobs}, "sweeper": sweeper}})
        try:
            check_sweep_settings(config)
        except UserError as error:
            return str(error)
        return None

    assert refusal() is None and refusal(2, n_trials=20, n_jobs=2) is None
    assert refusal(None) is None  # joblib's own default: one job at a time
    assert "hydra.launcher.n_jobs must be a whole number other than 0" in refusal(0)
    assert "hydra.sweeper.n_jobs must be a whole number of 1 or more" in refusal(n_trials=5, n_jobs=0)
    assert "hydra.sweeper.n_jobs" in refusal(n_jobs=-1) and "hydra.sweeper.n_trials" in refusal(n_trials=0)
    assert "Fix: pass hydra.sweeper.n_trials=20" in refusal(n_trials=True)


def test_a_value_of_the_wrong_type_names_the_key_and_the_type(monkeypatch):
    """``hydra.sweeper.n_trials=abc`` was "Error merging override ...", saying neither what is
    wrong nor what is wanted."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    from textclf.config import describe_config_error

    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        with pytest.raises(ConfigCompositionException) as raised:
            compose("train", overrides=["hparams_search=tfidf_linearsvc", "hydra.sweeper.n_trials=abc"],
                    return_hydra_config=True)
    assert describe_config_error(raised.value) == (
        "hydra.sweeper.n_trials cannot take that value: Value 'abc' of type 'str' could not be converted to "
        "Integer. Fix: give hydra.sweeper.n_trials a value of that type")


def test_a_key_hydra_could_not_override_in_a_joblib_job_is_named():
    """A job composed by joblib reaches train.py without its OmegaConf cause: the key is read
    from Hydra's message, and for a group chosen by default as nothing, choosing it is the fix."""
    from hydra.errors import ConfigCompositionException

    from textclf.config import describe_config_error

    def said(key):
        return describe_config_error(ConfigCompositionException(
            f"Could not override '{key}'.\nTo append to your config use +{key}=2"))

    assert said("model.classifier.estimator.CC").startswith("unknown config key 'model.classifier.estimator.CC'")
    assert "choose cv first, e.g. cv=kfold" in said("cv.folds")
