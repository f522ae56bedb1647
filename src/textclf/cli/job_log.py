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
import sys

LEVELS = {"error:": logging.ERROR, "warning:": logging.WARNING}


class _CopiedLines:
    """A text stream that writes through to ``stream`` and hands each complete line to ``log``."""

    def __init__(self, stream, log):
        self._stream, self._log, self._pending = stream, log, ""
        self._logging = False  # logging's own complaint (a full disk) goes to stderr: not back to the log

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if self._logging:
            return written
        *lines, self._pending = (self._pending + text).split("\n")
        self._logged(lines)
        return written

    def flush_pending(self) -> None:
        pending, self._pending = self._pending, ""
        self._logged([pending] if pending else [])

    def _logged(self, lines: list[str]) -> None:
        """Log ``lines``; a log that fails outright (its file cannot be opened) is given up, the
        terminal's output never stopped for it."""
        self._logging = True
        try:
            for line in lines:
                self._log(line)
        except Exception:  # noqa: BLE001 - the copy is a convenience; the run goes on without it
            self._log = lambda line: None
        finally:
            self._logging = False

    def __getattr__(self, name):  # flush, isatty, fileno, encoding...: the stream's own
        return getattr(self._stream, name)


def _file_logger() -> logging.Logger | None:
    """A logger writing only to the root logger's files (Hydra's job log); None if there are none."""
    files = [handler for handler in logging.getLogger().handlers if isinstance(handler, logging.FileHandler)]
    if not files:
        return None
    logger = logging.getLogger("textclf.output")  # not "textclf": a module's logger would be its child
    logger.handlers, logger.propagate, logger.level = files, False, logging.INFO
    return logger


def _logged(logger: logging.Logger, line: str) -> None:
    line = line.rsplit("\r", 1)[-1].rstrip()  # a progress bar's last state
    if line.strip():
        logger.log(next((level for start, level in LEVELS.items() if line.startswith(start)), logging.INFO), line)


@contextlib.contextmanager
def output_copied_to_job_log():
    """Within the block, stdout and stderr lines go to Hydra's job log file too."""
    logger = _file_logger()
    if logger is None:
        yield
        return
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = copies = [_CopiedLines(stream, functools.partial(_logged, logger)) for stream in streams]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
        for copy in copies:
            copy.flush_pending()


def copy_output_to_job_log(function):
    """``output_copied_to_job_log`` around a Hydra task function (train.py's ``main``)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with output_copied_to_job_log():
            return function(*args, **kwargs)

    return wrapper
