"""The temporary folder of a run's model files, and removing those that killed processes left.

A training process writes its model files into a folder of the temporary folder that its tracking
worker logs from (``channel``); the worker removes it when it exits, and so does training when it
closes the worker. When both are killed at once (SIGKILL of the process group, or a joblib sweep's
Ctrl-C: joblib kills its jobs' process trees), neither can. So each folder holds an ``owner``
file naming the training process (``ownership``), and the next process that starts a worker, or
the sweep whose jobs were killed, removes every such folder whose owner is gone. (No MLflow here.)
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from textclf.tracking.ownership import is_gone, this_process

PREFIX = "textclf-"
OWNER_FILE = "owner"


def new_scratch() -> Path:
    """A new folder for this process's next worker, marked as this process's."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        (folder / OWNER_FILE).write_text(this_process(), encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def remove_abandoned(parent: str | None = None) -> list[Path]:
    """Remove the scratch folders in ``parent`` (default: the temporary folder) whose training
    process is gone; return them. A folder without an owner file is not one of these (another
    program's, or one being made this instant) and stays. Deleting a folder whose worker still
    ends its run is harmless: with training gone, the run cannot finish, and ending it reads no
    file."""
    removed = []
    with contextlib.suppress(OSError):
        for folder in Path(parent or tempfile.gettempdir()).glob(f"{PREFIX}*"):
            try:
                owner = (folder / OWNER_FILE).read_text(encoding="utf-8").strip()
            except OSError:  # not a scratch folder, or not readable by us
                continue
            if owner and is_gone(owner):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed
