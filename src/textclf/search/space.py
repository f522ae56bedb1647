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
written for Hydra here. On the command line, in Hydra's sweep syntax, ``key=a,b,c`` adds a
categorical choice, ``key=interval(0.01,10)`` a float range, ``key='tag(log,interval(0.01,10))'``
a log-scaled one, ``key=range(1,4)`` the ints 1 to 3 (Hydra's range stops before its end), and a
plain ``key=value`` pins a key for every trial (and takes it out of the space).
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
        _check_sweep_form(override)
        if override.is_choice_sweep() or (override.is_range_sweep() and override.value().shuffle):
            space[key] = CategoricalDistribution(list(override.sweep_string_iterator()))
        elif override.is_range_sweep() or override.is_interval_sweep():
            space[key] = _numeric_range(override)
        else:
            space.pop(key, None)
            pinned.append(override.input_line)
    return space, pinned


def _check_sweep_form(override) -> None:
    """What a search cannot draw from: a glob (it names config files, found by Hydra's basic
    sweeper only), a tag other than ``log``, and ``log`` on choices, which have no scale."""
    from hydra.core.override_parser.types import Glob

    value = override.value() if override.is_sweep_override() else None
    tags = set(getattr(value, "tags", None) or ())
    if isinstance(value, Glob):
        raise UserError(f"{override.input_line!r}: a search cannot draw from a glob. Fix: list the options as "
                        "choices, e.g. features=tfidf_word,tfidf_word_char")
    if tags - {"log"} or (tags and override.is_choice_sweep()):
        raise UserError(f"{override.input_line!r}: a search knows one tag, log, and only on a range. Fix: write "
                        "'key=tag(log,interval(0.01,10))' or 'key=tag(log,range(1,100))', or drop the tag")


def _numeric_range(override):
    """``range(start,stop[,step])`` (up to, not including, ``stop``) or ``interval(low,high)`` (floats, as
    Hydra reads it; log-scaled when tagged ``log``), as an Optuna distribution."""
    from optuna.distributions import FloatDistribution, IntDistribution

    value = override.value()
    try:
        if override.is_interval_sweep():
            return FloatDistribution(value.start, value.end, log="log" in value.tags)
        steps = list(override.sweep_iterator())  # Hydra's range stops before ``stop``, as Python's does
        if not steps:
            raise ValueError("it holds no value")
        log = "log" in value.tags
        if log and value.step != 1:
            raise ValueError("a log scale takes no step")
        if all(isinstance(number, int) for number in (*steps, value.step)):
            return IntDistribution(steps[0], steps[-1], log=log, step=value.step)
        # 0.1 + 0.1 + 0.1 is not 0.3; Optuna's log scale takes no step (a range's is 1 there)
        return FloatDistribution(steps[0], round(steps[-1], 12), log=log, step=None if log else value.step)
    except ValueError as error:
        # the example in the form given: a range of counts (min_df) is not a float interval
        example = "interval(0.01,10)" if override.is_interval_sweep() else "range(1,4), the whole numbers 1 to 3"
        log_scale = " (above 0 on a log scale, which takes no step)" if "log" in value.tags else ""
        raise UserError(f"{override.input_line!r} is not a range to search ({str(error).rstrip('.')}). Fix: give a "
                        f"low end below the high one{log_scale}, e.g. {example}") from None


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
