"""Reading a store: opening it for ``textclf compare`` (``comparison``), and the models
``textclf predict`` and ``textclf verify`` load."""

from __future__ import annotations

import contextlib
from pathlib import Path

from textclf.errors import UserError
from textclf.extras import missing_extra, missing_extra_message
from textclf.tracking.discovery import naming_the_store, require_existing_store
from textclf.tracking.recovery import end_abandoned_runs
from textclf.tracking.requirements import warn_about_version_mismatches
from textclf.tracking.store import is_store_failure, store_errors_as_user_errors
from textclf.tracking.local_registry import forget_serving_code, import_libraries_named_in, imports_from_source_only
from textclf.tracking.client import connect, mlflow, model_folder
from textclf.tracking.tracker import STATE_FOLDER
from textclf.tracking.verify import verified_folder


def open_store(tracking_uri: str, command: str) -> None:
    """Point MLflow at an existing store and end the runs that processes which died left RUNNING.
    Reading never creates a store (``require_existing_store``)."""
    from mlflow.tracking import MlflowClient

    require_existing_store(tracking_uri, command)
    connect(tracking_uri, timeout=5)
    try:
        end_abandoned_runs(MlflowClient(), found_by=f"textclf {command}")
    except Exception as error:  # noqa: BLE001 - tidying up is not what the user asked for; reading may still work
        if not is_store_failure(error):
            raise


def load_model(model_uri: str, tracking_uri: str, verify: bool = True):
    """Load an MLflow pyfunc model, with one-line errors for bad or unknown URIs and stores.

    ``verify``: first check its files against the digest recorded when it was logged, and refuse
    it on any difference (``verify``). Without it, any MLflow model loads, and its code runs.
    """
    with store_errors_as_user_errors(tracking_uri):
        open_store(tracking_uri, "predict")
        with naming_the_store(tracking_uri):
            if verify:
                with verified_folder(model_uri) as folder:
                    import_libraries_named_in(folder, STATE_FOLDER)
                    imports_from_source_only()
                    return _load_model(model_uri, folder)
            return _load_model(model_uri)


def verify_model(model_uri: str, tracking_uri: str) -> Path:
    """``textclf verify``: the folder of a model whose files match their recorded digest."""
    with store_errors_as_user_errors(tracking_uri):
        open_store(tracking_uri, "verify")
        with naming_the_store(tracking_uri), verified_folder(model_uri) as folder:
            return folder


def _load_model(model_uri: str, folder: Path | None = None):
    """The model ``model_uri`` (its files in ``folder``, if already fetched), with one-line errors."""
    from mlflow.exceptions import MlflowException

    try:
        with model_folder(model_uri) if folder is None else contextlib.nullcontext(folder) as folder:
            # MLflow's own check of the model's requirements reads the metadata of every installed
            # distribution (half a second of a three-second `textclf predict`); the model's pins
            # are compared directly below instead.
            forget_serving_code()  # this model's own copy, not one a model loaded before left
            model = mlflow.pyfunc.load_model(str(folder), suppress_warnings=True)
    except ModuleNotFoundError as error:  # a MiniLM model where the transformers extra is not installed
        extra = missing_extra(error)
        if extra is None:
            raise
        raise UserError(f"cannot load model {model_uri!r}: "
                        + missing_extra_message("it", extra)) from None
    except (MlflowException, OSError, ValueError) as error:  # ValueError: serving.format.UnsafeModelError
        if is_store_failure(error):
            raise
        detail = (getattr(error, "message", None) or str(error)).strip().splitlines()[0]
        raise UserError(f"cannot load model {model_uri!r}: {detail}. "
                        "Fix: check the URI (e.g. models:/NAME@champion, models:/NAME/1, runs:/ID/model) "
                        "and the tracking store") from None
    warn_about_version_mismatches(folder / "requirements.txt")
    return model
