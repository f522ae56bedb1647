"""Hydra/OmegaConf helpers: build objects from config nodes, and flatten a config for logging."""

from __future__ import annotations

import re
from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException, ValidationError

from textclf.errors import UserError, did_you_mean
from textclf.extras import missing_extra, missing_extra_message


def build(node: DictConfig, group: str, **arguments):
    """Instantiate a ``_target_`` node (with ``arguments`` beside its keys), turning config
    mistakes into one-line ``UserError``s."""
    try:
        return instantiate(node, _convert_="all", **arguments)
    except MissingMandatoryValue as error:
        key = f"{group}.{error.full_key}" if error.full_key and not str(error.full_key).startswith(group) else error.full_key
        raise UserError(f"{key} has no value. Fix: pass {key}=VALUE on the command line") from None
    except InstantiationException as error:
        if isinstance(error.__cause__, UserError):
            raise error.__cause__ from None
        if extra := missing_extra(error):
            raise UserError(missing_extra_message(_chosen(group), extra)) from None
        detail = str(error.__cause__ or error).strip().splitlines()[-1]
        raise UserError(f"could not build {group} from its config: {detail}. Fix: check the {group}.* overrides") from None
    except OmegaConfBaseException as error:
        detail = str(error).strip().splitlines()[0]
        raise UserError(f"bad {group} config: {detail}. Fix: check the {group}.* overrides") from None


def config_choice(group: str) -> str | None:
    """The option of config group ``group`` the run was composed with (``minilm_logreg`` for
    ``model``), when Hydra is running; else None."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.choices.get(group) if HydraConfig.initialized() else None


def _chosen(group: str) -> str:
    """``group=option`` as the user picked it (``model=minilm_logreg``), when Hydra is running."""
    option = config_choice(group)
    return f"{group}={option}" if option else f"this {group} config"


def flatten_config(cfg: DictConfig) -> dict[str, str]:
    """Resolved leaf values keyed by dotted path, for MLflow params.

    Interpolations that point at a whole node (``${features.transformer}`` inside a pipeline) are
    aliases of values logged under their own keys, so they are skipped rather than logged twice.
    """
    flat: dict[str, str] = {}

    def walk(node, prefix: str) -> None:
        keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
        for key in keys:
            path = f"{prefix}{key}"
            if OmegaConf.is_interpolation(node, key):
                value = node[key]
                if isinstance(value, (DictConfig, ListConfig)):
                    continue
            value = node[key]
            if isinstance(value, (DictConfig, ListConfig)) and not _is_scalar_list(value):
                walk(value, f"{path}.")
            else:
                flat[path] = str(OmegaConf.to_container(value) if isinstance(value, ListConfig) else value)

    walk(cfg, "")
    return flat


def _is_scalar_list(node) -> bool:
    return isinstance(node, ListConfig) and all(not isinstance(item, (DictConfig, ListConfig)) for item in node)


def to_yaml(cfg: DictConfig) -> str:
    """The fully resolved config as YAML, the record of exactly what ran."""
    return OmegaConf.to_yaml(cfg, resolve=True)


# Hydra launchers that come with an extra of textclf's (pyproject.toml) rather than with Hydra.
# (configs/hydra/launcher/slurm_example.yaml is ours; without the plugin it reports submitit_slurm missing.)
LAUNCHER_EXTRAS = {"submitit_local": "launchers", "submitit_slurm": "launchers", "ray": "ray", "ray_aws": "ray"}


def check_sweep_settings(config: DictConfig) -> None:
    """A sweep's own settings that would stop it or its every job, refused before it starts
    (``hydra.launcher.n_jobs=0`` was joblib's traceback; ``hydra.sweeper.n_jobs=0`` an endless
    search that asked for no trial)."""
    launcher_jobs = OmegaConf.select(config, "hydra.launcher.n_jobs", default=None)
    if launcher_jobs is not None and (not is_whole(launcher_jobs) or launcher_jobs == 0):
        raise UserError(f"hydra.launcher.n_jobs must be a whole number other than 0 (jobs run side by side; -1: one "
                        f"per core), got {launcher_jobs!r}. Fix: pass hydra.launcher.n_jobs=2")
    sweeper = OmegaConf.select(config, "hydra.sweeper", default=None) or {}
    for key, meaning, fix in (("n_trials", "the study's trials in all, those it has included", 20),
                              ("n_jobs", "trials asked for at a time", 2)):
        if key in sweeper and not (is_whole(sweeper[key]) and sweeper[key] >= 1):
            raise UserError(f"hydra.sweeper.{key} must be a whole number of 1 or more ({meaning}), got "
                            f"{sweeper[key]!r}. Fix: pass hydra.sweeper.{key}={fix}")
    _check_group_sweeps(config)


def _check_group_sweeps(config: DictConfig) -> None:
    """A config group swept by a range (``features=range(1,3)``): Hydra's traceback once the
    sweep had begun. Its options are names."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    task = OmegaConf.select(config, "hydra.overrides.task", default=None) or []
    for override in OverridesParser.create().parse_overrides(list(task)):
        group = override.get_key_element()
        if group in groups and (override.is_range_sweep() or override.is_interval_sweep()):
            raise UserError(f"{override.input_line!r}: {group} is a config group, whose options are names, not "
                            f"numbers. Fix: list the options to sweep, e.g. {group}={groups[group]},OTHER")


