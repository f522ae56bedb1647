"""A process's line of ``/proc/PID/stat`` (Linux, proc(5)), read in one place: the command name
in it may hold spaces and parentheses, so its fields are counted after the name's last ``)``."""

from __future__ import annotations

import os
from pathlib import Path

STATE, GROUP = 0, 2  # indexes in ``stat_fields``: proc(5)'s fields 3 and 5
START_TICKS = 19  # field 22: when the process started, in clock ticks after boot


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of process ``pid`` (``"self"``: this one) after its command name: state,
    parent, group, ...; None when they cannot be read (gone, or not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def has_exited(pid: int | str, fields: list[str] | None = None) -> bool:
    """Whether process ``pid`` has exited, its exit status not yet collected (a zombie; killed with
    its parent, until init collects it, or for ever where the first process collects none). Its
    first thread shows as one as soon as it ends, while others may still run (a main thread that
    called ``pthread_exit``) or be ending (a killed process): only once they are gone too.
    ``fields``: its ``stat_fields``, when the caller has read them already."""
    fields = stat_fields(pid) if fields is None else fields
    if fields is None or fields[STATE] not in ("Z", "X"):
        return False
    try:
        return len(os.listdir(f"/proc/{pid}/task")) <= 1
    except OSError:  # collected meanwhile
        return True
