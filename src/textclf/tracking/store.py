"""What both sides of tracking need to know about a store, without importing MLflow."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shlex
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode, urlsplit, urlunsplit
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from textclf.errors import UserError
from textclf.tracking.names import check_names

# An endpoint every MLflow server has: one with sign-in answers 401 unless the user and password
# MLflow's client would send are right (another answer, a 404 or a 403, is not this check's concern).
SIGN_IN_PROBE = ("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": "Default"})
HEARTBEAT_SECONDS = 3  # a tracking server is asked for its health this often, and waited for this long
RUN_SETTINGS = ("register", "server_silence_seconds")  # the run's choices, not the store's


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


# Database URIs MLflow keeps runs and registered models in through SQLAlchemy (its own list).
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql", "sqlite")
DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}  # where a host's database listens
# The pip package of a database driver, where its name is not the module's.
DRIVER_PACKAGES = {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient",
                   "mysql": "mysql-connector-python"}
# Query keys that send a database connection through a local socket, not the host's TCP port.
SOCKET_KEYS = ("host", "unix_socket", "unix_sock")
# How a user names the store: what a Fix: says to change (train.py's setting, the commands' flag).
STORE_SETTING = "tracking.uri (train.py), --tracking-uri (textclf) or MLFLOW_TRACKING_URI"
STORE_FORMS = "sqlite:///ABS/PATH.db, http://HOST:PORT or a database URI such as postgresql://USER@HOST/DB"


def shown(uri: str) -> str:
    """``uri`` as an error line may show it: without the password a database or server URI may
    hold, in its user part or as a ``password=`` query value."""
    parts = urlsplit(uri)
    if parts.password is not None:  # (urlunsplit would drop sqlite:////'s empty host: only here)
        uri = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.netloc.rsplit('@', 1)[1]}"))
    return re.sub(r"(password=)[^&]*", r"\1***", uri, flags=re.IGNORECASE)


def checked_database_url(uri: str):
    """Refuse, in one line, a URI of a store textclf cannot track and register in (a mistyped
    scheme, MLflow's file store, which has no model registry), or a database whose Python driver is
    missing. Only the scheme is named: a database URI may hold a password. Returns a database's
    parsed URI (SQLAlchemy's), else None."""
    if store_kind(uri) is not StoreKind.OTHER:
        return None
    scheme = uri.split("://", 1)[0]
    if scheme.split("+", 1)[0] not in DATABASE_SCHEMES:
        raise UserError(f"tracking URI scheme {scheme + '://'!r} names no store textclf can track and register "
                        f"models in. Fix: use {STORE_FORMS}")
    from sqlalchemy.engine import make_url

    try:
        url = make_url(uri)
        url.get_dialect().import_dbapi()
    except ImportError as missing:  # the driver, or a library it loads (psycopg without [binary]: libpq)
        module = (missing.name or "").split(".")[0]
        package = DRIVER_PACKAGES.get(module, module) or "its database driver"
        raise UserError(f"a {scheme}:// tracking store needs the Python package {package}, which cannot be imported "
                        f"({str(missing).splitlines()[0]}). Fix: pip install {package}") from None
    except Exception as error:  # noqa: BLE001 - SQLAlchemy's own words for a URI it cannot parse
        raise UserError(f"cannot read the {scheme}:// tracking URI: {str(error).splitlines()[0]}. "
                        f"Fix: use {STORE_FORMS}") from None
    return url


def check_database_reachable(url, timeout: float) -> None:
    """A database on a host (not a local socket) answers on its port within ``timeout`` seconds;
    MLflow would otherwise retry for minutes, warning at each try."""
    local_mysql = url.get_backend_name() == "mysql" and url.host == "localhost"  # MySQL's socket
    if not url.host or url.host.startswith("/") or local_mysql or any(key in url.query for key in SOCKET_KEYS):
        return
    port = url.port or DATABASE_PORTS.get(url.get_backend_name())
    try:
        socket.create_connection((url.host, port), timeout=timeout).close()
    except OSError as error:
        raise UserError(f"tracking database {url.host}:{port} is unreachable ({error}). Fix: start it, or point "
                        f"{STORE_SETTING} elsewhere") from None


def check_reachable(uri: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds, before training, when a store cannot be used."""
    database = checked_database_url(uri)
    if database is not None and database.get_backend_name() != "sqlite":
        check_database_reachable(database, timeout)
    kind = store_kind(uri)
    if kind is StoreKind.SERVER:
        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).close()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise UserError(f"tracking server {shown(uri)} is unreachable ({reason}). "
                            f"Fix: start it, or point {STORE_SETTING} elsewhere") from None
        _check_signed_in(uri, timeout)
    elif kind is StoreKind.SQLITE and not sqlite_path(uri).parent.is_dir():
        raise UserError(f"tracking store folder {sqlite_path(uri).parent} does not exist. "
                        f"Fix: create it or change {STORE_SETTING}")


def _check_signed_in(uri: str, timeout: float) -> None:
    """Fail before training when a server with sign-in refuses who MLflow's client says it is.

    Asked first without MLflow (this process does not import it), signed in from the environment
    as MLflow's client signs in: ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``
    (basic), else ``MLFLOW_TRACKING_TOKEN`` (bearer). A 401 then is asked again by MLflow's own
    client (``tracking.client.server_knows_who_asks``), which also signs in from its credentials
    file, ``~/.netrc``, header and auth plugins: only its 401 refuses."""
    path, query = SIGN_IN_PROBE
    request = urllib.request.Request(f"{uri.rstrip('/')}{path}?{urlencode(query)}")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    elif os.environ.get("MLFLOW_TRACKING_TOKEN"):
        request.add_header("Authorization", f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}")
    try:
        urllib.request.build_opener(_NoRedirects).open(request, timeout=timeout).close()
    except urllib.error.HTTPError as error:
        if error.code != 401:
            return
    except (urllib.error.URLError, OSError):
        return  # it answered /health a moment ago: what fails now, MLflow's client reports
    from textclf.tracking.client import server_knows_who_asks  # MLflow: imported only on a refusal

    if not server_knows_who_asks(uri, timeout):
        raise signed_out(uri)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (not a 401), never followed: a password goes to no other host."""

    def redirect_request(self, *args, **kwargs):
        return None


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
    return f"mlflow ui --backend-store-uri {shlex.quote(shown(uri))}"


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


class TrackingLost(UserError):
    """Tracking stopped working during a run (its worker died, its server stopped answering)."""

    exit_code = 1


def watch_server(uri: str, silence_seconds: float, on_lost, stop: threading.Event) -> None:
    """Ask the tracking server ``uri`` for its health every ``HEARTBEAT_SECONDS``, on a thread,
    until ``stop`` is set; call ``on_lost`` once if it has not answered for ``silence_seconds``
    (at most two heartbeats later: a probe may wait a heartbeat for its answer).

    MLflow's own client would retry a silent server for minutes; training should not run on for
    that long with nothing recorded.
    """
    def watch() -> None:
        last_answer = time.monotonic()
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=HEARTBEAT_SECONDS).close()
                last_answer = time.monotonic()
            except (urllib.error.URLError, OSError):
                silent = time.monotonic() - last_answer
                if silent >= silence_seconds and not stop.is_set():
                    on_lost(TrackingLost(
                        f"tracking server {shown(uri)} stopped answering {silent:.0f} s ago, so training stopped; "
                        "the next train.py, predict or compare on it ends the run FAILED. "
                        "Fix: restart the server (or check the network) and rerun"))
                    return

    threading.Thread(target=watch, name="watch-server", daemon=True).start()


class TrackingError(Exception):
    """An unexpected failure inside the tracking worker, carrying its traceback as its message."""
