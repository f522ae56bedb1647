"""A search space written in YAML (``hydra.sweeper.params``), as Optuna distributions, and a
trial's choices as the ``key=value`` overrides a Hydra job takes.

Each key is an override key: a config value (``model.classifier.estimator.C``) or a config group
(``features``). Each value says how to draw it::

    model.classifier.estimator.C: {type: float, low: 0.01, high: 10.0, log: true}
    features.min_df: {type: int, low: 1, high: 3}
    features: {type: categorical, choices: [tfidf_word, tfidf_word_char]}

A list value (an n-gram range) is written as a string choice, ``"[1,2]"``: Optuna's categorical
choices are scalars. So a string choice is override text, as on the command line (``"[1,2]"`` is
a list, ``"1"`` a number; quote for Hydra inside it: ``"'a,b'"``); YAML's null and booleans are
written for Hydra here. On the command line, ``key=a,b,c`` adds a categorical choice, and a plain
``key=value`` pins a key for every trial (and takes it out of the space).
"""

from __future__ import annotations

from collections.abc import Mapping

from textclf.errors import UserError

KINDS = ("float", "int", "categorical")


def distributions(params: Mapping) -> dict:
    """``{override key: optuna distribution}`` for the YAML space ``params``."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = {}
    for key, spec in params.items():
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        if kind not in KINDS:
            raise UserError(f"search space entry {key!r} needs type: float, int or categorical, got {spec!r}. "
                            "Fix: write e.g. {type: float, low: 0.01, high: 10.0, log: true}")
        try:
            if kind == "float":
                space[key] = FloatDistribution(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)),
                                               step=spec.get("step"))
            elif kind == "int":
                space[key] = IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)),
                                             step=int(spec.get("step", 1)))
            else:
                space[key] = CategoricalDistribution(list(spec["choices"]))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"search space entry {key!r} is not valid ({error}). Fix: give a float or int entry low "
                            "and high (low < high), and a categorical entry a list of choices") from None
    return space


def with_command_line(space: dict, arguments) -> tuple[dict, list[str]]:
    """The space after the command line's overrides: ``key=a,b,c`` makes ``key`` a categorical
    choice among them; ``key=value`` pins it. Returns the space and the pinned overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from optuna.distributions import CategoricalDistribution

    space, pinned = dict(space), []
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_choice_sweep():
                raise UserError(f"{override.input_line!r}: only a list of choices (key=a,b,c) can be searched from the "
                                "command line. Fix: write ranges in the hparams_search config")
            space[key] = CategoricalDistribution(list(override.sweep_string_iterator()))
        else:
            space.pop(key, None)
            pinned.append(override.input_line)
    return space, pinned


def as_overrides(params: Mapping) -> list[str]:
    """A trial's params (``{key: value}``) as overrides."""
    return [f"{key}={_override_value(value)}" for key, value in params.items()]


def _override_value(value) -> str:
    if value is None:  # str() would write None, which Hydra reads as the string 'None'
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
