"""The tracking worker: ``python -m textclf.tracking.worker FD`` runs a ``Tracker`` for the
training process at the other end of the socket ``FD`` (see ``background``).

The first message connects to the store; each following one names a call of ``CALLS`` and its
arguments, and gets back ``(ok, result or error)``. After a failure nothing more is logged, and
above all nothing registered.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection

from textclf.errors import UserError
from textclf.tracking.store import TrackingError

BACKGROUND_NICENESS = 5  # about a third of the CPU share of a normal process, when they compete


def calls(tracker) -> dict:
    """What the training process may ask of the worker's tracker."""
    return {"begin_run": tracker.begin_run, "log_config": tracker.log_config, "log_dataset": tracker.log_dataset,
            "log_history": tracker.log_history, "log_model": tracker.log_model, "log_reports": tracker.log_reports,
            "log_metrics": tracker.log_metrics, "register": tracker.register}


def serve(connection) -> None:
    """The worker's loop: run each call on the Tracker and send back its result or error."""
    # Ctrl-C reaches the whole process group; the training process decides how the run ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Training comes first: on a machine with fewer free cores than busy processes, the worker
    # yields the CPU to the fit and the predictions.
    os.nice(BACKGROUND_NICENESS)
    tracker, handlers, failed = None, {}, False
    while True:
        try:
            message = connection.recv()
        except EOFError:  # the training process died without ending the run
            if tracker is not None:
                tracker.end_run("KILLED")
            break
        if message is None:
            break
        call, args, kwargs = message
        try:
            if call == "connect":
                from textclf.tracking.tracker import Tracker  # the slow MLflow import happens here, beside training

                tracker = Tracker.connect(**kwargs)
                handlers, reply = calls(tracker), (True, None)
            elif call == "end_run":
                reply = (True, tracker and tracker.end_run(*args))
            elif failed:
                reply = (False, TrackingError(f"{call} skipped: an earlier tracking call failed"))
            else:
                reply = (True, handlers[call](*args, **kwargs))
        except UserError as error:
            reply = (False, error)
        except OSError as error:  # the store or artifact location: a full disk, a bad path, permissions
            reply = (False, UserError(f"tracking failed while running {call}: {error}. "
                                      "Fix: check tracking.uri, tracking.artifact_location and free disk space"))
        except BaseException:
            reply = (False, TrackingError(f"tracking call {call} failed in the worker:\n{traceback.format_exc()}"))
        failed = failed or not reply[0]
        try:
            connection.send(reply)
        except OSError:  # the training process died while this call ran: the run did not finish
            if tracker is not None:
                tracker.end_run("KILLED")
            break
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # nothing is left to clean up; a full interpreter teardown would only add time


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
