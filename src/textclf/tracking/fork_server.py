"""A process that imports MLflow once and forks tracking workers from there.

A fresh worker spends 2-3 s of CPU importing MLflow before it can log anything: on a quick model,
most of a run. A process that trains more than once (a sweep's jobs run one after another in one
process, and so do an Optuna search's trials and ``textclf.train`` called in a loop) starts a fork
server with its second worker (``channel``); that worker and every later one is a fork of the
server, ready in milliseconds.

A fork is what a fresh worker would be: it gets this process's environment (with textclf's MLflow
settings, ``client.use_textclf_settings``), working folder, stdout and stderr of the moment, and
the server's lowered priority and ignored SIGINT and SIGTERM, which are the worker's own. It is
the server's child, not ours: we watch and kill it through a pidfd, and the server tells us its
exit code. The server exits when this process closes its end of the socket or dies; workers
forked earlier go on to the end of their runs.

The protocol, one message per packet: we send a ``ForkRequest`` with three descriptors (the
worker's end of its socket pair, our stdout, our stderr); the server answers ``Started`` with the
fork's pidfd, or ``Failed``, and later ``Exited`` when that fork exits.

Linux only (pidfds); elsewhere, or where the kernel refuses pidfds, every worker is a fresh
interpreter.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import NamedTuple

MAX_MESSAGE = 1 << 20  # bytes: more than a packet can hold (the socket's send buffer, about 200 KB)


@functools.cache
def supported() -> bool:
    """Whether this system gives pidfds (Linux 5.3 or later, and no sandbox refusing them)."""
    if not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class ForkRequest:
    """``changed`` and ``removed``: the environment of the moment against the server's own at its
    start, which was ours then. The whole of it could outgrow a packet (the socket's send buffer,
    about 200 KB), as on clusters whose module systems export large variables."""
    number: int
    scratch: str
    cwd: str
    changed: dict
    removed: list


class Started(NamedTuple):
    number: int
    pid: int


class Failed(NamedTuple):
    number: int
    reason: str


class Exited(NamedTuple):
    number: int
    code: int


class ForkServer:
    """Our end of a started fork server."""

    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._environment = dict(os.environ)  # the server's, at its start
        try:
            self._process = subprocess.Popen([sys.executable, "-m", "textclf.tracking.fork_server",
                                              str(theirs.fileno())], pass_fds=[theirs.fileno()],
                                             stdin=subprocess.DEVNULL, env=self._environment)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        self._owner = os.getpid()
        # A child this process forks (models.forked) must not keep the server alive after we die.
        os.register_at_fork(after_in_child=self._socket.close)
        self._lock = threading.Lock()
        self._requests = 0
        self._exit_codes: dict[int, int] = {}  # request number -> exit code

    def fork(self, worker_end: socket.socket, scratch: str, environment: dict) -> "ForkedWorker":
        """A worker serving the other end of ``worker_end``'s socket pair, with ``environment``.
        OSError if there is none: the server is gone, or could not fork. The first waits for the
        server's own imports."""
        with self._lock:
            self._requests += 1
            changed = {name: value for name, value in environment.items() if self._environment.get(name) != value}
            removed = [name for name in self._environment if name not in environment]
            request = ForkRequest(self._requests, scratch, os.getcwd(), changed, removed)
            socket.send_fds(self._socket, [pickle.dumps(request)], [worker_end.fileno(), 1, 2])
            while True:
                message, fds = self._receive()
                if message.number != request.number:  # an earlier request's, given up (Ctrl-C):
                    for fd in fds:  # its fork found no one at its socket's end and exits
                        os.close(fd)
                elif isinstance(message, Failed):
                    raise OSError(f"the tracking fork server could not fork: {message.reason}")
                elif isinstance(message, Started):
                    return ForkedWorker(request.number, message.pid, fds[0], self)

    def exit_code(self, number: int, timeout: float) -> int | None:
        """The exit code of the fork of request ``number``, which has exited, as the server reports
        it; None if it does not within ``timeout`` (the server was killed)."""
        with self._lock:
            while number not in self._exit_codes and _readable(self._socket.fileno(), timeout):
                try:
                    for fd in self._receive()[1]:
                        os.close(fd)
                except OSError:
                    break
            return self._exit_codes.pop(number, None)

    def close(self) -> None:
        """End the server (at this process's exit): it exits at the end of its socket."""
        if os.getpid() != self._owner or not self._lock.acquire(timeout=1):
            return  # a fork of ours, or a thread of ours still reading: this process is exiting anyway
        try:
            self._socket.close()
        finally:
            self._lock.release()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # still importing MLflow: it would only fork for no one
            self._process.kill()
            self._process.wait()

    def _receive(self) -> tuple[Started | Failed | Exited, list[int]]:
        data, fds, _, _ = socket.recv_fds(self._socket, MAX_MESSAGE, 1)
        if not data:
            raise OSError("the tracking fork server is gone")
        message = pickle.loads(data)
        if isinstance(message, Exited):
            self._exit_codes[message.number] = message.code
        return message, fds


