"""A process's line of ``/proc/PID/stat`` (Linux, proc(5)), read in one place: the command name
in it may hold spaces and parentheses, so its fields are counted after the name's last ``)``."""

from __future__ import annotations

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
