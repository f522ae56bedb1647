"""What ``python train.py`` prints, also in the run's Hydra log (``outputs/DATE/TIME/train.log``,
each job's folder of a sweep).

textclf prints to the terminal rather than through ``logging``, so Hydra's log file stayed empty.
Here each line written to stdout or stderr is copied there too, once complete, through the file
handlers Hydra gave the root logger (its format: time, level, message): ``error:`` lines at
ERROR, ``warning:`` lines at WARNING, the rest at INFO. A progress bar, redrawn with carriage
returns, leaves its last state only. Without a log file (``hydra/job_logging=disabled``) nothing
is copied. What reaches the terminal is unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading

LEVELS = {"error:": logging.ERROR, "warning:": logging.WARNING}
# One lock for the copies: held while a line is logged. A child forked meanwhile (a fit's second
# core) would inherit it held, and hang at its first print: so each child gets a fresh one.
_lock = threading.RLock()


def _fresh_lock_in_child() -> None:
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


class _LineCopier:
    """Hands the complete lines of both streams to ``logger``, one thread at a time (the fit runs
    on a thread of its own, and its progress bar and warnings write from there). While it logs,
    what logging itself writes (its complaint about a failed write, on stderr) is not copied back;
    a log that fails outright (its file cannot be opened) is given up: the run goes on without it."""

    def __init__(self, logger: logging.Logger):
        self._logger, self._busy = logger, threading.local()

    def copy(self, stream: _CopiedLines, text: str) -> None:
        if self._logger is None or getattr(self._busy, "on", False):
            return
        with _lock:
            self._busy.on = True
            try:
                *lines, stream.pending = (stream.pending + text).split("\n")
                stream.pending = _last_state(stream.pending)  # a bar redrawn 20,000 times is one line
                for line in lines:
                    self._log(line)
            except Exception:  # noqa: BLE001 - the copy is a convenience; the terminal's output goes on
                self._logger = None
            finally:
                self._busy.on = False

    def _log(self, line: str) -> None:
        line = _last_state(line)
        if line.strip():
            self._logger.log(next((level for start, level in LEVELS.items() if line.startswith(start)),
                                  logging.INFO), line)


def _last_state(line: str) -> str:
    """What a terminal shows of ``line``: the text after its last carriage return (a line ended
    ``\\r\\n`` keeps its text)."""
    return line.rstrip().rsplit("\r", 1)[-1].rstrip()


class _CopiedLines:
    """A text stream that writes through to ``stream`` and hands what it wrote to ``copier``."""

    def __init__(self, stream, copier: _LineCopier):
        self._stream, self._copier, self.pending = stream, copier, ""

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._copier.copy(self, text)
        return written

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:  # progress bars and colours ask
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name):  # encoding, errors...: the stream's own
        return getattr(self._stream, name)


def _file_logger() -> logging.Logger | None:
    """A logger writing only to the root logger's files (Hydra's job log); None if there are none."""
    files = [handler for handler in logging.getLogger().handlers if isinstance(handler, logging.FileHandler)]
    if not files:
        return None
    logger = logging.getLogger("textclf.output")  # not "textclf": a module's logger would be its child
    logger.handlers, logger.propagate, logger.level = files, False, logging.INFO
    return logger


@contextlib.contextmanager
def output_copied_to_job_log():
    """Within the block, stdout and stderr lines go to Hydra's job log file too."""
    logger = _file_logger()
    if logger is None:
        yield
        return
    copier = _LineCopier(logger)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = copies = [_CopiedLines(stream, copier) for stream in streams]
    try:
        yield
    finally:
        # put back only what is still ours (whoever replaced a stream meanwhile restores it)
        if sys.stdout is copies[0]:
            sys.stdout = streams[0]
        if sys.stderr is copies[1]:
            sys.stderr = streams[1]
        for copy in copies:
            copier.copy(copy, "\n" if copy.pending else "")


def copy_output_to_job_log(function):
    """``output_copied_to_job_log`` around a Hydra task function (train.py's ``main``)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with output_copied_to_job_log():
            return function(*args, **kwargs)

    return wrapper
