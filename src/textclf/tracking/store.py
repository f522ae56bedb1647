"""What both sides of tracking (training and its worker) need to know about a store, without
importing MLflow: its kind and settings, its lock, how its failures read as one line, and what the
two sides hand each other (``Registration``, ``TrackingLost``, ``TrackingError``). Whether it can
be reached: ``reachability``."""

from __future__ import annotations

import contextlib
import fcntl
import re
import shlex
from urllib.parse import urlsplit, urlunsplit
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from textclf.errors import UserError
from textclf.tracking.names import check_names

RUN_SETTINGS = ("register", "server_silence_seconds")  # the run's choices, not the store's
# MLflow 3's server (and `mlflow ui`) also starts a job runner for its GenAI features: a process
# per job kind, each importing MLflow, and a folder in /dev/shm it leaves behind. textclf runs
# no MLflow job, so the servers it starts and the `mlflow ui` it suggests go without it
# (benchmarks/mlflow_ui.py: 7 processes and ~1 GB for `mlflow ui`, against 15 and ~2.4 GB).
NO_SERVER_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class StoreKind(Enum):
    SQLITE = "sqlite"      # a local database file: textclf locks it while creating and registering
    SERVER = "server"      # an `mlflow server`: it decides where artifacts go
    DATABRICKS = "databricks"
    OTHER = "other"        # another database URI SQLAlchemy understands


def store_settings(tracking) -> dict:
    """``tracking`` (the config group, resolved) without ``RUN_SETTINGS``: what ``Tracker.connect``
    takes. Its names are checked first (``names.check_names``)."""
    from omegaconf import OmegaConf

    resolved = OmegaConf.to_container(tracking, resolve=True)
    check_names(resolved)
    return {key: value for key, value in resolved.items() if key not in RUN_SETTINGS}


def server_silence_seconds(tracking) -> float:
    """``tracking.server_silence_seconds``, checked: how long a silent tracking server is borne."""
    seconds = tracking.server_silence_seconds
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:  # nan too
        raise UserError(f"tracking.server_silence_seconds must be a positive number of seconds, got {seconds!r}. "
                        "Fix: pass tracking.server_silence_seconds=15")
    return float(seconds)


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


def artifact_folder(uri: str, artifact_location: str | None) -> Path:
    """Where a local store's new experiments keep their artifacts: ``tracking.artifact_location``,
    else beside a sqlite store's file (a store copied or shared elsewhere keeps its models with
    it), else in the working folder (MLflow's own default)."""
    if artifact_location is not None:
        return Path(artifact_location).expanduser().resolve()
    folder = sqlite_path(uri).expanduser().parent if store_kind(uri) is StoreKind.SQLITE else Path.cwd()
    return (folder / "mlruns").resolve()


# How a user names the store: what a Fix: says to change (train.py's setting, the commands' flag).
STORE_SETTING = "tracking.uri (train.py), --tracking-uri (textclf) or MLFLOW_TRACKING_URI"
STORE_FORMS = "sqlite:///ABS/PATH.db, http://HOST:PORT or a database URI such as postgresql://USER@HOST/DB"


def shown(uri: str) -> str:
    """``uri`` as an error line may show it: without the password a database or server URI may
    hold, in its user part or as a ``password=`` query value."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # not a URL (an unclosed IPv6 bracket): any user:password@ part still hidden
        uri = re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", uri)
    else:
        if parts.password is not None:  # (urlunsplit would drop sqlite:////'s empty host: only here)
            uri = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.netloc.rsplit('@', 1)[1]}"))
    return re.sub(r"(password=)[^&]*", r"\1***", uri, flags=re.IGNORECASE)


# Exceptions from these libraries mean the store failed (unwritable, corrupt, unreachable).
STORE_LIBRARIES = {"sqlalchemy", "sqlite3", "requests", "urllib3", "psycopg", "psycopg2", "pymysql", "alembic"}
# MLflow's error codes that mean the same (others, such as INVALID_PARAMETER_VALUE, mean a bug of ours).
STORE_ERROR_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "PERMISSION_DENIED", "UNAUTHENTICATED",
                     "ENDPOINT_NOT_FOUND", "REQUEST_LIMIT_EXCEEDED"}


def is_store_failure(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) is the store failing rather than textclf."""
    while error is not None:
        if type(error).__module__.split(".")[0] in STORE_LIBRARIES:
            return True
        if getattr(error, "error_code", None) in STORE_ERROR_CODES:
            return True
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def store_errors_as_user_errors(uri: str):
    """Around reading a store in ``compare`` or ``predict``: its failures become one line."""
    try:
        yield
    except Exception as error:
        if is_store_failure(error):
            raise unusable_store(uri, error) from None
        raise


