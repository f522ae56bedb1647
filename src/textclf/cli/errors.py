"""How the ``textclf`` command and ``train.py`` report user mistakes: one ``error:`` line, exit 2.

Ctrl-C exits 130. Neither prints a traceback unless ``TEXTCLF_DEBUG=1`` is set. textclf's own
warnings print as one ``warning:`` line.
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import sys
import threading
import warnings

from textclf.errors import (Interrupted, SweepRefused, UserError, config_refused, interrupt_received, note_interrupt,
                            raise_keyboard_interrupt)


BEFORE_A_RUN = "interrupted before a run began: nothing was logged"  # train.py: later, the run says


def report_user_errors(function=None, *, interrupted: str = BEFORE_A_RUN):
    """Turn ``UserError`` into one line on stderr and exit 2; Ctrl-C into exit 130, saying
    ``interrupted`` unless the interrupt says what became of a run (``Interrupted``). Used bare
    (``@report_user_errors``) or with the line (``@report_user_errors(interrupted="interrupted")``)."""
    if function is None:
        return functools.partial(report_user_errors, interrupted=interrupted)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
        warnings.formatwarning = format_warning
        try:
            return function(*args, **kwargs)
        except UserError as error:
            if os.environ.get("TEXTCLF_DEBUG"):
                raise
            close_progress_bars()
            print(f"error: {error}", file=sys.stderr)
            exit_past_a_running_fit(error.exit_code)
        except KeyboardInterrupt as interrupt:
            note_interrupt()
            close_progress_bars()
            print(interrupt if isinstance(interrupt, Interrupted) else interrupted, file=sys.stderr)
            exit_past_a_running_fit(130)

    return wrapper


def close_progress_bars() -> None:
    """Close the progress bars still open (a fit's, stopped by Ctrl-C): a bar leaves the cursor at
    the end of its line, and the line printed next ran on from it (``loss=0.896]interrupted: ...``).
    Closed, a bar ends its line and draws no more, though the fit's thread may still update it."""
    tqdm = sys.modules.get("tqdm")  # only a process that drew a bar has imported it
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close must not hide the line that follows
            pass


_python_formatwarning = warnings.formatwarning


def format_warning(message, category, filename, lineno, line=None) -> str:
    """A warning of textclf's own (its class lives in textclf, e.g. CalibrationWarning) as
    one line, like errors: where in the code it was raised tells the user nothing."""
    if category.__module__.startswith("textclf."):
        return f"warning: {message}\n"
    return _python_formatwarning(message, category, filename, lineno, line)


def exit_past_a_running_fit(code: int) -> None:
    """Exit with ``code``. A fit left on its thread by Ctrl-C (``models.fitting``) is still inside
    compiled code, which the interpreter's teardown would crash under (PyTorch aborts the process):
    then run the exit handlers and leave without the teardown."""
    if not any(thread.name == "fit" and thread.is_alive() for thread in threading.enumerate()):
        sys.exit(code)
    exit_without_teardown(code)


def exit_without_teardown(code: int) -> None:
    """Exit with ``code`` once the output is flushed and the exit handlers have run (logging's
    shutdown, the removal of a private folder), skipping the interpreter's teardown of modules."""
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


def report_config_errors(hydra_main):
    """Run a ``@hydra.main`` function, turning config and override mistakes into one line.

    train.py sets ``HYDRA_FULL_ERROR=1`` so Hydra raises instead of printing its own multi-line
    report; a genuine bug still shows its full traceback.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    from textclf.config import describe_config_error, describe_yaml_error  # Hydra: only where train.py runs

    @functools.wraps(hydra_main)
    def wrapper():
        config_refused.clear()  # this call's, not an earlier one's in the same process (tests)
        interrupt_received.clear()
        try:
            return hydra_main()
        # A UserError here was raised outside the task function: a search's sweeper refused a setting.
        except (HydraException, OmegaConfBaseException, UserError, SweepRefused) as error:
            if os.environ.get("TEXTCLF_DEBUG"):
                raise
            error = error.error if isinstance(error, SweepRefused) else error
            refused = error if isinstance(error, UserError) else UserError(describe_config_error(error))
            print(f"error: {refused}", file=sys.stderr)
            config_refused.set()
            sys.exit(refused.exit_code)
        except YAMLError as error:  # a config file (one of the user's own, in configs/) Hydra could not read
            line = describe_yaml_error(error)
            if line is None or os.environ.get("TEXTCLF_DEBUG"):  # not a config file: not the user's mistake
                raise
            print(f"error: {line}", file=sys.stderr)
            config_refused.set()
            sys.exit(2)
        except KeyboardInterrupt as interrupt:  # outside a run: a sweep's own process, or Hydra starting
            note_interrupt()
            print(interrupted_sweep_line(interrupt), file=sys.stderr)
            sys.exit(130)

    return wrapper


def interrupted_sweep_line(interrupt: KeyboardInterrupt) -> str:
    """The line for Ctrl-C in a sweep's own process, once the runs of the jobs it lost are ended
    (``tracking.sweep.end_interrupted_sweep``): a search's own line, else which runs ended."""
    from textclf.tracking.sweep import end_interrupted_sweep, sweep_began

    ended = end_interrupted_sweep()
    if isinstance(interrupt, Interrupted):
        return str(interrupt)
    if ended is None:  # no sweep running: Hydra was starting (nothing made yet), or the sweep had ended
        return "interrupted" if sweep_began() else BEFORE_A_RUN
    if not ended:
        return "interrupted: the sweep stopped; none of its runs was left running"
    return (f"interrupted: the sweep stopped; the run(s) of the {len(ended)} job(s) it stopped ended KILLED and "
            f"registered nothing: {', '.join(ended)}")


def refuse_a_sweep_under_torchrun(arguments: list[str]) -> None:
    """``torchrun ... train.py -m``: Hydra's sweeper and the sweep's parent-run callback would run in
    every process, each drawing its own jobs. Refused before Hydra starts, in one line from rank 0
    (the other processes exit with it, silently)."""
    from textclf.models.data_parallel import launched_ranks

    try:
        ranks = launched_ranks()
    except UserError:
        return  # train.py's own check reports it
    if ranks.distributed and {"-m", "--multirun"} & set(arguments):
        if ranks.main:
            print("error: a sweep (-m) cannot run under torchrun: every process would run the whole sweep. "
                  "Fix: run each job under torchrun (a launcher such as submitit_slurm), or drop -m", file=sys.stderr)
        sys.exit(2)
