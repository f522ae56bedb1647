"""Whether a store can be used, asked before a run begins, and whether a tracking server still
answers during one; without importing MLflow, which is imported only when a server refuses the
sign-in textclf sends (MLflow's own client then asks again)."""

from __future__ import annotations

import base64
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from textclf.errors import UserError
from textclf.tracking.store import (STORE_FORMS, STORE_SETTING, StoreKind, TrackingLost, shown, signed_out, sqlite_path,
                                    store_kind)

# An endpoint every MLflow server has: one with sign-in answers 401 unless the user and password
# MLflow's client would send are right (another answer, a 404 or a 403, is not this check's concern).
SIGN_IN_PROBE = ("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": "Default"})
HEARTBEAT_SECONDS = 3  # a tracking server is asked for its health this often, and waited for this long
# Database URIs MLflow keeps runs and registered models in through SQLAlchemy (its own list).
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql", "sqlite")
DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}  # where a host's database listens
# The pip package of a database driver, where its name is not the module's.
DRIVER_PACKAGES = {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient",
                   "mysql": "mysql-connector-python"}
# Query keys that send a database connection through a local socket, not the host's TCP port.
SOCKET_KEYS = ("host", "unix_socket", "unix_sock")


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
        except (ValueError, http.client.InvalidURL) as error:  # a URL urllib or http.client cannot parse
            raise UserError(f"tracking server URI {shown(uri)} is not a valid URL ({error}). "
                            f"Fix: use {STORE_FORMS}") from None
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
