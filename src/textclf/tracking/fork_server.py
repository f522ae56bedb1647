"""A process that imports MLflow once and forks tracking workers from there.

A fresh worker spends 2-3 s of CPU importing MLflow before it can log anything: on a quick model,
most of a run. A process that trains more than once (a sweep's jobs run one after another in one
process, and so do an Optuna search's trials and ``textclf.train`` called in a loop) starts a fork
server with its second worker (``channel``); that worker and every later one is a fork of the
server, ready in milliseconds.

A fork is what a fresh worker would be: it gets this process's environment, working folder,
stdout and stderr of the moment, and the server's niceness and ignored SIGINT and SIGTERM, which
are the worker's own. It is the server's child, not ours: we watch and kill it through a pidfd,
and the server tells us its exit code. The server exits when this process closes its end of the
socket or dies; workers forked earlier go on to the end of their runs.

Linux only (pidfds); elsewhere every worker is a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection

MAX_MESSAGE = 1 << 20  # a request carries this process's environment: a few KB


def supported() -> bool:
    return hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")


@dataclass(frozen=True)
class ForkRequest:
    number: int
    scratch: str
    cwd: str
    environment: dict


class ForkServer:
    """Our end of a started fork server."""

    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen([sys.executable, "-m", "textclf.tracking.fork_server",
                                              str(theirs.fileno())], pass_fds=[theirs.fileno()],
                                             stdin=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        self._owner = os.getpid()  # a fork of this process (models.forked) must not use our server
        self._lock = threading.Lock()
        self._requests = 0
        self._exit_codes: dict[int, int] = {}

    def alive(self) -> bool:
        return os.getpid() == self._owner and self._process.poll() is None

    def fork(self, worker_end: socket.socket, scratch: str, environment: dict) -> "ForkedWorker":
        """A worker serving the other end of ``worker_end``'s socket pair, with ``environment``;
        OSError if the server is gone. The first waits for the server's own imports."""
        with self._lock:
            self._requests += 1
            request = ForkRequest(self._requests, scratch, os.getcwd(), environment)
            socket.send_fds(self._socket, [pickle.dumps(request)], [worker_end.fileno(), 1, 2])
            while True:
                message, fds = self._receive()
                if message[0] == "started":
                    self._exit_codes.pop(message[2], None)  # a reused process id's old code
                if message[:2] == ("started", request.number):
                    return ForkedWorker(message[2], fds[0], self)
                for fd in fds:  # the pidfd of a worker whose request was interrupted: it exits by itself
                    os.close(fd)

    def exit_code(self, pid: int, timeout: float) -> int | None:
        """The exit code of worker ``pid``, which has exited, as the server reports it (None if it
        cannot: the server was killed)."""
        with self._lock:
            while pid not in self._exit_codes and select.select([self._socket], [], [], timeout)[0]:
                try:
                    for fd in self._receive()[1]:
                        os.close(fd)
                except OSError:
                    break
            return self._exit_codes.pop(pid, None)

    def close(self) -> None:
        """End the server (at this process's exit): it exits at the end of its socket."""
        self._socket.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)

    def _receive(self) -> tuple[tuple, list[int]]:
        data, fds, _, _ = socket.recv_fds(self._socket, MAX_MESSAGE, 1)
        if not data:
            raise OSError("the tracking fork server is gone")
        message = pickle.loads(data)
        if message[0] == "exited":
            self._exit_codes[message[1]] = message[2]
        return message, fds


class ForkedWorker:
    """A forked worker, with the parts of ``subprocess.Popen`` the channel uses."""

    def __init__(self, pid: int, pidfd: int, server: ForkServer):
        self.pid, self._pidfd, self._server = pid, pidfd, server
        self.returncode: int | None = None
        self._lock = threading.Lock()  # training's threads may wait for it together

    def poll(self) -> int | None:
        return self._finish() if self.returncode is None and self._exited(0) else self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None and not self._exited(timeout):
            raise subprocess.TimeoutExpired(f"tracking worker {self.pid}", timeout)
        return self._finish() if self.returncode is None else self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)  # the pidfd: never another process

    def _exited(self, timeout: float | None) -> bool:
        return bool(select.select([self._pidfd], [], [], timeout)[0])

    def _finish(self) -> int:
        with self._lock:
            if self.returncode is None:
                code = self._server.exit_code(self.pid, timeout=5)
                # Unknown only when the server was killed too, in practice with the whole process group.
                self.returncode = -signal.SIGKILL if code is None else code
        return self.returncode

    def __del__(self):  # not closed before: another thread may still be waiting on it
        os.close(self._pidfd)


def serve(control: socket.socket) -> None:
    """The server's loop: fork a worker for each request, report each worker's exit code."""
    from textclf.tracking import worker

    worker.lower_priority()  # inherited by every fork, as a fresh worker lowers its own
    worker.import_tracker()
    events = selectors.DefaultSelector()
    events.register(control, selectors.EVENT_READ)
    children: dict[int, int] = {}  # pidfd -> pid
    while True:
        for key, _ in events.select():
            if key.fileobj is control:
                try:
                    data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 3)
                except OSError:
                    data = b""
                if not data:  # the training process closed its end, or died
                    os._exit(0)
                request = pickle.loads(data)
                pid = os.fork()
                if pid == 0:
                    _become_worker(request, fds, [control.fileno(), events.fileno(), *children])
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = pid
                events.register(pidfd, selectors.EVENT_READ)
                _tell(control, ("started", request.number, pid), [pidfd])
            else:
                pidfd = key.fd
                events.unregister(pidfd)
                pid, status = os.waitpid(children.pop(pidfd), 0)
                os.close(pidfd)
                _tell(control, ("exited", pid, os.waitstatus_to_exitcode(status)), [])


def _tell(control: socket.socket, message: tuple, fds: list[int]) -> None:
    try:
        socket.send_fds(control, [pickle.dumps(message)], fds)
    except OSError:  # the training process is gone
        os._exit(0)


def _become_worker(request: ForkRequest, fds: list[int], server_fds: list[int]) -> None:
    """In the fork: take the training process's state of the moment, then serve it (never returns)."""
    try:
        import tempfile

        from textclf.tracking import worker

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
        os.environ.update(request.environment)
        tempfile.tempdir = None  # read TMPDIR again: the worker's own temporary folder
        worker.serve(Connection(worker_socket), request.scratch, forked=True)
    except BaseException:  # a bug of ours: said where a fresh worker's traceback would be
        import traceback

        traceback.print_exc()
    finally:
        os._exit(1)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
