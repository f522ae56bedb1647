"""MLflow's share of a training run, done by a worker process beside the training.

A bare scikit-learn script spends its time reading, fitting and predicting. ``train.py`` also
imports MLflow, may create a new store (MLflow's schema migrations), logs params, datasets, model
files, reports and metrics, and registers the model: seconds of work that would be added to every
run. A second process does that work while this one fits and predicts, so ``python train.py``
costs about what the bare fit costs (see benchmarks/RESULTS.md). This process never imports
MLflow.

The worker runs ``textclf.tracking.Tracker`` methods one at a time, in the order they were
called here; each call returns a ``concurrent.futures.Future`` at once. The guarantees of an
in-process tracker still hold:

* the run always ends: FINISHED, FAILED on an error, KILLED on Ctrl-C or SIGTERM; if this
  process dies outright (SIGKILL, out of memory), the worker ends the run KILLED;
* failing to open the store or start the run interrupts training at once, not after the fit;
* any other tracking failure is raised before the run could be called FINISHED, and the run
  ends FAILED.
"""

from __future__ import annotations

import _thread
import contextlib
import functools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import traceback
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from textclf.errors import UserError

WORKER_DIED = "the tracking worker process died (see the messages above)"
BACKGROUND_NICENESS = 5  # about a third of the CPU share of a normal process, when they compete
# The Tracker methods this process may call in the worker (see textclf.tracking for what each does).
WORKER_METHODS = {"log_config", "log_dataset", "log_history", "log_model", "log_reports", "log_metrics", "register"}


@dataclass(frozen=True)
class Registration:
    uri: str
    version: str
    promoted: bool
    champion_version: str


class TrackingError(Exception):
    """An unexpected failure inside the worker, carrying the worker's traceback as its message."""


