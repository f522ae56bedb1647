"""Which process owns a run or a lock, and whether that process still exists (no MLflow here).

A run records its owner as ``host/boot id/pid/start ticks``. A process id alone is not enough:
after a reboot, or once the id is reused, another process may carry it. The boot id changes on
every boot, and the start time (clock ticks since boot) tells two processes with one id apart.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from textclf.procstat import START_TICKS, has_exited, stat_fields

OWNER_TAG = "textclf.owner"        # on a run: the training process that started it
WORKER_TAG = "textclf.worker"      # on a run: the tracking worker that logs it (and holds the registry lock)
ENDED_BY_TAG = "textclf.ended_by"  # on a run another process ended: why


def this_process() -> str:
    """This process's owner string."""
    return describe(os.getpid())


def describe(pid: int) -> str:
    return f"{socket.gethostname()}/{_boot_id()}/{pid}/{_start_ticks(pid)}"


def of_this_boot(owner: str) -> bool:
    """Whether ``owner`` was a process of this machine since it last started."""
    host, boot = (owner.split("/") + ["", ""])[:2]
    return host == socket.gethostname() and boot == _boot_id()


def is_gone(owner: str) -> bool:
    """Whether the process ``owner`` names no longer exists. Owners on another host, or written
    by an older textclf, cannot be checked here: they count as alive."""
    try:
        host, boot, pid, ticks = owner.split("/")
        pid = int(pid)
    except ValueError:  # not an owner this textclf wrote
        return False
    if host != socket.gethostname():
        return False
    if boot != _boot_id():
        return True  # the machine restarted since: every process of that boot is gone
    # Exited counts as gone before anything collects it: a worker killed with its training
    # process waited 1-1.5 s for init here, and will never write again.
    fields = stat_fields(pid)
    return has_exited(pid, fields) or _start_ticks(pid, fields) != ticks


def run_processes_gone(tags: dict) -> bool:
    """Whether the processes a run's tags name, its training process and its tracking worker (a
    run of an older textclf names no worker), are all gone: nothing else will then end the run."""
    return OWNER_TAG in tags and all(is_gone(tags[tag]) for tag in (OWNER_TAG, WORKER_TAG) if tag in tags)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: processes are then told apart by id only
        return "-"


def _start_ticks(pid: int, fields: list[str] | None = None) -> str:
    """When ``pid`` started (``fields``: its ``stat_fields``, when the caller has read them)."""
    fields = stat_fields(pid) if fields is None else fields
    if fields is not None and len(fields) > START_TICKS:
        return fields[START_TICKS]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass
    return "-"
