"""MLflow's work happens in a worker process beside training; nothing is lost when either side fails.
(Either side killed outright at each moment of a run: tests/faults/test_fault_matrix.py. SIGKILL
runs no handler, so what the killed process was fitting makes no difference there.)"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpers.paths import ROOT
from helpers.processes import clean_env, store_overrides, tracking_workers
from helpers.stores import all_runs, client
from helpers.training import background_tracker, run_description


def test_a_tracking_failure_fails_the_run_and_registers_nothing(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("artifacts cannot go under a file")
    command = [sys.executable, str(ROOT / "train.py"), *store_overrides(tmp_path, not_a_folder / "mlruns")]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=clean_env())
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: tracking failed") and "Fix:" in lines[0], result.stderr
    assert "Not a directory" in lines[0] and "Traceback" not in result.stderr
    assert [run.info.status for run in all_runs(tmp_path)] == ["FAILED"]
    assert client(tmp_path).search_model_versions() == []


def test_calls_reach_the_store_in_the_order_they_were_made(tmp_path):
    with background_tracker(tmp_path) as tracker, tracker.run(run_description("ordered")):
        for step in range(1, 6):
            tracker.log_history([{"epoch": step, "loss": float(step)}], [])
    (run,) = all_runs(tmp_path)
    assert run.info.status == "FINISHED" and tracker.run_id == run.info.run_id
    history = client(tmp_path).get_metric_history(run.info.run_id, "train/loss")
    assert [(point.step, point.value) for point in history] == [(s, float(s)) for s in range(1, 6)]


def test_a_closed_tracker_leaves_no_socket_open(tmp_path):
    """A sweep's jobs run one after another in one process: each run's socket to its worker is
    closed with the run, not whenever the garbage collector gets to it."""
    import gc

    def sockets():
        links = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                links.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:  # the listing's own descriptor, closed by now
                pass
        return sorted(link for link in links if link.startswith("socket:"))

    for warm_up in ("first", "second"):  # the second starts the fork server, whose socket stays
        with background_tracker(tmp_path) as tracker, tracker.run(run_description(warm_up)):
            pass
    gc.disable()
    try:
        before = sockets()
        with background_tracker(tmp_path) as tracker, tracker.run(run_description("closed")):
            assert len(sockets()) == len(before) + 1  # our end of the worker's socket
        assert sockets() == before and tracker.run_id
    finally:
        gc.enable()


def test_a_failed_call_fails_the_run_and_nothing_after_it_runs(tmp_path):
    with pytest.raises(Exception, match="skipped: an earlier tracking call failed|log_history"):
        with background_tracker(tmp_path) as tracker, tracker.run(run_description("failing")):
            tracker.log_history([{"epoch": 1, "loss": "not a number"}], [])  # MLflow refuses a string metric
            tracker.log_history([{"epoch": 2, "loss": 2.0}], [])
    (run,) = all_runs(tmp_path)
    assert run.info.status == "FAILED"
    assert client(tmp_path).get_metric_history(run.info.run_id, "train/loss") == []


def test_a_store_that_cannot_be_opened_interrupts_training_at_once(tmp_path):
    from textclf.errors import UserError

    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("")
    started = time.monotonic()
    with pytest.raises(UserError, match="tracking"):
        with background_tracker(not_a_folder, new_store=True) as tracker, tracker.run(run_description("never")):
            while time.monotonic() - started < 60:  # "training": only an interrupt ends it early
                time.sleep(0.05)
    assert time.monotonic() - started < 30


def test_ctrl_c_in_training_ends_the_run_killed(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with background_tracker(tmp_path) as tracker, tracker.run(run_description("interrupted")):
            tracker.log_history([{"epoch": 1, "loss": 1.0}], [])
            raise KeyboardInterrupt
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED"


def ctrl_c_at_the_pause(pause) -> threading.Thread:
    """A thread (to start) that presses Ctrl-C on this process once the worker is paused at the
    pause file (ending the run, which training waits for), then lets the worker go on."""
    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 60
        while not (pause.exists() and pause.read_text()):
            if time.monotonic() > deadline:  # never paused: the test fails on its own, no Ctrl-C sent
                return
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.3)  # the handler runs on the main thread, which wakes from its wait for it
        pause.unlink(missing_ok=True)

    return threading.Thread(target=press_ctrl_c, daemon=True)


@pytest.mark.parametrize("ending", ["KILLED", "FINISHED"])
def test_an_interrupt_while_the_run_ends_waits_for_the_ending(tmp_path, monkeypatch, capfd, ending):
    """Ctrl-C pressed twice, or torchrun's SIGTERM a moment after a lost peer interrupted the fit
    (KILLED), or Ctrl-C once as a run without registering ends (FINISHED): the signal arrives while
    training waits for the worker to end the run. It used to cut that wait short: a line saying
    nothing was logged, or that a FINISHED run ended KILLED, and a run left RUNNING when it landed
    before the worker was asked to end it."""
    from textclf.errors import Interrupted

    pause = tmp_path / "paused"
    monkeypatch.setenv("TEXTCLF_PAUSE_AT", "end_run")  # the worker, ending the run, waits for the file to go
    monkeypatch.setenv("TEXTCLF_PAUSE_FILE", str(pause))

    pressing = ctrl_c_at_the_pause(pause)
    with pytest.raises(KeyboardInterrupt) as interrupted:
        with background_tracker(tmp_path) as tracker, tracker.run(run_description("twice")):
            pressing.start()
            if ending == "KILLED":
                raise KeyboardInterrupt  # the first Ctrl-C
    pressing.join()
    (run,) = all_runs(tmp_path)
    assert run.info.status == ending
    assert isinstance(interrupted.value, Interrupted), repr(interrupted.value)
    assert f"waiting for the run to end {ending} (at most 60 s) before stopping" in capfd.readouterr().err
    assert str(interrupted.value) == {
        "KILLED": f"interrupted: run {run.info.run_id} ended KILLED; nothing was registered",
        "FINISHED": f"interrupted during the last step, which completed: run {run.info.run_id} FINISHED"}[ending]


def test_a_failure_found_while_the_run_ends_stops_the_wait_seconds_later(tmp_path, monkeypatch):
    """A tracking server that goes silent just as the run ends: its watcher (here called as it
    calls it) does not interrupt training's wait for the end, which holds the signals; the wait
    stops 5 s later, not after the minute a healthy store is given."""
    from textclf.errors import UserError
    from textclf.tracking.background import END_RUN_SECONDS

    pause = tmp_path / "paused"
    monkeypatch.setenv("TEXTCLF_PAUSE_AT", "end_run")  # the worker, ending the run, stays stuck
    monkeypatch.setenv("TEXTCLF_PAUSE_FILE", str(pause))
    monkeypatch.setenv("TEXTCLF_PAUSE_SECONDS", str(2 * END_RUN_SECONDS))  # longer than any wait for it

    def server_goes_silent() -> None:
        while not (pause.exists() and pause.read_text()):
            time.sleep(0.02)
        tracker._interrupt_training(UserError("tracking server stopped answering"))

    silent = threading.Thread(target=server_goes_silent, daemon=True)
    started = time.monotonic()
    try:
        with pytest.raises(UserError, match="stopped answering"):
            with background_tracker(tmp_path) as tracker, tracker.run(run_description("silent")):
                silent.start()
    finally:
        pause.unlink(missing_ok=True)
    # 5 s for the end, 5 s to end it FAILED, 5 s for the worker to stop, and the worker's start
    # (17-25 s); waiting out END_RUN_SECONDS first takes 70 s
    assert time.monotonic() - started < END_RUN_SECONDS * 0.75


@pytest.mark.parametrize("stopped_by", ["pruned", "failed"])
def test_ctrl_c_while_a_pruned_or_failed_run_ends_stops_the_process(tmp_path, monkeypatch, stopped_by):
    """A search trial's pruner, or a failure, ends the run; a Ctrl-C held while it ended must still
    stop the process (a search went on to its next trial: a pruned trial returns a value)."""
    from textclf.errors import Interrupted, Pruned

    pause = tmp_path / "paused"
    monkeypatch.setenv("TEXTCLF_PAUSE_AT", "end_run")
    monkeypatch.setenv("TEXTCLF_PAUSE_FILE", str(pause))

    pressing = ctrl_c_at_the_pause(pause)
    stop = {"pruned": Pruned("fold", 1, 0.1), "failed": RuntimeError("a bug in a fit")}[stopped_by]
    with pytest.raises(KeyboardInterrupt) as interrupted:
        with background_tracker(tmp_path) as tracker, tracker.run(run_description(stopped_by)):
            pressing.start()
            raise stop
    (run,) = all_runs(tmp_path)
    status = {"pruned": "KILLED", "failed": "FAILED"}[stopped_by]
    assert run.info.status == status
    assert isinstance(interrupted.value, Interrupted) and interrupted.value.__cause__ is stop
    assert str(interrupted.value) == f"interrupted: run {run.info.run_id} ended {status}; nothing was registered"


def test_a_model_saved_while_an_interrupt_ended_the_run_starts_no_run_of_its_own(tmp_path, monkeypatch):
    """Ctrl-C while the model's files are written: the run ends KILLED, then the save thread hands
    the model over; MLflow would log it in a new run of the Default experiment, left behind."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from helpers.stores import client
    from textclf.serving.decision import ArgmaxDecision

    pause = tmp_path / "paused"
    monkeypatch.setenv("TEXTCLF_PAUSE_AT", "save_model")  # the save thread: files written, not yet handed over
    monkeypatch.setenv("TEXTCLF_PAUSE_FILE", str(pause))
    texts, labels = ["a missile launch", "a summit visit", "rockets fired", "talks in seoul"], ["nk", "visit"] * 2
    model = Pipeline([("features", TfidfVectorizer()), ("classifier", LogisticRegression())]).fit(texts, labels)
    with pytest.raises(KeyboardInterrupt):
        with background_tracker(tmp_path) as tracker, tracker.run(run_description("late")):
            tracker.log_model(model, ArgmaxDecision(("nk", "visit")), texts[:2])
            deadline = time.monotonic() + 60
            while not (pause.exists() and pause.read_text()):
                assert time.monotonic() < deadline, "the save thread never reached its pause"
                time.sleep(0.02)
            threading.Timer(1.0, lambda: pause.unlink(missing_ok=True)).start()  # once the run has ended
            raise KeyboardInterrupt
    store = client(tmp_path)
    runs = [run for experiment in store.search_experiments() for run in store.search_runs([experiment.experiment_id])]
    assert [(run.info.run_name, run.info.status) for run in runs] == [("late", "KILLED")]