class TrackingWorker:
    """Starts the worker, connects it to the store ``tracking`` describes, and forwards calls."""

    def __init__(self, tracking: dict):
        self.uri = tracking["uri"]
        self.champion_uri = f"models:/{tracking['registered_model']}@{tracking['champion_alias']}"
        self.champion_metric = tracking["champion_metric"]
        self.failure: BaseException | None = None  # a failure that interrupted training
        self._calls: list[Future] = []
        self._unanswered: deque[tuple[Future, bool]] = deque()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._may_interrupt = True
        self._worker_gone = False
        self._run: Future | None = None
        # A fresh interpreter that shares none of this process's memory or threads, and imports
        # nothing but what tracking needs; the two talk over a socket pair.
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen([sys.executable, "-m", "textclf.tracking_worker", str(theirs.fileno())],
                                         pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self._connection = Connection(ours.detach())
        # Sending happens on a thread: a large message would otherwise block training until the
        # worker, busy importing MLflow, reads it.
        threading.Thread(target=self._send_loop, daemon=True).start()
        threading.Thread(target=self._receive_loop, daemon=True).start()
        self.call("connect", urgent=True, **tracking)

    def __enter__(self) -> "TrackingWorker":
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.close()
        if isinstance(error, KeyboardInterrupt) and self.failure is not None:
            raise self.failure from None

    def __getattr__(self, method: str):
        """``tracker.log_metrics(...)`` and the like: that Tracker method, called in the worker."""
        if method not in WORKER_METHODS:
            raise AttributeError(f"{type(self).__name__} has no attribute {method!r}")
        return functools.partial(self.call, method)

    def call(self, method: str, *args, urgent: bool = False, **kwargs) -> Future:
        """Queue ``Tracker.<method>(*args, **kwargs)``; if ``urgent``, its failure interrupts training."""
        future: Future = Future()
        with self._lock:  # calls may come from several threads; keep the three queues in one order
            self._calls.append(future)
            if self._worker_gone:
                future.set_exception(TrackingError(WORKER_DIED))
                return future
            self._unanswered.append((future, urgent))
            self._outbox.put((method, args, kwargs))
        return future

    def result(self, future: Future):
        """Wait for ``future`` and every call before it; raise the first failure among them."""
        for earlier in self._calls[: self._calls.index(future) + 1]:
            earlier.result()
        return future.result()

    @property
    def run_id(self) -> str:
        return self.result(self._run)

    def ui_command(self) -> str:
        return f"open {self.uri}" if self.uri.startswith("http") else f"mlflow ui --backend-store-uri {self.uri}"

    @contextlib.contextmanager
    def start_run(self, run_name: str):
        """A run that always ends: FINISHED, FAILED on an error, KILLED on Ctrl-C or SIGTERM."""
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        self._run = self.call("begin_run", run_name, urgent=True)
        try:
            yield
        except KeyboardInterrupt:
            self._end("FAILED" if self.failure else "KILLED")
            raise
        except BaseException:
            self._end("FAILED")
            raise
        else:
            try:
                self.result(self._calls[-1])  # every call answered, none failed
            except BaseException:
                self._end("FAILED")
                raise
            self._end("FINISHED")
        finally:
            signal.signal(signal.SIGTERM, previous)

    def close(self) -> None:
        """Stop the worker (after the calls already sent) and wait for it to exit."""
        with self._lock:
            self._may_interrupt = False
            self._outbox.put(None)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()

    def _end(self, status: str) -> None:
        with self._lock:
            self._may_interrupt = False  # from here on failures are raised, not interrupts
        ended = self.call("end_run", status)
        try:
            ended.result(timeout=60)
        except Exception:
            if status == "FINISHED":
                raise

    def _send_loop(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                self._connection.send(message)
            except (OSError, ValueError):  # the worker is gone; _receive_loop reports it
                return
        with contextlib.suppress(OSError, ValueError):
            self._connection.send(None)

    def _receive_loop(self) -> None:
        while True:
            try:
                ok, value = self._connection.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                future, urgent = self._unanswered.popleft()
                interrupt = not ok and urgent and self._may_interrupt
                if interrupt:
                    self.failure = value
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
            if interrupt:
                _thread.interrupt_main()  # raises KeyboardInterrupt in training; __exit__ re-raises failure
        with self._lock:
            self._worker_gone = True
            lost = list(self._unanswered)
            self._unanswered.clear()
            interrupt = bool(lost) and self._may_interrupt
            if interrupt:
                self.failure = TrackingError(WORKER_DIED)
        for future, _ in lost:
            future.set_exception(TrackingError(WORKER_DIED))
        if interrupt:
            _thread.interrupt_main()


def serve(connection) -> None:
    """The worker's loop: run each call on the Tracker and send back its result or error."""
    # Ctrl-C reaches the whole process group; the training process decides how the run ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Training comes first: on a machine with fewer free cores than busy processes, the worker
    # yields the CPU to the fit and the predictions.
    os.nice(BACKGROUND_NICENESS)
    tracker, failed = None, False
    while True:
        try:
            message = connection.recv()
        except EOFError:  # the training process died without ending the run
            if tracker is not None:
                tracker.end_run("KILLED")
            break
        if message is None:
            break
        method, args, kwargs = message
        try:
            if method == "connect":
                from textclf.tracking import Tracker  # the slow MLflow import happens here, beside training

                tracker = Tracker.connect(**kwargs)
                reply = (True, None)
            elif method == "end_run":
                reply = (True, tracker and tracker.end_run(*args))
            elif failed:  # after a failure nothing more is logged, and above all nothing registered
                reply = (False, TrackingError(f"{method} skipped: an earlier tracking call failed"))
            else:
                reply = (True, getattr(tracker, method)(*args, **kwargs))
        except UserError as error:
            reply = (False, error)
        except OSError as error:  # the store or artifact location: a full disk, a bad path, permissions
            reply = (False, UserError(f"tracking failed while running {method}: {error}. "
                                      "Fix: check tracking.uri, tracking.artifact_location and free disk space"))
        except BaseException:
            reply = (False, TrackingError(f"tracking call {method} failed in the worker:\n{traceback.format_exc()}"))
        failed = failed or not reply[0]
        connection.send(reply)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # nothing is left to clean up; a full interpreter teardown would only add time


def check_reachable(uri: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds, before training, when a tracking server is down."""
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).close()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise UserError(f"tracking server {uri} is unreachable ({reason}). "
                            "Fix: start it, or point tracking.uri / MLFLOW_TRACKING_URI elsewhere") from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise UserError(f"tracking store folder {folder} does not exist. Fix: create it or change tracking.uri")
    elif "://" not in uri and not uri.startswith("databricks"):
        raise UserError(f"tracking URI {uri!r} is not a URI. Fix: use sqlite:///ABS/PATH.db or http://HOST:PORT")


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":  # the worker: `python -m textclf.tracking_worker FD`
    from textclf.tracking_worker import serve as serve_from_package  # so errors pickle as textclf's types

    serve_from_package(Connection(int(sys.argv[1])))
