"""``textclf server start | status | stop --data DIR``: a team's MLflow tracking server.

Everything lives in DIR:

    DIR/postgres/        the private PostgreSQL cluster (runs, registry; MLflow's users and permissions)
    DIR/artifacts/       artifacts, served through the tracking server (clients never see this path)
    DIR/logs/            postgres.log, mlflow.log
    DIR/auth.ini         MLflow's basic-auth settings (no password: the admin's is only in the database)
    DIR/secret_key       the key the auth app signs its forms' CSRF tokens with (mode 0600)
    DIR/server.json      where the server listens and its processes, while it runs

MLflow's basic-auth app is on: the first start creates the user ``admin`` with the password in
``MLFLOW_TRACKING_PASSWORD`` (refusing to start without one); later starts keep the stored one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from textclf.errors import UserError
from textclf.extras import EXTRAS, is_installed, missing_extra_message
from textclf.server.address import answers_health, check_port_free, server_url
from textclf.server.postgres import Cluster, cluster_account, is_cluster
from textclf.server.process_group import group_members, is_alive, stop_group
from textclf.tracking.ownership import describe, is_gone, of_this_boot
from textclf.tracking.store import NO_SERVER_JOBS

ADMIN = "admin"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
TRACKING_DATABASE, AUTH_DATABASE = "mlflow", "mlflow_auth"
HEALTH_TIMEOUT = 180  # seconds; MLflow answers /health 11-17 s after starting on 2 cores
AUTH_CACHE_SECONDS = 60
MIN_PASSWORD = 12  # MLflow's own rule for a user's password
SOCKET_PATH_LIMIT = 107  # bytes of a Unix socket's path (sun_path), the socket file's name included


@dataclass(frozen=True)
class ServerState:
    """What server.json holds while the server runs."""

    url: str
    host: str
    port: int
    mlflow_pid: int
    mlflow_process: str  # tracking.ownership's description of it: a reused pid is told apart


class TeamServer:
    """The server whose files are in ``data``."""

    def __init__(self, data: str | Path):
        self.data = Path(data).expanduser().resolve()
        self.state_file = self.data / "server.json"
        self.logs = self.data / "logs"

    def cluster(self) -> Cluster:
        return Cluster(self.data / "postgres", cluster_account(self.data), self.logs / "postgres.log")

    def existing_cluster(self) -> Cluster | None:
        """The cluster, if a start ever made one here."""
        return self.cluster() if (self.data / "postgres").exists() else None

    def state(self) -> ServerState | None:
        try:
            return ServerState(**json.loads(self.state_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    # --- start ---------------------------------------------------------------------------------
    def start(self, host: str, port: int) -> ServerState:
        """Start PostgreSQL, then MLflow's server on it; return once /health answers."""
        with self._locked():  # one start or stop at a time on a folder
            password = self.check_can_start(host, port)
            cluster = self.cluster()
            if not cluster.exists():
                cluster.create()
            if not cluster.running():  # it may outlive an MLflow server that died
                cluster.start()
            process, url = None, server_url(host, port)
            try:
                cluster.create_database(TRACKING_DATABASE)
                cluster.create_database(AUTH_DATABASE)
                process, log_start = self._start_mlflow(cluster, host, port, password)
                self._wait_until_healthy(url, process, log_start)
                state = ServerState(url, host, port, process.pid, describe(process.pid))
                self.state_file.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
            except BaseException:  # a Ctrl-C too: leave nothing running behind a failed start
                if process is not None:
                    stop_group(process.pid)
                cluster.stop()
                raise
            return state

    @contextlib.contextmanager
    def _locked(self):
        with open(self.data / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @staticmethod
    def _mlflow_pid(state: ServerState | None) -> int | None:
        """The recorded MLflow server's pid, if that process still runs (a pid from before a
        reboot or a kill may now be another program's: ``tracking.ownership`` tells them apart)."""
        if state is None or is_gone(state.mlflow_process) or not is_alive(state.mlflow_pid):
            return None
        return state.mlflow_pid

    @staticmethod
    def _left_workers(state: ServerState | None) -> int | None:
        """The process group of a recorded MLflow server whose own process died (SIGKILL, out of
        memory) while its workers, in the group it led, still run and hold the port. Only on the
        machine and boot it was recorded on, and only a group of MLflow's processes: Linux gives
        no new process the group's id while any process is in it, but once it emptied, another
        program's group may carry it."""
        if state is None or not of_this_boot(state.mlflow_process) or is_alive(state.mlflow_pid):
            return None
        members = group_members(state.mlflow_pid)
        return state.mlflow_pid if members and all("mlflow" in command for command in members) else None

    def check_can_start(self, host: str, port: int) -> str:
        """Raise ``UserError`` for what would stop a start, before anything is made; return the
        admin password for a first start ('' for a later one)."""
        running = self.state()
        if self._mlflow_pid(running) is not None:
            raise UserError(f"a server from {self.data} already runs at {running.url}. "
                            f"Fix: use it, or stop it first (textclf server stop --data {self.data})")
        if not self.data.is_dir():
            raise UserError(f"server folder {self.data} does not exist. Fix: create it (mkdir -p {self.data})")
        first_start = not is_cluster(self.data / "postgres")
        password = os.environ.get(PASSWORD_ENV, "")
        if first_start and not password:
            raise UserError(f"the first start creates the user {ADMIN}, and {PASSWORD_ENV} is not set. "
                            f"Fix: export {PASSWORD_ENV}=... (at least {MIN_PASSWORD} characters), then start again")
        if first_start and len(password) < MIN_PASSWORD:
            raise UserError(f"{PASSWORD_ENV} has {len(password)} characters, and MLflow wants at least {MIN_PASSWORD} "
                            f"for the user {ADMIN}. Fix: export a longer {PASSWORD_ENV}, then start again")
        socket = self.data / "postgres" / ".s.PGSQL.5432"
        if len(os.fsencode(socket)) > SOCKET_PATH_LIMIT:
            raise UserError(f"the server folder's path is too long for PostgreSQL's socket ({socket}: more than "
                            f"{SOCKET_PATH_LIMIT} bytes). Fix: pass a --data folder with a shorter path")
        if not all(map(is_installed, EXTRAS["server"])):
            raise UserError(missing_extra_message("textclf server", "server"))
        self.cluster()  # refuses a root-owned folder when run as root
        check_port_free(host, port)
        return password if first_start else ""  # later starts: the password stays out of the server's environment

    def _start_mlflow(self, cluster: Cluster, host: str, port: int, password: str) -> tuple[subprocess.Popen, int]:
        """MLflow's server, started; and where in its log this start's lines begin."""
        # The artifacts are read through the server only: the folder is MLflow's account's alone.
        _private_folder(self.data / "artifacts", owner=None)
        auth_config = self.data / "auth.ini"
        if not auth_config.exists():  # written once: an admin may edit it (default_permission...)
            self._write_auth_config(auth_config, cluster)
        environment = dict(os.environ, MLFLOW_AUTH_CONFIG_PATH=str(auth_config), MLFLOW_DISABLE_TELEMETRY="true",
                           MLFLOW_FLASK_SERVER_SECRET_KEY=self._secret_key())
        for name, value in NO_SERVER_JOBS.items():  # an admin who wants MLflow's jobs sets it to true
            environment.setdefault(name, value)
        environment.pop(PASSWORD_ENV, None)
        if password:  # read only when the admin does not exist yet
            environment["MLFLOW_AUTH_ADMIN_PASSWORD"] = password
        # The venv's bin first: mlflow server runs uvicorn by name.
        environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
        command = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
                   "--backend-store-uri", cluster.sqlalchemy_uri(TRACKING_DATABASE),
                   "--artifacts-destination", str(self.data / "artifacts"),
                   "--host", host, "--port", str(port), "--workers", "1"]
        _private_folder(self.logs, owner=cluster.account)  # PostgreSQL writes its log there too
        with (self.logs / "mlflow.log").open("a") as log:
            # A session of its own: stop signals the whole group (uvicorn's workers are children),
            # and a Ctrl-C in the terminal that started it does not reach it. It runs as whoever
            # starts it: a deployment starts it as a normal user (the README says so).
            start = log.tell()  # before the server writes: it shares this file's offset
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=environment, cwd=self.data, start_new_session=True)
            return process, start

    def _write_auth_config(self, auth_config: Path, cluster: Cluster) -> None:
        auth_config.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {cluster.sqlalchemy_uri(AUTH_DATABASE).replace('%', '%%')}\n"  # configparser
            f"admin_username = {ADMIN}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # Checking a password costs a PBKDF2 hash on every request: 10 rounds of a 4-way
            # registration race took 137 s, 20 s with checks cached. A cached check can go stale
            # only on a worker other than the one that changed the user; this server runs one.
            f"auth_cache_ttl_seconds = {AUTH_CACHE_SECONDS}\n",
            encoding="utf-8")

    def _secret_key(self) -> str:
        """The key the auth app signs its CSRF tokens with: made at the first start, kept (0600)."""
        path = self.data / "secret_key"
        if not path.exists():
            import secrets

            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip()

    def _wait_until_healthy(self, url: str, process: subprocess.Popen, log_start: int) -> None:
        """Wait for /health; a server that exits first is reported with the last error it logged
        after ``log_start`` (earlier starts' lines are not this start's)."""
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise UserError(f"MLflow's server exited ({process.returncode}) before answering: "
                                f"{_last_error(self.logs / 'mlflow.log', log_start)}. "
                                f"Fix: see {self.logs / 'mlflow.log'}")
            if answers_health(url):
                return
            time.sleep(0.5)
        raise UserError(f"MLflow's server did not answer {url}/health within {HEALTH_TIMEOUT} s. "
                        f"Fix: see {self.logs / 'mlflow.log'}")

    # --- status and stop ------------------------------------------------------------------------
    def status(self) -> tuple[bool, bool, str]:
        """(running, answering /health, one line saying what runs)."""
        if not self.data.is_dir():  # not running, as a monitoring script wants it; a mistyped --data, likely
            return False, False, f"not running (no server folder {self.data}: check --data)"
        state = self.state()
        cluster = self.existing_cluster()
        postgres = cluster.pid() if cluster is not None else None
        if self._mlflow_pid(state) is None:
            extra = f"; PostgreSQL still runs (pid {postgres})" if postgres else ""
            left = self._left_workers(state)
            extra += (f"; MLflow's process died, and its workers (process group {left}) still run: "
                      f"textclf server stop --data {self.data} ends them") if left else ""
            return False, False, f"not running (server folder {self.data}){extra}"
        healthy = answers_health(state.url)
        health = "healthy" if healthy else "not answering /health (starting, stopping or hung)"
        return True, healthy, (f"running at {state.url}, {health} (MLflow pid {state.mlflow_pid}, "
                               f"PostgreSQL pid {postgres})")

    def stop(self) -> bool:
        """Stop MLflow's server, then PostgreSQL; whether anything was running."""
        with self._locked():
            state = self.state()
            group = self._mlflow_pid(state) or self._left_workers(state)
            cluster = self.existing_cluster()
            was_running = group is not None or (cluster is not None and cluster.running())
            if group is not None:
                stop_group(group)
            if cluster is not None:
                cluster.stop()
            self.state_file.unlink(missing_ok=True)
            return was_running


def _private_folder(folder: Path, owner) -> None:
    """``folder``, made if missing, with mode 0700: this process's user's alone, or (when root
    runs it) ``owner``'s, an ``Account``."""
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    if owner is not None and os.geteuid() == 0:
        os.chown(folder, owner.uid, owner.gid)


def _last_error(log: Path, start: int) -> str:
    """The last line of ``log`` after byte ``start`` that names an error (else its last line)."""
    try:
        with log.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
    except OSError:
        return "no log"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors or lines or ["no output"])[-1][:300]
