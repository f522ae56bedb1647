"""Tracking beside training: a ``BackgroundTracker`` hands MLflow's work to a worker process.

A bare scikit-learn script spends its time reading, fitting and predicting. ``train.py`` also
imports MLflow, may create a new store (MLflow's schema migrations), logs params, datasets, model
files, reports and metrics, and registers the model: seconds of work that would be added to every
run. The worker (``textclf.tracking.worker``) does that work while this process fits and
predicts, so ``python train.py`` costs about what the bare fit costs (benchmarks/RESULTS.md), and
this process never imports MLflow.

Each method below returns at once; the worker runs the calls one at a time, in the order they were
made. The guarantees of an in-process tracker still hold:

* the run always ends: FINISHED, FAILED on an error, KILLED on Ctrl-C or SIGTERM; if this
  process dies outright (SIGKILL, out of memory), the worker ends the run KILLED;
* failing to open the store or start the run interrupts training at once, not after the fit;
* any other tracking failure is raised before the run could be called FINISHED, and the run
  ends FAILED.
"""

from __future__ import annotations

import _thread
import contextlib
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from textclf.config import flatten_config, to_yaml
from textclf.serving.tagging import tag_texts
from textclf.serving.writer import save_state
from textclf.tracking.store import Registration, TrackingError, check_reachable, ui_command

WORKER_DIED = "the tracking worker process died (see the messages above)"


@contextlib.contextmanager
def open_tracker(cfg: DictConfig, dataset):
    """A started run in the store ``cfg.tracking`` names, with the config and dataset logged."""
    tracking = OmegaConf.to_container(cfg.tracking, resolve=True)
    check_reachable(tracking["uri"], tracking["connect_timeout"])
    with BackgroundTracker(tracking) as tracker, tracker.run(cfg.run_name):
        tracker.log_config(cfg)
        tracker.log_dataset(dataset.summary())
        yield tracker


class BackgroundTracker:
    """Starts the worker, connects it to the store ``tracking`` describes, and forwards calls."""

    def __init__(self, tracking: dict):
        self.uri = tracking["uri"]
        self.champion_uri = f"models:/{tracking['registered_model']}@{tracking['champion_alias']}"
        self.champion_metric = tracking["champion_metric"]
        self.failure: BaseException | None = None  # a failure that interrupted training
        self.run_id: str | None = None
        self._channel = _WorkerChannel(self._interrupt_training)
        # Model files are written here and read by the worker; removed once the worker is done.
        self._scratch = Path(tempfile.mkdtemp(prefix="textclf-"))
        self._saving = ThreadPoolExecutor(1, thread_name_prefix="save-model")
        self._saved: Future | None = None
        self._channel.submit("connect", urgent=True, **tracking)

    def __enter__(self) -> "BackgroundTracker":
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.close()
        if isinstance(error, KeyboardInterrupt) and self.failure is not None:
            raise self.failure from None

    @contextlib.contextmanager
    def run(self, run_name: str):
        """A run that always ends: FINISHED, FAILED on an error, KILLED on Ctrl-C or SIGTERM."""
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        started = self._channel.submit("begin_run", run_name, urgent=True)
        try:
            yield
            self._channel.wait_for_all()  # every call answered, none failed
        except KeyboardInterrupt:
            self._end("FAILED" if self.failure else "KILLED")
            raise
        except BaseException:
            self._end("FAILED")
            raise
        else:
            self.run_id = started.result()
            self._end("FINISHED")
        finally:
            signal.signal(signal.SIGTERM, previous)

    def log_config(self, cfg: DictConfig) -> None:
        """The resolved config as params and as ``config.yaml``: the first artifact written."""
        self._channel.submit("log_config", flatten_config(cfg), to_yaml(cfg), urgent=True)

    def log_dataset(self, summary) -> None:
        self._channel.submit("log_dataset", summary)

    def log_history(self, history: list[dict]) -> None:
        self._channel.submit("log_history", history)

    def log_model(self, estimator, decision, example_texts) -> None:
        """Save the model and log it, on a thread: writing files is mostly waiting on the disk,
        with the GIL released, so the caller predicts meanwhile."""
        texts = list(example_texts)
        example = (pd.DataFrame({"text": texts}), tag_texts(estimator, decision, texts))
        folder = self._scratch / "state"

        def save_and_log() -> None:
            packages = save_state(estimator, decision, folder)
            self._channel.submit("log_model", str(folder), packages, *example)

        self._saved = self._saving.submit(save_and_log)

    def log_reports(self, split, evaluation, decision) -> None:
        """The report files of one evaluated split."""
        self._channel.submit("log_reports", split, evaluation, decision)

    def register(self, metrics: dict[str, float]) -> Registration:
        """Log the run's metrics, then register its model under the champion rule."""
        self._channel.submit("log_metrics", metrics)
        if self._saved is not None:
            self._saved.result()  # the model is logged before it is registered
        registered = self._channel.submit("register", metrics[self.champion_metric])
        self._channel.wait_for_all()
        return registered.result()

    def ui_command(self) -> str:
        return ui_command(self.uri)

    def close(self) -> None:
        """Stop the worker (after the calls already sent), wait for it, remove the model files."""
        self._saving.shutdown(wait=True, cancel_futures=True)
        self._channel.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _end(self, status: str) -> None:
        self._channel.stop_interrupting()  # from here on failures are raised, not interrupts
        ended = self._channel.submit("end_run", status)
        try:
            ended.result(timeout=60)
        except Exception:
            if status == "FINISHED":
                raise

    def _interrupt_training(self, failure: BaseException) -> None:
        if self.failure is not None:  # the first failure is the cause; later ones follow from it
            return
        self.failure = failure
        _thread.interrupt_main()  # raises KeyboardInterrupt in training; __exit__ re-raises failure


