"""The project folder (``train.py`` beside ``configs/train.yaml``), and training from Python in it.

``textclf.train(overrides=[...])`` composes the project's configs with the overrides, as
``python train.py OVERRIDES`` does, and runs them, for a notebook or a script. Hydra's runtime
(its output folder, ``-m`` sweeps) exists only under ``train.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textclf.errors import UserError


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder from ``start`` (default: the current folder) up that holds ``train.py``
    and ``configs/train.yaml``, or None."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "train.py").is_file() and (folder / "configs" / "train.yaml").is_file():
            return folder
    return None


def compose_config(overrides: Sequence[str] = (), project: str | Path | None = None, config_name: str = "train",
                   project_option: str = "project=PATH"):
    """The config ``python train.py OVERRIDES`` would run (``config_name``: another top config of
    ``configs/``, such as ``audit``), composed outside Hydra's runtime. ``project_option``: how the
    caller's user names the project, for the error when there is none."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from textclf.config import describe_config_error

    root = Path(project).resolve() if project is not None else find_project_root()
    if root is None or not (root / "configs" / "train.yaml").is_file():
        fix = (f"pass {project_option} with the folder holding it" if project is not None else
               f"run from the project folder, or pass {project_option}")
        raise UserError(f"no textclf project at {root or Path.cwd()} (no configs/train.yaml). Fix: {fix}")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(root / "configs"), version_base="1.3"):
            # What train.py's Hydra runtime would otherwise fill in: the project folder, and an
            # output folder (nothing is written there; it is logged as a param).
            return compose(config_name, overrides=[f"paths.root_dir={root}", "paths.output_dir=null", *overrides])
    except (HydraException, OmegaConfBaseException) as error:
        keys = ("python train.py --cfg job shows every key" if config_name == "train" else
                f"configs/{config_name}.yaml holds the {config_name}.* keys; python train.py --cfg job shows the others")
        raise UserError(describe_config_error(error, keys)) from None
    finally:
        GlobalHydra.instance().clear()


def train(overrides: Sequence[str] = (), project: str | Path | None = None) -> dict[str, float]:
    """Train as ``python train.py OVERRIDES`` does, from a script or notebook; return the metrics.

    Parameters
    ----------
    overrides : list of str
        ``key=value`` and ``group=option`` overrides, e.g. ``["model=tfidf_logreg", "model.classifier.C=5.0"]``.
    project : path, optional
        The project folder; by default the nearest one from the current folder up.
    """
    from textclf import run  # as train.py runs it

    overrides = list(overrides)
    return run(compose_config(overrides, project), overrides=overrides)
