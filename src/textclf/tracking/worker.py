"""The tracking worker: ``python -m textclf.tracking.worker FD SCRATCH`` runs a ``Tracker`` for the
training process at the other end of the socket ``FD`` (see ``channel``). ``SCRATCH`` is that
process's folder of model files, which the worker removes when it exits: after the last call, or
when the process died before closing (its own cleanup will then not run).

The first message connects to the store; each following one names a call of ``CALLS`` and its
arguments, and gets back ``(ok, result or error)``. After a failure nothing more is logged, and
above all nothing registered.
"""

from __future__ import annotations

import signal

# Ctrl-C reaches the whole process group; the training process decides how the run ends. Set
# first, so that no signal lands in the worker's start-up either.
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)

import contextlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402

from textclf.errors import UserError  # noqa: E402
from textclf.imports import heavy_imports, own_this_process  # noqa: E402
from textclf.tracking.store import TrackingError, is_store_failure, unusable_store  # noqa: E402

BACKGROUND_NICENESS = 5  # about a third of the CPU share of a normal process, when they compete


def calls(tracker) -> dict:
    """What the training process may ask of the worker's tracker."""
    return {"begin_run": tracker.begin_run, "log_config": tracker.log_config, "log_dataset": tracker.log_dataset,
            "log_history": tracker.log_history, "log_model": tracker.log_model, "log_reports": tracker.log_reports,
            "log_metrics": tracker.log_metrics, "log_tags": tracker.log_tags,
            "log_cross_validation": tracker.log_cross_validation,
            "wait_for_reports": tracker.wait_for_reports,
            "register_and_finish": tracker.register_and_finish}


def _answer(tracker, handlers, failed, call, args, kwargs) -> tuple[bool, object]:
    """Run one call; ``(True, result)`` or ``(False, error)``. ``connect`` answers the new Tracker."""
    try:
        if call == "connect":
            from textclf.tracking.tracker import Tracker

            with heavy_imports():  # opening the store imports its database layer (SQLAlchemy, alembic)
                return True, Tracker.connect(**kwargs)
        if call == "end_run":
            return True, tracker and tracker.end_run(*args)
        if failed:
            return False, TrackingError(f"{call} skipped: an earlier tracking call failed")
        return True, handlers[call](*args, **kwargs)
    except UserError as error:
        return False, error
    except OSError as error:  # the store or artifact location: a full disk, a bad path, permissions
        return False, UserError(f"tracking failed while running {call}: {error}. "
                                "Fix: check tracking.uri, tracking.artifact_location and free disk space")
    except BaseException as error:  # the store's failure, or a bug of ours (with its traceback)
        if is_store_failure(error) and tracker is not None:
            return False, unusable_store(tracker.uri, error)
        return False, TrackingError(f"tracking call {call} failed in the worker:\n{traceback.format_exc()}")


def lower_priority() -> None:
    """Training comes first: on a machine with fewer free cores than busy processes, the worker
    yields the CPU to the fit and the predictions."""
    os.nice(BACKGROUND_NICENESS)


def import_tracker() -> None:
    """MLflow's slow import, at once: it overlaps training's own start (channel.worker_started_ahead).
    Should it fail, connecting imports it again and reports the failure as any call's."""
    with contextlib.suppress(Exception), heavy_imports():
        import textclf.tracking.tracker  # noqa: F401


def serve(connection, scratch: str, forked: bool = False) -> None:
    """The worker's loop: run each call on the Tracker and send back its result or error.
    ``forked``: a fork of the fork server (``fork_server``), whose priority is the worker's already."""
    if not forked:
        lower_priority()
    tracker, handlers, failed = None, {}, False
    try:
        import_tracker()
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):  # EOF, or a reset when it died with our reply unread
                break
            if message is None:  # training closed this worker after its last call
                break
            reply = _answer(tracker, handlers, failed, *message)
            if message[0] == "connect" and reply[0]:
                tracker, handlers = reply[1], calls(reply[1])
                reply = (True, None)
            failed = failed or not reply[0]
            try:
                connection.send(reply)
            except OSError:  # training died while this call ran
                break
    finally:
        try:
            # Training ends its run before closing this worker; a run still active here was not
            # ended: training is gone without closing, or an interrupt cut its ending short.
            if tracker is not None:
                tracker.end_run("KILLED")  # never FINISHED; nothing to do for a run already ended
        finally:
            # Nothing needs the model's files any more: training closed this worker after its last
            # call, or is gone. It removes them too, unless it dies first, or between this worker's
            # exit and its own cleanup.
            shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # nothing is left to clean up; a full interpreter teardown would only add time


if __name__ == "__main__":
    own_this_process()
    serve(Connection(int(sys.argv[1])), sys.argv[2])
