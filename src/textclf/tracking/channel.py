"""The worker process and the socket to it: how a ``BackgroundTracker`` reaches MLflow.

Calls go out in the order they were made and answers come back in that order; a failure, or the
worker's death, interrupts training (``background`` says what then becomes of the run).

The worker spends its first seconds importing MLflow. ``worker_started_ahead`` starts it before
the training process's own imports and data loading, so that the two overlap on two cores. A
process that trains again forks its later workers from a fork server that has imported MLflow
once (``_forked``, ``fork_server``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from textclf.tracking import fork_server
from textclf.tracking.scratch import new_scratch, remove_abandoned
from textclf.tracking.store import TrackingLost


@dataclass(frozen=True)
class WorkerProcess:
    """A started worker, our end of its socket, and ``scratch``: the folder of model files this
    process writes and the worker logs (the worker removes it when it exits, as ``close`` does)."""
    process: subprocess.Popen | fork_server.ForkedWorker
    connection: Connection
    scratch: Path

    @classmethod
    def start(cls) -> "WorkerProcess":
        # A fresh interpreter, or a fork of the fork server: either shares none of this process's
        # memory or threads, and imports nothing but what tracking needs; the two talk over a
        # socket pair. Its temporary files
        # (MLflow stages artifacts and downloads in some) go under scratch, so that a worker killed
        # mid-call leaves none behind once scratch is removed.
        remove_abandoned()  # what runs killed before this one left behind
        folder = new_scratch()
        try:
            (folder / "tmp").mkdir()
            environment = {**os.environ, "TMPDIR": str(folder / "tmp")}
            return _forked(folder, environment) or cls._fresh(folder, environment)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    @classmethod
    def _fresh(cls, scratch: Path, environment: dict) -> "WorkerProcess":
        def launch(theirs: socket.socket) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", "textclf.tracking.worker", str(theirs.fileno()),
                                     str(scratch)], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                    env=environment)

        return cls(*_on_a_socket_pair(launch), scratch)

    def stop(self) -> None:
        """Stop a worker that was never connected to a store: it has written nothing."""
        self.process.kill()
        self.process.wait()
        self.connection.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _on_a_socket_pair(launch) -> tuple:
    """``launch(theirs)`` starts a worker on one end of a new socket pair: (its process, our end).
    Their end is closed here either way (the worker holds its own copy), ours if the launch failed."""
    ours, theirs = socket.socketpair()
    try:
        process = launch(theirs)
        return process, Connection(ours.detach())
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()


def _forked(scratch: Path, environment: dict) -> WorkerProcess | None:
    """This process's first worker is a fresh interpreter (None here); every later one is a fork
    of the fork server (``fork_server``), started with the second: a sweep's jobs, an Optuna
    search's trials and ``textclf.train`` in a loop then skip MLflow's import, 2-3 s of CPU a run.
    A worker the server fails to give (it was killed, or cannot fork) is a fresh interpreter, and
    the next is asked of a new server; after ``FORK_FAILURES`` failures, all are fresh."""
    global _fork_server, _fork_failures, _first_started
    with _fork_server_lock:
        if not _first_started or _fork_failures >= FORK_FAILURES or not fork_server.supported():
            _first_started = True
            return None
        try:
            if _fork_server is None:
                _fork_server = fork_server.ForkServer()
                atexit.register(_fork_server.close)
            # A pair of its own: one a failed request carried may be served by a fork after all.
            process, ours = _on_a_socket_pair(lambda theirs: _fork_server.fork(theirs, str(scratch), environment))
        except OSError:
            _fork_failures += 1
            if _fork_server is not None:
                _fork_server.close()
                _fork_server = None
            return None
    return WorkerProcess(process, ours, scratch)


FORK_FAILURES = 2
_fork_server: fork_server.ForkServer | None = None
_fork_failures = 0
_first_started = False  # this process's first worker, a fresh interpreter
_fork_server_lock = threading.Lock()
_started_ahead: WorkerProcess | None = None  # for the next WorkerChannel this process makes
_ahead_lock = threading.Lock()


@contextlib.contextmanager
def worker_started_ahead():
    """Start a worker now, for the next ``WorkerChannel`` to take; yield it (None if another
    block's worker waits: runs started together in threads start nothing more). If none has taken
    it when the block ends (bad input found before the run began, an interrupt), it is stopped."""
    global _started_ahead
    with _ahead_lock:
        ours = WorkerProcess.start() if _started_ahead is None else None
        if ours is not None:
            _started_ahead = ours
    try:
        yield ours
    finally:
        with _ahead_lock:
            untaken = ours is not None and _started_ahead is ours
            if untaken:
                _started_ahead = None
        if untaken:
            ours.stop()


def _started_worker() -> WorkerProcess:
    """The worker started ahead, or a new one. One that died meanwhile (killed while this process
    imported or read its data) is replaced: it had connected to nothing."""
    global _started_ahead
    with _ahead_lock:
        worker, _started_ahead = _started_ahead, None
    if worker is not None and worker.process.poll() is None:
        return worker
    if worker is not None:
        worker.stop()
    return WorkerProcess.start()


class WorkerChannel:
    """The worker process and the socket to it: calls go out in order, answers come back in order.

    ``submit`` returns a ``Future`` per call. A failed *urgent* call, or the worker's death, calls
    ``interrupt`` with the failure while interrupts are allowed (``allow_interrupts``); one that
    comes earlier waits until they are.
    """

    def __init__(self, interrupt):
        self._interrupt = interrupt
        self._calls: list[Future] = []
        self._unanswered: deque[tuple[Future, bool]] = deque()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._may_interrupt = False
        self._pending: BaseException | None = None  # a failure that came before interrupts were allowed
        self._gone: TrackingLost | None = None
        worker = _started_worker()
        self._process, self._connection, self.scratch = worker.process, worker.connection, worker.scratch
        # Sending happens on a thread: a large message would otherwise block training until the
        # worker, busy importing MLflow, reads it.
        self._threads = [threading.Thread(target=self._send_loop, daemon=True),
                         threading.Thread(target=self._receive_loop, daemon=True)]
        for thread in self._threads:
            thread.start()

    def submit(self, call: str, *args, urgent: bool = False, **kwargs) -> Future:
        """Queue ``connect``, ``end_run`` or one of the worker's calls (``textclf.tracking.worker.calls``)."""
        future: Future = Future()
        with self._lock:  # calls may come from several threads; keep the queues in one order
            self._calls.append(future)
            if self._gone is not None:
                future.set_exception(self._gone)
                return future
            self._unanswered.append((future, urgent))
            self._outbox.put((call, args, kwargs))
        return future

    def wait_for_all(self) -> None:
        """Wait for every call so far; raise the first failure among them."""
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            call.result()

    def allow_interrupts(self, allowed: bool) -> None:
        with self._lock:
            self._may_interrupt = allowed
            pending, self._pending = (self._pending, None) if allowed else (None, self._pending)
        if pending is not None:
            self._interrupt(pending)

    def close(self, timeout: float) -> None:
        """Stop the worker after the calls already sent, wait for it, remove the scratch folder."""
        with self._lock:
            self._may_interrupt = False
            self._outbox.put(None)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # stuck on a store that stopped answering
            self._process.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)
        # The worker is gone, so both threads come to the end of the socket; closed once they have
        # (not under a thread still reading it), and not left to the garbage collector: a sweep's
        # jobs run one after another in one process.
        for thread in self._threads:
            thread.join(timeout=5)
        if not any(thread.is_alive() for thread in self._threads):
            self._connection.close()

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
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
                if urgent:
                    self._report(value)
        gone = TrackingLost(self._death())
        with self._lock:
            self._gone = gone
            lost = list(self._unanswered)
            self._unanswered.clear()
            closing = not self._may_interrupt and not lost  # close() asked it to stop
        for future, _ in lost:
            future.set_exception(gone)
        if not closing:
            self._report(gone)

    def _report(self, failure: BaseException) -> None:
        with self._lock:
            interrupt = self._may_interrupt
            if not interrupt and self._pending is None:
                self._pending = failure
        if interrupt:
            self._interrupt(failure)

    def _death(self) -> str:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:  # still running after its socket closed, or a fork whose server was killed
            how = "stopped answering"
        else:
            how = f"was killed by signal {-code}" if code < 0 else f"exited (code {code})"
        return (f"the tracking worker process {how}, so training stopped; the next train.py, predict or "
                "compare on this store ends the run FAILED, if one had begun. Fix: rerun; if it happens "
                "again, check memory and any process that signals ours")
