"""The one exception type users see.

Every problem caused by the user's input (data, config, model URI, tracking URI) is raised as a
``UserError`` whose message names the problem and the fix. Entry points print it as a single
line and exit non-zero; everything else is a bug and keeps its traceback.
"""

import difflib
import threading
from collections.abc import Iterable

# Set once a config or an override was refused (``cli.errors.report_config_errors``) and the
# process is about to exit: what it began before (a sweep's parent run, ``tracking.sweep``) then
# held no work of its own.
config_refused = threading.Event()
# Set once Ctrl-C or SIGTERM stopped the process (``cli.errors``): a sweep's parent run then ends
# KILLED, as an interrupted run does, not FAILED.
interrupt_received = threading.Event()


def note_interrupt() -> None:
    """Set ``interrupt_received``. (A function of this module: the joblib launcher pickles the
    task wrapped in ``cli.errors.report_user_errors``, and an Event itself cannot be pickled.)"""
    interrupt_received.set()


class UserError(Exception):
    """A problem with the user's input, reported as one line that says how to fix it."""

    exit_code = 2


class TextclfWarning(UserWarning):
    """Something the user should know that stops nothing; entry points print it as one
    ``warning:`` line (``cli.errors.format_warning``), not with the code that raised it."""


class SweepRefused(BaseException):
    """A ``UserError`` found as a sweep starts (its tracking store or names), carried past Hydra's
    callback runner, which turns an ``Exception`` into a warning and launches every job all the
    same, each to fail the same way. ``train.py`` reports ``error`` as one line."""

    def __init__(self, error: UserError):
        super().__init__(str(error))
        self.error = error


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, with a message that says what became of the run."""


def raise_keyboard_interrupt(signum, frame):
    """A signal handler: SIGTERM ends work as Ctrl-C does (``signal.signal(SIGTERM, ...)``)."""
    raise KeyboardInterrupt(f"signal {signum}")


class Pruned(Exception):
    """A search trial's pruner stopped this run at a held-out score (``search.trial``): the run
    ends KILLED, tagged as pruned, and registers nothing."""

    def __init__(self, kind: str, step: int, value: float, metric: str | None = None,
                 reported: Iterable[tuple[int, float]] = ()):
        super().__init__(f"pruned after {kind} {step} (held-out score {value:.4f})")
        self.kind, self.step, self.value = kind, step, value
        # the held-out scores reported until then, ``(step, value)``: logged as the steps of
        # ``metric``, where a run that is not pruned logs them too
        self.metric, self.reported = metric, tuple(reported)


def did_you_mean(name, known) -> str:
    """`` (did you mean 'visit'?)`` when ``name`` looks like a misspelling of one of ``known``;
    "" otherwise, and for numbers ('10' is not a misspelt '1')."""
    name = str(name)
    try:
        float(name)
        return ""
    except ValueError:
        pass
    close = difflib.get_close_matches(name, [str(label) for label in known], n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""
