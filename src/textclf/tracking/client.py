"""MLflow, imported once with textclf's settings; pointing it at a store; a model's files on this
machine. Every textclf module that uses MLflow imports it from here (or from ``tracker``)."""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

# MLflow reads these when it uses them; a user's own values win.
TEXTCLF_SETTINGS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # MLflow retries a silent tracking server 7 times with growing pauses, each try waiting up to
    # 120 s: minutes of a hung train.py, predict or compare. Three tries of 10 s fail in ~30 s.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def use_textclf_settings() -> None:
    """Set ``TEXTCLF_SETTINGS`` where the environment does not (again in a forked worker, which
    takes the training process's environment: ``fork_server``)."""
    for name, value in TEXTCLF_SETTINGS.items():
        os.environ.setdefault(name, value)


use_textclf_settings()

import mlflow  # noqa: E402

from textclf.tracking.reachability import SIGN_IN_PROBE, check_reachable  # noqa: E402
from textclf.tracking.store import is_remote  # noqa: E402

COPY_PREFIX = "textclf-model-"  # a temporary folder holding a downloaded copy of a model (``model_files``)


def quiet_mlflow() -> None:
    """"Creating initial MLflow database tables..." and the like are noise on every new store."""
    import logging

    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


quiet_mlflow()


def server_knows_who_asks(uri: str, timeout: float) -> bool:
    """Whether the server at ``uri`` takes who MLflow's client says it is: not a 401 to a request
    MLflow signs (``reachability.check_reachable`` asks this only after its own request got a 401)."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    path, query = SIGN_IN_PROBE
    try:
        response = http_request(get_default_host_creds(uri), path, "GET", params=query, max_retries=0,
                                timeout=timeout, raise_on_status=False)
    except Exception:  # noqa: BLE001 - not a refusal: what fails, the run's own requests report
        return True
    return response.status_code != 401


def connect(uri: str, timeout: float) -> None:
    """Point MLflow at ``uri`` once it is known to be reachable."""
    check_reachable(uri, timeout)
    mlflow.set_tracking_uri(uri)


@contextlib.contextmanager
def model_files(model_uri: str, skip: str | None = None) -> Iterator[Path]:
    """The folder of a model's files, for the block: where they are for a local folder and for a
    ``models:/`` URI on a local store; otherwise (a tracking server, ``runs:/`` URIs) a copy,
    removed when the block ends. (MLflow downloads into a new temporary folder that it never
    removes: a whole model left behind per command.) ``skip``: a subfolder the copy leaves out,
    for ``models:/MODEL_ID`` URIs (a model just logged)."""
    if Path(model_uri).is_dir() or (model_uri.startswith("models:/") and not is_remote(mlflow.get_tracking_uri())):
        yield Path(mlflow.artifacts.download_artifacts(model_uri))  # no copy
        return
    with tempfile.TemporaryDirectory(prefix=COPY_PREFIX) as copy:
        if skip is None:
            yield Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=copy))
        else:
            yield _download_logged_model(model_uri, Path(copy), skip)


def _download_logged_model(model_uri: str, folder: Path, skip: str) -> Path:
    """A logged model's files (``models:/MODEL_ID``) but those under ``skip``, into ``folder``: what
    lies beside the way down to ``skip`` in one download each (MLflow fetches a folder's files in
    parallel)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    if not model_uri.startswith("models:/m-"):
        raise ValueError(f"leaving out {skip} needs a logged model's models:/MODEL_ID URI, got {model_uri}")
    repository = get_artifact_repository(mlflow.get_logged_model(model_uri.removeprefix("models:/")).artifact_location)

    def download(path: str | None) -> None:
        for entry in repository.list_artifacts(path):
            if entry.path == skip:
                continue
            if entry.is_dir and f"{skip}/".startswith(f"{entry.path}/"):  # on the way down to skip
                download(entry.path)
            else:
                repository.download_artifacts(entry.path, dst_path=str(folder))

    download(None)
    return folder


def is_downloaded_copy(folder: Path) -> bool:
    """Whether ``folder`` is in a copy ``model_files`` downloaded."""
    return any(part.name.startswith(COPY_PREFIX) for part in (folder, *folder.parents))


_kept_until_exit = contextlib.ExitStack()
_this_process = os.getpid()


@atexit.register
def _remove_kept_copies() -> None:
    if os.getpid() == _this_process:  # a forked child's exit must not remove its parent's copies
        _kept_until_exit.close()


@contextlib.contextmanager
def model_folder(model_uri: str) -> Iterator[Path]:
    """``model_files``, kept until this process exits (a model loaded from them may still import
    its code from there) unless the block raises: a model refused on the way is not kept."""
    with contextlib.ExitStack() as files:
        yield files.enter_context(model_files(model_uri))
        _kept_until_exit.push(files.pop_all())
