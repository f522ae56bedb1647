"""The experiment, registered model and alias names of ``tracking.*``, checked before any run starts.

MLflow checks these names only when it first uses them: the registered model and its alias at
registration, the run's last step. A name it refuses would then fail a run after its whole fit,
with MLflow's traceback. ``latest`` as an alias fails no run, but MLflow keeps the name for the
newest version: a first run under it registered v1 and said "champion stays v1". The rules below are
MLflow's (``mlflow.utils.validation``), plus one of textclf's: a registered model name is quoted
in MLflow search filters, so it may not hold a single quote.
"""

from __future__ import annotations

import posixpath
import re

from textclf.errors import UserError

LONGEST_EXPERIMENT = 500
# MLflow's column holds 256 characters, and textclf's registry lock is the name + ".textclf-lock".
LONGEST_REGISTERED_MODEL = 256 - len(".textclf-lock")
LONGEST_ALIAS = 255
ALIAS = re.compile(r"[\w\-]+")
VERSION_ALIAS = re.compile(r"[vV]\d+")


def check_names(tracking: dict) -> None:
    """Raise ``UserError`` for a name in ``tracking`` (resolved settings) that MLflow would refuse
    or misread."""
    experiment, model, alias = tracking["experiment"], tracking["registered_model"], tracking["champion_alias"]
    if not isinstance(experiment, str) or not experiment.strip() or len(experiment) > LONGEST_EXPERIMENT:
        _refuse("experiment", experiment, f"a name of 1 to {LONGEST_EXPERIMENT} characters", "diplomacy")
    if not isinstance(model, str) or not model.strip() or len(model) > LONGEST_REGISTERED_MODEL:
        _refuse("registered_model", model, f"a name of 1 to {LONGEST_REGISTERED_MODEL} characters", "diplomacy-topics")
    if any(char in model for char in "/:'") or posixpath.normpath(model) != model or model == "." \
            or model.startswith(".."):
        _refuse("registered_model", model, "a name without '/', ':' or a single quote (not . or ..)",
                re.sub(r"[/:']+", "-", model).strip(".-") or "diplomacy-topics")
    if not isinstance(alias, str) or not ALIAS.fullmatch(alias) or len(alias) > LONGEST_ALIAS:
        _refuse("champion_alias", alias, "letters, digits, '_' and '-' only", "champion")
    if alias.lower() == "latest" or VERSION_ALIAS.fullmatch(alias):
        _refuse("champion_alias", alias, "a name MLflow does not keep for itself ('latest' and v1, v2, ... "
                "name versions)", "champion")


def _refuse(key: str, value, rule: str, example: str) -> None:
    raise UserError(f"tracking.{key} {value!r} is not a name MLflow accepts: it must be {rule}. "
                    f"Fix: pass tracking.{key}={example}")
