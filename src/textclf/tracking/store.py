"""What both sides of tracking need to know about a store, without importing MLflow."""

from __future__ import annotations

import contextlib
import fcntl
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from textclf.errors import UserError

# A sweep's parent run id, handed to its jobs (see textclf.tracking.sweep).
PARENT_RUN_ENV = "TEXTCLF_PARENT_RUN_ID"


class StoreKind(Enum):
    SQLITE = "sqlite"      # a local database file: textclf locks it while creating and registering
    SERVER = "server"      # an `mlflow server`: it decides where artifacts go
    DATABRICKS = "databricks"
    OTHER = "other"        # another database URI SQLAlchemy understands


def store_kind(uri: str) -> StoreKind:
    """What kind of store a tracking URI names."""
    if uri.startswith("sqlite:///"):
        return StoreKind.SQLITE
    if uri.startswith(("http://", "https://")):
        return StoreKind.SERVER
    if uri.startswith("databricks"):
        return StoreKind.DATABRICKS
    if "://" in uri:
        return StoreKind.OTHER
    raise UserError(f"tracking URI {uri!r} is not a URI. Fix: use sqlite:///ABS/PATH.db or http://HOST:PORT")


def is_remote(uri: str) -> bool:
    """Whether the store decides its own artifact location (a server or Databricks)."""
    return store_kind(uri) in (StoreKind.SERVER, StoreKind.DATABRICKS)


def sqlite_path(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))


def check_reachable(uri: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds, before training, when a store cannot be used."""
    kind = store_kind(uri)
    if kind is StoreKind.SERVER:
        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).close()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise UserError(f"tracking server {uri} is unreachable ({reason}). "
                            "Fix: start it, or point tracking.uri / MLFLOW_TRACKING_URI elsewhere") from None
    elif kind is StoreKind.SQLITE and not sqlite_path(uri).parent.is_dir():
        raise UserError(f"tracking store folder {sqlite_path(uri).parent} does not exist. "
                        "Fix: create it or change tracking.uri")


def ui_command(uri: str) -> str:
    """How a person looks at the store's runs."""
    return f"open {uri}" if store_kind(uri) is StoreKind.SERVER else f"mlflow ui --backend-store-uri {uri}"


@contextlib.contextmanager
def store_lock(uri: str):
    """An exclusive lock on a local sqlite store (a no-op for servers, which serialise writes)."""
    if store_kind(uri) is not StoreKind.SQLITE:
        yield
        return
    with Path(str(sqlite_path(uri)) + ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Registration:
    """What registering a run's model did: its version, and whether it became champion."""

    uri: str
    version: str
    promoted: bool
    champion_version: str


class TrackingError(Exception):
    """An unexpected failure inside the tracking worker, carrying its traceback as its message."""
