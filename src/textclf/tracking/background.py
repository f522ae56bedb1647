"""Tracking beside training: a ``BackgroundTracker`` hands MLflow's work to a worker process.

A bare scikit-learn script spends its time reading, fitting and predicting. ``train.py`` also
imports MLflow, may create a new store (MLflow's schema migrations), logs params, datasets, model
files, reports and metrics, and registers the model: seconds of work that would be added to every
run. The worker (``textclf.tracking.worker``) does that work while this process fits and
predicts, so ``python train.py`` costs about what the bare fit costs (benchmarks/RESULTS.md), and
this process never imports MLflow.

Each method below returns at once; the worker runs the calls one at a time, in the order they were
made. What holds whatever goes wrong (the fault matrix in tests/faults/ checks each):

* the run ends FINISHED only as its last step, registering its model in the same call; an
  interrupt that arrives before that step registers nothing, one that arrives during it waits
  for it (about a second) and then exits 130;
* Ctrl-C or SIGTERM end the run KILLED, a failure FAILED, bad input found during training FAILED
  and deleted;
* if this process dies outright (SIGKILL, out of memory), the worker ends the run KILLED; if the
  worker dies, training stops at once with one line; if both die, the next process on the store
  ends the run FAILED (``recovery``);
* the first failure is the one reported: calls after a failed one are skipped, never reported;
* a tracking server that stops answering stops training within ``tracking.server_silence_seconds``
  (15 s by default) and two heartbeats of 3 s (``watch_server``).
"""

from __future__ import annotations

import _thread
import contextlib
import shlex
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pandas as pd
from omegaconf import DictConfig

from textclf.config import flatten_config, to_yaml
from textclf.errors import Interrupted, Pruned, UserError, raise_keyboard_interrupt
from textclf.memory import release_freed_memory
from textclf.pause import pause_at
from textclf.serving.tagging import tag_texts
from textclf.serving.writer import save_state
from textclf.tracking.channel import WorkerChannel
from textclf.tracking.description import RunDescription
from textclf.tracking.manifest import DigestsAsWritten
from textclf.tracking.ownership import this_process
from textclf.tracking.reachability import check_reachable, watch_server
from textclf.tracking.store import (Registration, is_remote, server_silence_seconds, shown, store_settings,
                                   ui_command)

END_RUN_SECONDS = 60  # how long ending the run may take before this process gives up on it


def check_store(tracking: DictConfig) -> None:
    """Raise ``UserError`` for tracking settings (``cfg.tracking``) that cannot work: a name MLflow
    would refuse, a store that cannot be reached, a server that refuses the user and password given."""
    settings = store_settings(tracking)
    server_silence_seconds(tracking)
    check_reachable(settings["uri"], settings["connect_timeout"])


@contextlib.contextmanager
def open_tracker(cfg: DictConfig, dataset, description: RunDescription):
    """A started run in the store ``cfg.tracking`` names (``check_store``: checked), described by
    ``description``, with the config and dataset logged."""
    tracking, silence = store_settings(cfg.tracking), server_silence_seconds(cfg.tracking)
    with BackgroundTracker(tracking, server_silence_seconds=silence) as tracker, tracker.run(description):
        tracker.log_config(cfg)
        tracker.log_dataset(dataset.summary())
        yield tracker


