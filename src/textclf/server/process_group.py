"""The server's processes, read from /proc: each server (MLflow with its workers) leads a process
group of its own, stopped as a whole."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from textclf.procstat import GROUP, has_exited, stat_fields

STOP_TIMEOUT = 30  # seconds a group has to go after SIGTERM before SIGKILL


def stop_group(pid: int) -> None:
    """SIGTERM the process group ``pid`` leads (the server and its workers), SIGKILL what is left."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and group_alive(pid):
        time.sleep(0.2)
    if group_alive(pid):
        os.killpg(pid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    """Whether any live process is in the process group ``pgid``."""
    return any(_pids_in(pgid))  # pids are non-empty strings


def group_members(pgid: int) -> list[str]:
    """The command lines of the live processes in the process group ``pgid``."""
    commands = []
    for pid in _pids_in(pgid):
        try:
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # gone meanwhile
            continue
    return commands


def _pids_in(pgid: int):
    """The live processes (``/proc`` entries) in the process group ``pgid``."""
    return (entry for entry in os.listdir("/proc") if entry.isdigit() and _group_of(entry) == pgid)


def _group_of(pid: str) -> int | None:
    """The process group of a live process (not one that has exited), from /proc."""
    fields = stat_fields(pid)
    return int(fields[GROUP]) if fields and not has_exited(pid, fields) else None


def is_alive(pid: int) -> bool:
    """Running (not gone, not exited: ``procstat.has_exited``)."""
    fields = stat_fields(pid)
    return fields is not None and not has_exited(pid, fields)
