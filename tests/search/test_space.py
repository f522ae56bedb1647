"""A search space in YAML becomes Optuna distributions; the command line pins or adds choices."""

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from helpers.training import composed
from textclf.errors import UserError
from textclf.search.space import as_overrides, distributions, with_command_line


def test_every_kind_of_entry_becomes_its_distribution():
    space = distributions({"model.classifier.C": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
                           "features.min_df": {"type": "int", "low": 1, "high": 3},
                           "features": {"type": "categorical", "choices": ["tfidf_word", "tfidf_word_char"]}})
    assert space["model.classifier.C"] == FloatDistribution(0.01, 10.0, log=True)
    assert space["features.min_df"] == IntDistribution(1, 3)
    assert space["features"] == CategoricalDistribution(["tfidf_word", "tfidf_word_char"])


@pytest.mark.parametrize("entry", [{"low": 1, "high": 2}, {"type": "float", "low": 2.0, "high": 1.0},
                                   {"type": "categorical"}, "0.1,1.0"])
def test_a_malformed_entry_is_one_user_error(entry):
    with pytest.raises(UserError, match="search space entry 'C'"):
        distributions({"C": entry})


def test_the_command_line_pins_a_key_or_makes_it_a_choice():
    space = distributions({"model.classifier.C": {"type": "float", "low": 0.01, "high": 10.0},
                           "features": {"type": "categorical", "choices": ["tfidf_word"]}})
    space, pinned = with_command_line(space, ["model.classifier.C=1.5", "seed=1,2,3", "cv=kfold"])
    assert "model.classifier.C" not in space and pinned == ["model.classifier.C=1.5", "cv=kfold"]
    assert space["seed"] == CategoricalDistribution(["1", "2", "3"])


def test_the_command_line_searches_ranges_as_hydras_optuna_sweeper_reads_them():
    """``interval`` (floats, ``tag(log, ...)`` on a log scale) and ``range`` (Hydra's: it stops
    before its end) become ranges; one with nothing in it is one user error."""
    space, pinned = with_command_line({}, ["C=tag(log,interval(0.01,10))", "alpha=interval(0,1)",
                                           "min_df=range(1,4)", "every=range(2,11,4)", "share=range(0.1,0.35,0.1)"])
    assert pinned == [] and space["C"] == FloatDistribution(0.01, 10.0, log=True)
    assert space["alpha"] == FloatDistribution(0.0, 1.0)
    assert space["min_df"] == IntDistribution(1, 3) and space["every"] == IntDistribution(2, 10, step=4)
    assert space["share"].low == 0.1 and space["share"].high == pytest.approx(0.3) and space["share"].step == 0.1
    assert with_command_line({}, ["n=tag(log,range(1,50))"])[0]["n"] == IntDistribution(1, 49, log=True)
    # the fix's example in the form given (a count's range was shown a float interval to copy)
    for empty, example in (("C=interval(5,1)", r"e\.g\. interval\(0\.01,10\)"),
                           ("C=tag(log,interval(0,1))", r"above 0 on a log scale.*interval\(0\.01,10\)"),
                           ("min_df=range(5,1)", r"one, e\.g\. range\(1,4\)"),
                           ("n=tag(log,range(1,50,2))", r"takes no step\), e\.g\. range\(1,4\)")):
        with pytest.raises(UserError, match=f"is not a range to search.*{example}"):
            with_command_line({}, [empty])
    # what a search cannot draw from, said as such (a glob was "ConfigLoader is not set"; a log
    # tag on choices, or any other tag, was dropped without a word)
    for unsearchable, says in (("features=glob(tfidf_w*)", "cannot draw from a glob"),
                               ("n=tag(log,choice(1,10,100))", "one tag, log, and only on a range"),
                               ("C=tag(fast,interval(1,2))", "one tag, log, and only on a range")):
        with pytest.raises(UserError, match=says):
            with_command_line({}, [unsearchable])


def test_drawn_values_are_overrides_hydra_composes():
    """What a trial draws, as overrides, composes into the config the trial runs (n-gram ranges
    written as string choices become lists)."""
    overrides = as_overrides({"model.classifier.estimator.C": 0.123456789, "features": "tfidf_word",
                              "features.word_ngram_range": "[1,3]", "features.sublinear_tf": False})
    cfg = composed(*overrides)
    assert cfg.model.classifier.estimator.C == 0.123456789
    assert list(cfg.features.word_ngram_range) == [1, 3] and cfg.features.sublinear_tf is False
    assert cfg.features.transformer._target_.endswith("TfidfVectorizer")


@pytest.mark.parametrize("name", ["tfidf_linearsvc", "tfidf_logreg", "minilm_finetune", "minilm_setfit"])
def test_every_choice_of_a_shipped_space_reaches_the_config_as_written(name):
    """Each choice of a config value (``class_weight: {choices: [balanced, null]}``) composes into
    the trial's config as the YAML wrote it: null as None, not the string 'None' (which the model
    refuses only when it is fitted, mid-study)."""
    import yaml
    from omegaconf import OmegaConf

    from helpers.paths import CONFIGS

    params = OmegaConf.to_container(OmegaConf.load(CONFIGS / "hparams_search" / f"{name}.yaml").hydra.sweeper.params)
    for key, spec in params.items():
        if spec["type"] != "categorical" or "." not in key:  # a config group's choice names an option
            continue
        for choice in spec["choices"]:
            cfg = composed(f"hparams_search={name}", *as_overrides({key: choice}))
            value = OmegaConf.select(cfg, key)
            value = OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
            written_as_list = isinstance(choice, str) and choice.startswith("[")  # "[1,2]": a list
            assert value == (yaml.safe_load(choice) if written_as_list else choice), (key, choice, value)


@pytest.mark.parametrize("name", ["tfidf_linearsvc", "tfidf_logreg", "minilm_finetune"])
def test_every_shipped_space_draws_configs_that_build(name):
    """Each configs/hparams_search space parses, and a draw from it builds the model it tunes."""
    import optuna
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from helpers.paths import CONFIGS

    spec = OmegaConf.load(CONFIGS / "hparams_search" / f"{name}.yaml").hydra.sweeper.params
    space = distributions(OmegaConf.to_container(spec))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask(space)
        cfg = composed(f"hparams_search={name}", *as_overrides(trial.params))
        assert cfg.model.name == name
        instantiate(cfg.model.estimator, _convert_="all")
        study.tell(trial, 0.5)