class ForkedWorker:
    """A forked worker, with the parts of ``subprocess.Popen`` the channel uses."""

    def __init__(self, number: int, pid: int, pidfd: int, server: ForkServer):
        self.pid, self._number, self._pidfd, self._server = pid, number, pidfd, server
        self.returncode: int | None = None
        self._lock = threading.Lock()  # training's threads may wait for it together

    def poll(self) -> int | None:
        return self._finish() if _readable(self._pidfd, 0) else None

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code; None when the server cannot tell it (it was killed)."""
        if not _readable(self._pidfd, timeout):
            raise subprocess.TimeoutExpired(f"tracking worker {self.pid}", timeout)
        return self._finish()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)  # the pidfd: never another process

    def _finish(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                self.returncode = self._server.exit_code(self._number, timeout=5)
        return self.returncode

    def __del__(self):  # not closed before: another thread may still be waiting on it
        os.close(self._pidfd)


def _readable(fd: int, timeout: float | None) -> bool:
    """Whether ``fd`` is readable within ``timeout`` seconds (a pidfd: its process has exited)."""
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    return bool(waiting.poll(None if timeout is None else timeout * 1000))


def serve(control: socket.socket, environment: dict) -> None:
    """The server's loop: fork a worker for each request, report each worker's exit code.
    ``environment``: the server's own at its start, which requests are told against."""
    from textclf.tracking import worker

    worker.lower_priority()  # inherited by every fork, as a fresh worker lowers its own
    worker.import_tracker()
    waiting = select.poll()
    waiting.register(control, select.POLLIN)
    children: dict[int, tuple[int, int]] = {}  # pidfd -> (request number, pid)
    while True:
        for fd, _ in waiting.poll():
            if fd != control.fileno():
                number, pid = children.pop(fd)
                waiting.unregister(fd)
                _, status = os.waitpid(pid, 0)
                os.close(fd)
                _tell(control, Exited(number, os.waitstatus_to_exitcode(status)))
                continue
            try:
                data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 3)
            except OSError:
                data = b""
            if not data:  # the training process closed its end, or died
                os._exit(0)
            request = pickle.loads(data)
            try:
                pid = os.fork()
            except OSError as error:
                pid, failure = None, str(error)
            if pid == 0:
                _become_worker(request, environment, fds, [control.fileno(), *children])
            for received in fds:
                os.close(received)
            if pid is None:
                _tell(control, Failed(request.number, failure))
                continue
            try:
                pidfd = os.pidfd_open(pid)
            except OSError as error:  # the fork must not serve a socket training will give another
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                _tell(control, Failed(request.number, str(error)))
                continue
            children[pidfd] = (request.number, pid)
            waiting.register(pidfd, select.POLLIN)
            _tell(control, Started(request.number, pid), pidfd)


def _tell(control: socket.socket, message: Started | Failed | Exited, fd: int | None = None) -> None:
    try:
        socket.send_fds(control, [pickle.dumps(message)], [] if fd is None else [fd])
    except OSError:  # the training process is gone
        os._exit(0)


def _become_worker(request: ForkRequest, environment: dict, fds: list[int], server_fds: list[int]) -> None:
    """In the fork: take the training process's state of the moment, then serve it (never returns)."""
    try:
        import tempfile

        from textclf.tracking import client, worker

        for fd in server_fds:
            os.close(fd)
        worker_socket, stdout, stderr = fds
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.close(stdout)
        os.close(stderr)
        with contextlib.suppress(OSError):  # a folder removed since: a fresh worker would run there too
            os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(environment)
        os.environ.update(request.changed)
        for name in request.removed:
            del os.environ[name]
        client.use_textclf_settings()
        tempfile.tempdir = None  # read TMPDIR again: the worker's own temporary folder
        sys.argv = [worker.__file__, str(worker_socket), request.scratch]  # as a fresh worker's
        worker.serve(Connection(worker_socket), request.scratch, forked=True)
    except BaseException:  # a bug of ours: said where a fresh worker's traceback would be
        import traceback

        traceback.print_exc()
    finally:
        os._exit(1)


if __name__ == "__main__":
    # The worker's own: Ctrl-C reaches the whole process group, and training decides how a run
    # ends. Set first (here only: training imports this module), so that no signal lands in the
    # server's start-up either.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    started_with = dict(os.environ)  # before MLflow's import adds to it
    # Through the module's own name: the messages pickled here are unpickled there as its classes.
    from textclf.imports import own_this_process
    from textclf.tracking import fork_server

    own_this_process()
    fork_server.serve(socket.socket(fileno=int(sys.argv[1])), started_with)
