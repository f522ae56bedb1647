"""Run one function in a forked copy of this process, to use the second core deterministically.

Two liblinear fits on two threads would use both cores, but they share liblinear's one random
number generator (scikit-learn's LinearSVC draws from it as it fits), so neither result could be
reproduced. A forked child has its own copy of everything, the training matrix included (shared
with the parent until written, so nothing is copied or pickled on the way in); only the return
value travels back, pickled through a pipe.

Where ``fork`` is unavailable (Windows, macOS), or this process is itself a daemonic process,
which may not start children, the function runs here and now: the same result, one core.
"""

from __future__ import annotations

import multiprocessing
import os
import signal


class ChildResult:
    """The return value of a function running in a forked child; ``result()`` waits for it."""

    def __init__(self, function, args: tuple, name: str = "textclf-child"):
        self._value, self._process = None, None
        if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
            self._value = (True, function(*args))
            return
        context = multiprocessing.get_context("fork")
        self._receiving, sending = context.Pipe(duplex=False)
        # Daemonic: if this process exits first (Ctrl-C), multiprocessing ends the child with it.
        self._process = context.Process(target=_child, args=(function, args, sending), daemon=True,
                                        name=name)
        self._process.start()
        sending.close()

    def result(self):
        """The function's return value; its exception if it raised one."""
        if self._value is None:
            try:
                self._value = self._receiving.recv()
            except EOFError:  # the child ended without answering: killed (out of memory?)
                self._process.join()
                raise RuntimeError(f"the forked child ({self._process.name}) ended without a result "
                                   f"(exit code {self._process.exitcode})") from None
            finally:
                self._receiving.close()
            self._process.join()
        succeeded, value = self._value
        if not succeeded:
            raise value
        return value


def _child(function, args: tuple, sending) -> None:
    # Ctrl-C reaches the whole process group; the parent decides, and ends this child if need be.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        outcome = (True, function(*args))
    except Exception as error:  # goes back to the parent, which raises it
        outcome = (False, error)
    try:
        sending.send(outcome)
    except OSError:  # the parent is gone
        pass
    # Out at once: multiprocessing's own exit flushes this copy's stdout, whose lock another thread
    # of the parent may have held at the fork; the child would then wait for ever, and so would the
    # parent joining it.
    os._exit(0)
