"""Which store ``textclf predict``, ``compare``, ``verify`` and ``textclf.load_model`` read.

They find it as ``train.py`` does (``configs/tracking/mlflow.yaml``): ``MLFLOW_TRACKING_URI``,
else ``mlflow.db`` in the project folder, the folder of ``train.py``. The project folder is found
by walking up from the current folder (``textclf.project``), so a command run in any subfolder
reads the store ``train.py`` wrote. Reading never creates a store, and a model not found names the
store searched. No MLflow import: this runs before anything heavy is loaded.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path

from textclf.errors import UserError
from textclf.project import find_project_root
from textclf.tracking.store import StoreKind, shown, sqlite_path, store_kind


def find_tracking_uri(explicit: str | None = None, how_to_pass: str = "--tracking-uri URI") -> str:
    """``explicit`` if given, else ``MLFLOW_TRACKING_URI``, else the project's sqlite store.

    ``how_to_pass`` names the way to give a store explicitly in the error raised when none is
    found (a flag for the command, an argument for ``textclf.load_model``).
    """
    if explicit:
        return explicit
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    project_store = project_store_uri()
    if project_store is None:
        raise UserError(f"no tracking store found: {Path.cwd()} is not inside a textclf project folder (none of it "
                        "or its parents holds train.py and configs/train.yaml) and MLFLOW_TRACKING_URI is not set. "
                        f"Fix: run it in the project folder, set MLFLOW_TRACKING_URI, or pass {how_to_pass}")
    return project_store


def project_store_uri() -> str | None:
    """The sqlite store of the textclf project folder this runs in, if it runs in one."""
    project = find_project_root()
    return None if project is None else f"sqlite:///{project / 'mlflow.db'}"


def store_flag(uri: str) -> str:
    """`` --tracking-uri URI`` for a command a run prints, unless ``uri`` is this project's own
    store, which the command finds by itself. (MLFLOW_TRACKING_URI is no guide: a sweep's parent
    run sets it in the process its jobs run in, and the user's next shell may not have it.)"""
    own = project_store_uri() == uri and os.environ.get("MLFLOW_TRACKING_URI", uri) == uri
    return "" if own else f" --tracking-uri {shlex.quote(shown(uri))}"


def require_existing_store(uri: str, command: str) -> None:
    """Refuse a sqlite store whose file does not exist: MLflow would create an empty one there, and
    the "model not found" that followed would hide the mistyped path or the wrong folder."""
    if store_kind(uri) is StoreKind.SQLITE and not sqlite_path(uri).is_file():
        raise UserError(f"tracking store {sqlite_path(uri)} does not exist (textclf {command} reads a store, it "
                        "never creates one). Fix: point --tracking-uri or MLFLOW_TRACKING_URI at an existing store, "
                        "or train a model into this one first (python train.py)")


@contextlib.contextmanager
def naming_the_store(uri: str):
    """Around looking a model up: a ``UserError`` (not found, changed) names the store searched,
    since which store that is depends on the folder and the environment."""
    try:
        yield
    except UserError as error:
        problem, fix_marker, fix = str(error).partition(". Fix: ")
        error.args = (f"{problem.rstrip('.')} (tracking store {shown(uri)}){fix_marker}{fix}",)
        raise
