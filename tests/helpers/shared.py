"""A costly fixture built once per test run, whichever pytest-xdist worker asks for it first.

Session fixtures are per worker: with `-n 2`, each would be built twice. These folders live beside
the workers' own temporary folders and are filled under a lock; a second worker that asks waits,
then reads what the first built. Their tests only read them. (The tests of a build that few test
files read run in one worker, ``GROUPED`` in tests/conftest.py, so that nobody waits.)
"""

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name``, filled by ``build(folder)`` the first time any worker asks."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's, not the worker's
    return built_once_in(shared, name, build)


def built_once_in(shared: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``shared/name``, filled by ``build(folder)`` under a lock both workers take, once: a build
    that was interrupted (no ``name.done``), or whose folder is gone, is emptied and done again."""
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (done.exists() and folder.is_dir()):
            done.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def keep_result(path: Path, result: subprocess.CompletedProcess) -> None:
    """A finished process's exit code and output, for the workers that did not run it."""
    path.write_text(json.dumps({"args": [str(a) for a in result.args], "returncode": result.returncode,
                                "stdout": result.stdout, "stderr": result.stderr}))


def kept_result(path: Path) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(**json.loads(path.read_text()))
