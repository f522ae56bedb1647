"""A private PostgreSQL cluster in a folder: created with ``initdb``, run with ``pg_ctl``.

It listens on no network port, only on a Unix socket inside its own folder (mode 0700), so only
the account that owns the folder (and root) can reach the database; MLflow's server is the only
client. PostgreSQL refuses to run as root: started by root, the cluster
runs as the owner of the data folder, which must then be another account.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from textclf.errors import UserError
from textclf.procstat import has_exited
from textclf.server.process_group import is_alive

SUPERUSER = "postgres"
PORT = 5432  # only names the socket file: the cluster opens no TCP port
INSTALL_FIX = "Fix: install PostgreSQL (Debian: apt-get install postgresql)"


def postgres_program(name: str) -> str:
    """The path of a PostgreSQL program (``initdb``, ``pg_ctl``): on PATH, or Debian's newest
    /usr/lib/postgresql/VERSION/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    if not versions:
        raise UserError(f"PostgreSQL's {name} was not found. {INSTALL_FIX}")
    return versions[-1]


def is_cluster(folder: Path) -> bool:
    """Whether ``folder`` holds a cluster ``initdb`` made."""
    return (folder / "PG_VERSION").is_file()


@dataclass(frozen=True)
class Account:
    """Who runs the cluster: this process's user, or (when that is root) the data folder's owner."""

    name: str
    uid: int
    gid: int

    def run_as(self) -> dict:
        """``subprocess`` keyword arguments that run a program as this account."""
        return {} if self.uid == os.geteuid() else {"user": self.uid, "group": self.gid, "extra_groups": []}


def cluster_account(data: Path) -> Account:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    owner = data.stat().st_uid
    if owner == 0:
        raise UserError(f"PostgreSQL refuses to run as root, and {data} belongs to root. Fix: run textclf server "
                        f"as a normal user, or give the folder to one (chown postgres {data})")
    entry = pwd.getpwuid(owner)
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


@dataclass(frozen=True)
class Cluster:
    """The cluster in ``folder`` (its data and socket), run by ``account``, logging to ``log``."""

    folder: Path
    account: Account
    log: Path

    def sqlalchemy_uri(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={quote(str(self.folder), safe='/')}&port={PORT}"

    def exists(self) -> bool:
        return is_cluster(self.folder)

    def create(self) -> None:
        """``initdb``: a new cluster whose superuser logs in over the socket without a password."""
        if self.folder.exists() and any(self.folder.iterdir()):  # initdb failures remove what they made
            raise UserError(f"{self.folder} exists and is not a PostgreSQL cluster. Fix: move it out of the server "
                            "folder, or pass another --data")
        self.folder.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.folder, self.account.uid, self.account.gid)
        try:
            self._run("initdb", "-D", str(self.folder), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                      "--no-instructions")
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def start(self) -> None:
        left = self._recorded_pid()
        if left is not None and has_exited(left):  # PostgreSQL takes its pid file for a live server's
            raise UserError(f"PostgreSQL's last server process (pid {left}) was killed and has not been collected "
                            "yet, and PostgreSQL will not start while its pid file names it. Fix: start again in a "
                            "moment; in a container, run it with an init that collects exited processes "
                            "(docker run --init)")
        # pg_ctl hands -o to a shell: the folder is quoted for it
        options = f"-p {PORT} -k {shlex.quote(str(self.folder))} -c listen_addresses='' -c unix_socket_permissions=0700"
        self._run("pg_ctl", "-D", str(self.folder), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.folder), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self.pid() is not None

    def pid(self) -> int | None:
        """The postmaster's pid, from its pid file, if that process is alive. Killed, it leaves its
        pid file and stays a zombie until init collects it (for ever, where the first process
        collects none): not alive, so `status` does not report it and `stop` does not hand it to
        `pg_ctl stop`, which would wait for the pid file to go."""
        pid = self._recorded_pid()
        return pid if pid is not None and is_alive(pid) else None

    def _recorded_pid(self) -> int | None:
        try:
            return int((self.folder / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def create_database(self, name: str) -> None:
        import psycopg  # the server extra; only the server needs it

        with psycopg.connect(host=str(self.folder), port=PORT, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as connection:
            if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                connection.execute(f'CREATE DATABASE "{name}"')

    def _run(self, program: str, *arguments: str) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if os.geteuid() == 0:  # pg_ctl -l reopens the log as the cluster's account
            os.chown(self.log, self.account.uid, self.account.gid)
        with self.log.open("a") as log:
            result = subprocess.run([postgres_program(program), *arguments], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd="/", **self.account.run_as())
        if result.returncode != 0:
            raise UserError(f"PostgreSQL's {program} failed (exit {result.returncode}); its messages are in "
                            f"{self.log}. Fix: read them; a folder the account {self.account.name} cannot enter "
                            "is a common cause")
