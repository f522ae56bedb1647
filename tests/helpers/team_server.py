"""A team server (`textclf server start`) for tests: its folder, credentials, and what it left."""

import os
import pwd
import tempfile
from pathlib import Path

import pytest

from helpers.processes import clean_env

PASSWORD = "a-long-enough-password-for-tests"


def server_folder() -> Path:
    """An empty folder for the server. PostgreSQL refuses root, and started by root the cluster runs
    as the folder's owner: the postgres account (Debian's package makes it), in a folder it can reach."""
    if os.geteuid() != 0:
        return Path(tempfile.mkdtemp(prefix="textclf-team-server-"))
    folder = Path(tempfile.mkdtemp(prefix="textclf-team-server-", dir="/tmp"))
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("no postgres account: PostgreSQL is not installed. Fix: apt-get install postgresql "
                    "(.ci/run installs it when missing)")
    os.chown(folder, account.pw_uid, account.pw_gid)
    return folder


def processes_using(folder: Path) -> list[str]:
    """Command lines of live processes that name ``folder`` (PostgreSQL's and MLflow's do)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(folder) in command and state != "Z" and entry != str(os.getpid()):
            found.append(command)
    return found


def credentials(password=PASSWORD, **extra) -> dict:
    """A client's environment: signed in as the admin (with ``password``), plus ``extra``."""
    return clean_env(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password, **extra)


def sign_in(monkeypatch) -> None:
    """Sign this test process's MLflow clients in as the admin."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)


def start_team_server(folder: Path, port: int):
    """`textclf server start` as a user types it; return the URL."""
    from helpers.processes import run_cli

    result = run_cli("server", "start", "--data", str(folder), "--port", str(port), env=credentials(), timeout=300)
    logs = "".join(path.read_text() for path in (folder / "logs").glob("*.log")) if (folder / "logs").is_dir() else ""
    assert result.returncode == 0, result.stderr + logs[-5000:]
    url = f"http://127.0.0.1:{port}"
    assert f"running at {url}" in result.stdout
    return url


def stop_team_server(folder: Path) -> None:
    """`textclf server stop`, then check that it says so and left no process behind."""
    from helpers.processes import run_cli

    stopped = run_cli("server", "stop", "--data", str(folder), env=clean_env(), timeout=120)
    assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped", stopped.stderr
    status = run_cli("server", "status", "--data", str(folder), env=clean_env())
    assert status.returncode == 3 and status.stdout.startswith("not running")
    assert processes_using(folder) == []