class BackgroundTracker:
    """Takes the worker started ahead (``channel.worker_started_ahead``) or starts one, connects it
    to the store ``tracking`` describes, and forwards calls."""

    def __init__(self, tracking: dict, server_silence_seconds: float):
        self.uri = tracking["uri"]
        self.server_silence_seconds = server_silence_seconds
        self.champion_uri = f"models:/{tracking['registered_model']}@{tracking['champion_alias']}"
        self.experiment = tracking["experiment"]
        self.champion_metric = tracking["champion_metric"]
        self.failure: BaseException | None = None  # the first failure that interrupted training
        self._failed_at = 0.0  # time.monotonic() when it did
        self._holding = False  # Ctrl-C and SIGTERM are held (``_signals_held``)
        self._ended_as: str | None = None  # the status the run was last asked to end with
        self.run_id: str | None = None
        self.run_name: str | None = None
        self._finished = False
        self._channel = WorkerChannel(self._interrupt_training)
        self._saving = ThreadPoolExecutor(1, thread_name_prefix="save-model")
        self._saved: Future | None = None
        self._channel.submit("connect", urgent=True, **tracking)

    def __enter__(self) -> "BackgroundTracker":
        return self

    def __exit__(self, kind, error, trace) -> None:
        arrived = self.close()
        if error is not None and self.failure is not None:
            raise self.failure from None  # the cause, not the interrupt or the skipped calls it led to
        if arrived and not isinstance(error, (KeyboardInterrupt, UserError)):  # held while the worker stopped
            raise self._interrupted() from error

    @contextlib.contextmanager
    def run(self, description: RunDescription):
        """A run that always ends: see the module docstring."""
        previous = signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
        self.run_name = description.name
        self._started = self._channel.submit("begin_run", description, this_process(), urgent=True)
        stop_watching = threading.Event()
        try:
            self._channel.allow_interrupts(True)
            if is_remote(self.uri):
                watch_server(self.uri, self.server_silence_seconds, self._interrupt_training, stop_watching)
            yield
            if not self._finished:  # nothing was registered: the run ends once every call succeeded
                self._channel.wait_for_all()
                self.run_id = self._started.result()
                if self._end("FINISHED"):
                    raise Interrupted(f"interrupted during the last step, which completed: run {self.run_id} FINISHED")
        except Interrupted:  # already says what became of the run
            raise
        except KeyboardInterrupt:
            self.run_id = _result_if_done(self._started)
            if self._finished:
                raise Interrupted(f"interrupted after the last step: run {self.run_id} FINISHED and its model "
                                  "is registered") from None
            self._end("FAILED" if self.failure else "KILLED")
            # Ending it waited for the worker's calls, so a run begun after all is known by now.
            self.run_id = _result_if_done(self._started)
            if self.failure is None:
                raise Interrupted(f"interrupted: run {self.run_id or '(not started)'} ended KILLED; "
                                  "nothing was registered") from None
            raise
        except Pruned as pruned:  # a search trial's pruner stopped it: nothing to register
            self.log_tags({"textclf.pruned": str(pruned)})
            for step, value in pruned.reported if pruned.metric else ():  # beside the finished trials' steps
                self._channel.submit("log_metrics", {pruned.metric: value}, step=step)
            if self._end("KILLED"):  # Ctrl-C while it ended: the search stops too, not only this trial
                raise self._interrupted() from pruned
            raise
        except UserError:  # bad input found only once training ran: the run holds nothing to keep
            self._end("FAILED", delete=True)  # a Ctrl-C meanwhile: the process ends on the error's line anyway
            raise
        except BaseException as error:
            if self._end("FAILED"):
                raise self._interrupted() from error
            raise
        finally:
            stop_watching.set()
            signal.signal(signal.SIGTERM, previous)

    def log_config(self, cfg: DictConfig) -> None:
        """The resolved config as params and as ``config.yaml``: the first artifact written."""
        self._channel.submit("log_config", flatten_config(cfg), to_yaml(cfg), urgent=True)

    def log_dataset(self, summary) -> None:
        self._channel.submit("log_dataset", summary)

    def log_history(self, history: list[dict], steps: list[dict]) -> None:
        self._channel.submit("log_history", history, steps)

    def log_tags(self, tags: dict[str, str]) -> None:
        """Tags on the run: what fitted steps chose from the data (``training.report_choices``), a
        search trial's study and number, why a trial was pruned."""
        if tags:
            self._channel.submit("log_tags", tags)

    def log_cross_validation(self, cv) -> None:
        """Fold metrics, their mean and spread, and the out-of-fold probabilities
        (``Tracker.log_cross_validation``)."""
        self._channel.submit("log_cross_validation", cv)

    def log_model(self, estimator, decision, example_texts) -> None:
        """Save the model and log it, on a thread: writing files is mostly waiting on the disk,
        with the GIL released, so the caller predicts meanwhile."""
        texts = list(example_texts)
        example = (pd.DataFrame({"text": texts}), tag_texts(estimator, decision, texts))
        folder = self._channel.scratch / "state"

        def save_and_log() -> None:
            # Hashed here as they are written, not in the worker after MLflow copied them: the
            # copy is exact, and every load hashes the stored copy again.
            hashing = DigestsAsWritten(folder)
            packages = save_state(estimator, decision, folder, on_written=hashing)
            release_freed_memory()  # what encoding the model built, while the run is at its peak
            digests = hashing.digests()
            pause_at("save_model")
            self._channel.submit("log_model", str(folder), packages, *example, state_digests=digests)

        self._saved = self._saving.submit(save_and_log)

    def log_reports(self, split, evaluation, decision) -> None:
        """The report files of one evaluated split."""
        self._channel.submit("log_reports", split, evaluation, decision)

    def register(self, metrics: dict[str, float]) -> Registration:
        """Log the metrics; then, as the run's last step, register the model and end the run
        FINISHED. Only a run whose every call succeeded and that no interrupt reached gets here."""
        self._log_last_metrics(metrics)
        self._channel.wait_for_all()  # every call answered, none failed
        with self._signals_held("the registration to complete") as arrived:
            finishing = self._channel.submit("register_and_finish", metrics[self.champion_metric])
            self._channel.allow_interrupts(False)  # the worker's answer decides how this ends now
            registration = finishing.result()
        self._finished = True
        self.run_id = self._started.result()
        pause_at("after_register")
        if arrived:
            champion = registration.outcome()
            raise Interrupted(f"interrupted during the last step, which completed: run {self.run_id} FINISHED, "
                              f"model {registration.uri} ({champion})")
        return registration

    def finish(self, metrics: dict[str, float]) -> None:
        """Log the metrics and end the run FINISHED without registering its model (a search
        trial's run: ``tracking.register=false``). The run ends when its block exits (``run``),
        once every call succeeded."""
        self._log_last_metrics(metrics)

    def _log_last_metrics(self, metrics: dict[str, float]) -> None:
        """The metrics, after the model is logged and the reports drawn: what the run's end (or its
        registration) waits for."""
        self._channel.submit("log_metrics", metrics)
        if self._saved is not None:
            self._saved.result()  # the model is logged before the run ends or is registered
        self._channel.submit("wait_for_reports")

    def ui_command(self) -> str:
        return ui_command(self.uri)

    def predict_command(self) -> str:
        """``textclf predict`` of the champion."""
        return f"textclf predict --model-uri {self.champion_uri}{self._store_flag()}"

    def load_code(self) -> str:
        """Python that loads the champion."""
        return pyfunc_load_line(self.uri, self.champion_uri)

    def compare_command(self) -> str:
        """``textclf compare`` of this run's experiment."""
        return f"textclf compare --experiment {shlex.quote(self.experiment)}{self._store_flag()}"

    def _store_flag(self) -> str:
        from textclf.tracking.discovery import store_flag

        return store_flag(self.uri)

    def close(self) -> list[int]:
        """Stop the worker (after the calls already sent), wait for it, remove the model files;
        return the Ctrl-C and SIGTERM that arrived meanwhile (they wait: the wait is bounded, and
        cut short it would leave the worker and the model files behind)."""
        with self._signals_held("the model's files to be written and the tracking worker to stop") as arrived:
            self._saving.shutdown(wait=True, cancel_futures=True)
            self._channel.close(timeout=5 if self.failure is not None else 30)
        return arrived

    def _end(self, status: str, delete: bool = False) -> list[int]:
        """End the run with ``status``; return the Ctrl-C and SIGTERM that arrived meanwhile.
        They wait for the ending, which is bounded: a second Ctrl-C from an impatient user, or
        torchrun's SIGTERM a moment after a lost peer already interrupted the fit, must not cut
        it short and leave the run RUNNING with a line saying nothing was logged."""
        if self._finished:
            return []
        self._ended_as = status
        limit = END_RUN_SECONDS if self.failure is None else 5
        with self._signals_held(f"the run to end {status} (at most {limit} s)") as arrived:
            self._channel.allow_interrupts(False)  # from here on failures are raised, not interrupts
            ended = self._channel.submit("end_run", status, delete)
            try:
                self._wait_for_end(ended)
            except Exception:  # noqa: BLE001 - the run cannot be ended from here; the cause is raised by the caller
                if status == "FINISHED":
                    raise
        return arrived

    def _wait_for_end(self, ended: Future) -> None:
        """Wait for the worker to end the run: at most ``END_RUN_SECONDS``, and 5 s once a failure
        is known, also one found meanwhile (a server that stops answering as the run ends: its
        watcher does not interrupt a wait that holds the signals). A store that stopped answering would keep us here: the
        next process on the store ends the run instead (``recovery``)."""
        started = time.monotonic()
        deadline = started + END_RUN_SECONDS
        while True:
            if self.failure is not None:
                deadline = min(deadline, max(started, self._failed_at) + 5)
            try:
                ended.result(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
                return
            except FutureTimeout:
                if time.monotonic() >= deadline:
                    raise

    def _interrupt_training(self, failure: BaseException) -> None:
        if self.failure is not None:  # the first failure is the cause; later ones follow from it
            return
        self.failure, self._failed_at = failure, time.monotonic()
        if not self._holding:  # held, it would read as a Ctrl-C; a wait for the run's end sees the failure
            _thread.interrupt_main()  # raises KeyboardInterrupt in training; __exit__ re-raises failure

    @contextlib.contextmanager
    def _signals_held(self, waiting_for: str):
        """``_signals_deferred`` while this process waits for ``waiting_for``, a bounded wait (but
        registering): a Ctrl-C or SIGTERM then must not cut it short, leaving the run RUNNING."""
        self._holding = True
        try:
            with _signals_deferred(waiting_for) as arrived:
                yield arrived
        finally:
            self._holding = False

    def _interrupted(self) -> Interrupted:
        """The line for a Ctrl-C or SIGTERM held while the run ended or the worker stopped."""
        if self._finished or self._ended_as == "FINISHED":
            registered = " and its model is registered" if self._finished else ""
            return Interrupted(f"interrupted after the last step: run {self.run_id} FINISHED{registered}")
        self.run_id = self.run_id or _result_if_done(self._started)
        return Interrupted(f"interrupted: run {self.run_id or '(not started)'} ended {self._ended_as or 'KILLED'}; "
                           "nothing was registered")


def _result_if_done(future: Future):
    if future.done() and future.exception() is None:
        return future.result()
    return None


@contextlib.contextmanager
def _signals_deferred(waiting_for: str):
    """Hold Ctrl-C and SIGTERM until the block ends; yield the list of those that arrived. The
    first says what is waited for, on stderr. A signal this process ignores (SIGINT in a job
    started with ``&``) stays ignored. (Python runs handlers on the main thread only, and only
    there can they be set: elsewhere there is nothing to hold.)"""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def hold(number, frame) -> None:
        arrived.append(number)
        if len(arrived) == 1:
            with contextlib.suppress(OSError, ValueError):  # stderr a closed pipe (`| head`): the wait goes on
                print(f"waiting for {waiting_for} before stopping", file=sys.stderr, flush=True)

    # None: a handler set outside Python, left as it is
    handlers = {signum: handler for signum in (signal.SIGINT, signal.SIGTERM)
                if (handler := signal.getsignal(signum)) not in (signal.SIG_IGN, None)}
    for signum in handlers:
        signal.signal(signum, hold)
    try:
        yield arrived
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def pyfunc_load_line(uri: str, model_uri: str) -> str:
    """Python that loads ``model_uri`` from the store ``uri``. The store is named even when it is
    the project's own, which textclf's commands find by themselves: MLflow does not look for it,
    and from any other folder would open (and create) an empty ``mlflow.db`` there."""
    return f"mlflow.set_tracking_uri({shown(uri)!r}); mlflow.pyfunc.load_model({model_uri!r})"