def test_a_worker_closed_with_its_run_still_active_ends_it_killed(tmp_path):
    """Training ends its run before closing the worker; should an interrupt cut the ending short
    anyway, closing ends the run KILLED, never leaving it RUNNING for the next process to find."""
    from textclf.tracking.ownership import this_process

    tracker = background_tracker(tmp_path)
    tracker._channel.submit("begin_run", run_description("cut short"), this_process(), urgent=True).result()
    tracker.close()
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED"


def test_the_worker_removes_the_model_files_when_it_exits():
    """Also when training closed it: training may die between the worker's exit and its own cleanup."""
    from textclf.tracking.channel import WorkerProcess

    worker = WorkerProcess.start()
    (worker.scratch / "state").mkdir()
    worker.connection.send(None)  # what closing sends after the last call
    assert worker.process.wait(timeout=60) == 0
    assert not worker.scratch.exists()


def test_a_worker_started_ahead_serves_the_next_run_and_is_stopped_if_none_takes_it(tmp_path):
    from textclf.tracking.channel import worker_started_ahead

    with worker_started_ahead():
        (ahead,) = tracking_workers()
        with background_tracker(tmp_path) as tracker, tracker.run(run_description("ahead")):
            assert tracking_workers() == [ahead]  # no second worker
    assert not ahead.is_running()
    (run,) = all_runs(tmp_path)
    assert run.info.status == "FINISHED"

    with worker_started_ahead() as started:  # bad input found before the run: nothing takes it
        (unused,) = tracking_workers()
        assert started.scratch.is_dir()
    assert not unused.is_running() and not started.scratch.exists()


def test_a_worker_started_ahead_that_died_is_replaced(tmp_path):
    """Killed while training imported or read its data, it had connected to nothing: the run goes on."""
    from textclf.tracking.channel import worker_started_ahead

    with worker_started_ahead():
        (ahead,) = tracking_workers()
        ahead.kill()
        ahead.wait(timeout=30)
        with background_tracker(tmp_path) as tracker, tracker.run(run_description("replaced")):
            tracker.log_history([{"epoch": 1, "loss": 1.0}], [])
    (run,) = all_runs(tmp_path)
    assert run.info.status == "FINISHED"


def test_ctrl_c_before_the_worker_says_the_run_began_names_the_run_it_ended(tmp_path):
    """Ctrl-C a moment after a job starts: the worker has not yet answered that the run exists, but
    it does, and ends KILLED; the line names it (it used to say "run (not started) ended KILLED")."""
    from textclf.errors import Interrupted

    with pytest.raises(Interrupted) as interrupted:
        with background_tracker(tmp_path) as tracker, tracker.run(run_description("early")):
            raise KeyboardInterrupt
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED"
    assert str(interrupted.value) == f"interrupted: run {run.info.run_id} ended KILLED; nothing was registered"