class _WorkerChannel:
    """The worker process and the socket to it: calls go out in order, answers come back in order.

    ``submit`` returns a ``Future`` per call. A failed *urgent* call, or the worker's death while
    calls are unanswered, calls ``interrupt`` with the failure (until ``stop_interrupting``).
    """

    def __init__(self, interrupt):
        self._interrupt = interrupt
        self._calls: list[Future] = []
        self._unanswered: deque[tuple[Future, bool]] = deque()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._may_interrupt = True
        self._gone = False
        # A fresh interpreter that shares none of this process's memory or threads, and imports
        # nothing but what tracking needs; the two talk over a socket pair.
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen([sys.executable, "-m", "textclf.tracking.worker", str(theirs.fileno())],
                                         pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self._connection = Connection(ours.detach())
        # Sending happens on a thread: a large message would otherwise block training until the
        # worker, busy importing MLflow, reads it.
        threading.Thread(target=self._send_loop, daemon=True).start()
        threading.Thread(target=self._receive_loop, daemon=True).start()

    def submit(self, call: str, *args, urgent: bool = False, **kwargs) -> Future:
        """Queue ``connect``, ``end_run`` or one of the worker's calls (``textclf.tracking.worker.calls``)."""
        future: Future = Future()
        with self._lock:  # calls may come from several threads; keep the queues in one order
            self._calls.append(future)
            if self._gone:
                future.set_exception(TrackingError(WORKER_DIED))
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

    def stop_interrupting(self) -> None:
        with self._lock:
            self._may_interrupt = False

    def close(self) -> None:
        with self._lock:
            self._may_interrupt = False
            self._outbox.put(None)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()

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
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
            if interrupt:
                self._interrupt(value)
        with self._lock:
            self._gone = True
            lost = list(self._unanswered)
            self._unanswered.clear()
            interrupt = bool(lost) and self._may_interrupt
        for future, _ in lost:
            future.set_exception(TrackingError(WORKER_DIED))
        if interrupt:
            self._interrupt(TrackingError(WORKER_DIED))


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