def unusable_store(uri: str, error: BaseException) -> UserError:
    """One line for a store MLflow could not open or write, naming the cause and the fix."""
    cause = getattr(error, "message", None) or str(error) or type(error).__name__
    cause = cause.strip().splitlines()[0]
    cause = re.sub(r"^\((sqlite3|psycopg2?|pymysql)\.\w+\)\s*", "", cause)  # SQLAlchemy's wrapper prefix
    lowered = cause.lower()
    if "error code 401" in lowered or getattr(error, "error_code", None) == "UNAUTHENTICATED":
        return signed_out(uri)
    if "error code 403" in lowered or getattr(error, "error_code", None) == "PERMISSION_DENIED":
        fix = "ask the server's admin for permission on this experiment or model, or sign in as another user"
    elif "readonly" in lowered or "read-only" in lowered or "permission denied" in lowered:
        fix = f"make the store and its folder writable, or point {STORE_SETTING} at a store you can write"
    elif "malformed" in lowered or "not a database" in lowered or "no such table" in lowered:
        fix = (f"its runs cannot be read; restore it from a backup, or point {STORE_SETTING} at a new "
               "file and keep this one aside")
    else:
        fix = f"check {STORE_SETTING}"
    return UserError(f"cannot use tracking store {shown(uri)}: {cause}. Fix: {fix}")


def signed_out(uri: str) -> UserError:
    """One line for a server that does not know who is asking (401)."""
    return UserError(f"cannot use tracking store {shown(uri)}: the server asks who you are (401), and the user "
                     "name or password given is missing or wrong. Fix: export MLFLOW_TRACKING_USERNAME=... "
                     "MLFLOW_TRACKING_PASSWORD=... (or MLFLOW_TRACKING_TOKEN=...; the server's admin sets up users)")


def ui_command(uri: str) -> str:
    """How a person looks at the store's runs."""
    if store_kind(uri) is StoreKind.SERVER:
        return f"open {shown(uri)}"
    no_jobs = " ".join(f"{name}={value}" for name, value in NO_SERVER_JOBS.items())
    return f"{no_jobs} mlflow ui --backend-store-uri {shlex.quote(shown(uri))}"


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
    """What registering a run's model did: its version, and whether it became champion (against
    the champion's ``metric``: this run's ``score``, the champion's ``champion_score``)."""

    uri: str
    version: str
    promoted: bool
    champion_version: str
    metric: str
    score: float
    champion_score: float | None  # None: there was no champion (then this version is promoted)
    previous_version: str | None = None  # the champion before this registration, if any
    scored_on_other_data: bool = False  # that champion's validation score was measured on another split

    def outcome(self) -> str:
        """``now champion``, or ``champion stays vN`` and why: a higher score, or a tie, which keeps it;
        and whether the two scores were measured on different validation splits."""
        elsewhere = ""
        if self.scored_on_other_data:
            elsewhere = (f"; v{self.previous_version} was scored on another validation split, so the two scores do not "
                         "compare (tracking.registered_model=NAME keeps a dataset's models apart)")
        if self.promoted:
            return "now champion" + elsewhere
        if self.score == self.champion_score:
            return (f"champion stays v{self.champion_version}: the same {self.metric}, {self.score:.3f}; a tie keeps it"
                    + elsewhere)
        shown = "{:.3f}" if f"{self.score:.3f}" != f"{self.champion_score:.3f}" else "{!r}"  # apart in later digits
        return (f"champion stays v{self.champion_version}: its {self.metric} {shown.format(self.champion_score)} "
                f"against {shown.format(self.score)}" + elsewhere)


class TrackingLost(UserError):
    """Tracking stopped working during a run (its worker died, its server stopped answering)."""

    exit_code = 1


class TrackingError(Exception):
    """An unexpected failure inside the tracking worker, carrying its traceback as its message."""