def is_whole(value) -> bool:
    """An int as YAML and the command line give one, not a bool (``true`` is not 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


# Groups whose default option sets nothing (configs/train.yaml): their keys exist once one is chosen.
UNCHOSEN_GROUPS = {"cv": "cv=kfold", "hparams_search": "-m hparams_search=NAME"}


def describe_yaml_error(error) -> str | None:
    """A config file that is not YAML (PyYAML's ``MarkedYAMLError``) as one line naming the file,
    the line and the problem (and where what it failed to close was opened). None for an error in
    a file that is not a YAML config (then it is not a config mistake of the user's)."""
    if hasattr(error, "position") and str(getattr(error, "name", "")).endswith((".yaml", ".yml")):  # ReaderError
        return (f"{error.name}, character {error.position + 1} is not valid YAML: {error.reason} "
                f"(#x{ord(error.character) if isinstance(error.character, str) else error.character:04x}). "
                "Fix: remove that character from the file")
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is None or not str(mark.name).endswith((".yaml", ".yml")):
        return None
    opened = getattr(error, "context_mark", None)
    context = f" ({error.context} at line {opened.line + 1})" if opened and error.context and opened is not mark else ""
    problem = getattr(error, "problem", None) or str(error).strip().splitlines()[0]
    return (f"{mark.name}, line {mark.line + 1}, column {mark.column + 1} is not valid YAML: {problem}{context}. "
            "Fix: correct the file (a config file is YAML: key: value, one key a line; a [list] closes on its line)")


def _file_given_as_option(first: str, message: str) -> str | None:
    """The line for a file named where a config group's option goes (``model/descriptions=mine.yaml``,
    a path): how to hand Hydra a config of one's own. None for any other error."""
    missing, group = re.search(r"Could not find '([^']*)'", first), re.search(r"Available options in '([^']*)'", message)
    option = missing.group(1).removeprefix(f"{group.group(1)}/") if missing and group else ""
    # a slash alone is not a file: nested options (descriptions/zeroshot) have one too
    if not option or (not option.endswith((".yaml", ".yml", ".json")) and not Path(option).expanduser().is_file()):
        return None
    group = group.group(1)
    return (f"{group}={option} names a file, and {group} takes the name of a config in configs/{group}/. "
            f"Fix: put the file in a folder of your own as DIR/{group}/NAME.yaml and pass "
            f"'hydra.searchpath=[file://DIR]' {group}=NAME (DIR an absolute path)")


def did_you_mean_key(cause, full_key: str) -> str:
    """`` (did you mean 'audit.models'?)`` when an unknown key misspells one beside it."""
    parent = getattr(cause, "parent_node", None)
    if not hasattr(parent, "keys"):
        return ""
    head = full_key.rpartition(".")[0]
    return did_you_mean(full_key, [f"{head}.{key}" if head else str(key) for key in parent.keys()])


def describe_config_error(error: Exception, keys_listed: str = "python train.py --cfg job shows every key") -> str:
    """A Hydra or OmegaConf error about the composed config or an override, as one line with its
    fix; ``keys_listed``: where the user finds the keys there are (another command's config)."""
    message = str(error).strip()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    first = lines[0] if lines else type(error).__name__
    if first.endswith(":") and len(lines) > 1:  # "... raised while composing config:" and the cause below
        first = f"{first} {lines[1]}"
    # chosen on the command line: "Could not find"; named in a launcher config's defaults: "Could not load"
    launcher = re.search(r"Could not (?:find|load) 'hydra/launcher/(\w+)'", first)
    if launcher and launcher.group(1) in LAUNCHER_EXTRAS:  # its plugin is not installed
        extra = LAUNCHER_EXTRAS[launcher.group(1)]
        return (f"{first.rstrip('.')}: its Hydra plugin is not installed. Fix: pip install -e '.[{extra}]' "
                f"(or pip install 'textclf[{extra}]')")
    if file_given := _file_given_as_option(first, message):
        return file_given
    if "Available options in" in message:
        listing = message.split("Available options in", 1)[1].split("Config search path")[0]
        # an option named _like_this is a shared base the others start from, not one to pick
        options = [line.strip() for line in listing.splitlines()[1:] if line.strip() and not line.strip().startswith("_")]
        return f"{first} (choose one of: {', '.join(options)}). Fix: pick an existing option"
    if getattr(error, "override", None):
        return (f"cannot parse override {error.override!r}: {first}. Fix: write key=value, quoting values "
                "with spaces or brackets")
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    full_key = getattr(cause, "full_key", None)
    unknown = "not in struct" in str(cause)
    appended = re.search(r"Could not override '([^']+)'\.\s+To append to your config use \+", message)
    if appended and full_key is None:  # a job composed in another process (joblib): its cause stayed there
        full_key, unknown = appended.group(1), True
        group = full_key.split(".")[0]
        if group in UNCHOSEN_GROUPS:  # which of the two the cause said is not known here
            return (f"unknown config key {full_key!r} ({group}.* keys exist once {group} is chosen). Fix: check its "
                    f"spelling, or choose {group} first, e.g. {UNCHOSEN_GROUPS[group]}")
    group, parent = str(full_key or "").split(".")[0], getattr(cause, "parent_node", None)
    unchosen = full_key == group or (parent is not None and len(parent) == 0)  # no node, or an empty one
    if unknown and group in UNCHOSEN_GROUPS and unchosen:
        return (f"{group}.* keys exist once {group} is chosen, and it is not (key {full_key!r}). Fix: choose it "
                f"first, e.g. {UNCHOSEN_GROUPS[group]}")
    if unknown and full_key:
        return (f"unknown config key {full_key!r}{did_you_mean_key(cause, full_key)}. Fix: check its spelling "
                f"({keys_listed}), "
                f"or add a new key with +{full_key}=VALUE")
    if "Could not override" in message and full_key:
        return f"cannot override {full_key!r}: {first.rstrip('.')}. Fix: check the key name and value"
    if isinstance(cause, ValidationError) and full_key:  # a value of the wrong type for a typed key (n_trials=abc)
        reason = str(cause).splitlines()[0].rstrip(".")
        return f"{full_key} cannot take that value: {reason}. Fix: give {full_key} a value of that type"
    return f"{first.rstrip('.')}. Fix: check the command-line overrides (python train.py --help)"
