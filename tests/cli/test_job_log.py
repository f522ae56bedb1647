"""What `python train.py` prints is also in its run folder's train.log (Hydra's job log), once per
line, its error line included; the terminal gets exactly what it got before."""

import io
import logging

from textclf.cli.job_log import _CopiedLines, _LineCopier


def job_log(folder) -> list[str]:
    (log,) = (folder / "outputs").glob("*/train.log")
    return log.read_text().splitlines()


def test_a_runs_lines_are_in_its_train_log_as_on_the_terminal(tmp_path, train_in_process):
    result = train_in_process(tmp_path, "features=tfidf_word", "model=tfidf_nb")
    assert result.returncode == 0, result.stderr[-2000:]
    logged = job_log(tmp_path)
    printed = [line for line in result.stdout.splitlines() if line.strip()]
    assert printed and any(line.startswith("run ") and "test/macro_f1" in line for line in printed)
    # each printed line, in order, after Hydra's time, logger and level
    assert [line.split("[INFO] - ", 1)[1] for line in logged if "[INFO] - " in line][-len(printed):] == printed


def test_the_error_line_of_bad_input_is_in_the_train_log(tmp_path, train_in_process):
    result = train_in_process(tmp_path, "features=tfidf_word", "features.min_df=100000")
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert job_log(tmp_path)[-1].endswith(f"[ERROR] - {line}")


def test_without_hydras_log_file_nothing_is_written(tmp_path, train_in_process):
    result = train_in_process(tmp_path, "features=tfidf_word", "model=tfidf_nb", "hydra/job_logging=disabled")
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((tmp_path / "outputs").glob("*/train.log")) == []


def recording_logger(name: str, handler: logging.Handler | None = None):
    records = []
    if handler is None:
        handler = logging.Handler()
        handler.emit = records.append
    logger = logging.getLogger(name)
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.INFO
    return logger, records


def test_a_progress_bar_leaves_its_last_state_and_the_stream_gets_every_character():
    logger, records = recording_logger("test-job-log")
    terminal = io.StringIO()
    stream = _CopiedLines(terminal, _LineCopier(logger))
    pieces = ("fold 1/3\rfold 2/3", "\rfold 3/3\n", "warning: few texts\n\n", "half a li", "ne\r\n", "no newline")
    for piece in pieces:
        stream.write(piece)
    assert terminal.getvalue() == "".join(pieces)
    assert stream.pending == "no newline"  # a bar's earlier states are not kept while it is redrawn
    assert [(record.levelname, record.getMessage()) for record in records] == [
        ("INFO", "fold 3/3"), ("WARNING", "warning: few texts"), ("INFO", "half a line")]


def test_a_log_file_that_cannot_be_written_leaves_the_terminal_as_it_was(tmp_path, monkeypatch):
    """A full disk or a removed folder: logging prints its complaint to stderr, which is copied
    too; it must reach the terminal once, not loop back into the log, whichever stream wrote."""
    monkeypatch.setattr(logging, "raiseExceptions", True)
    # its folder never made: the file cannot be opened, and the copy stops
    logger, _ = recording_logger("test-job-log-gone", logging.FileHandler(tmp_path / "gone" / "x.log", delay=True))
    terminal = io.StringIO()
    stream = _CopiedLines(terminal, _LineCopier(logger))
    stream.write("error: something\n")
    stream.write("more\n")
    assert terminal.getvalue() == "error: something\nmore\n"

    class Failing(logging.Handler):  # a write that fails: logging's handler reports it on stderr
        def emit(self, record):
            try:
                raise OSError("No space left on device")
            except OSError:
                self.handleError(record)

    logger, _ = recording_logger("test-job-log-full", Failing())
    copier, out, err = _LineCopier(logger), io.StringIO(), io.StringIO()
    stdout, stderr = _CopiedLines(out, copier), _CopiedLines(err, copier)
    monkeypatch.setattr("sys.stderr", stderr)  # where logging's handleError writes
    stdout.write("a line\n")
    stdout.write("another\n")
    assert out.getvalue() == "a line\nanother\n"
    assert err.getvalue().count("--- Logging error ---") == 2  # one complaint per line, not copied back


def test_each_job_of_a_sweep_has_its_own_lines(tmp_path, train_in_process):
    result = train_in_process(tmp_path, "-m", "hydra/launcher=basic", "features=tfidf_word", "model=tfidf_nb", "seed=1,2")
    assert result.returncode == 0, result.stderr[-2000:]
    logs = sorted((tmp_path / "multirun").glob("*/*/train.log"))
    assert len(logs) == 2
    run_lines = [[line for line in log.read_text().splitlines() if "[INFO] - run " in line] for log in logs]
    assert [len(lines) for lines in run_lines] == [1, 1] and run_lines[0] != run_lines[1]


def test_a_child_forked_while_a_line_is_logged_can_still_print(tmp_path):
    """A fit forks a child for the second core while another thread may be logging a line: the
    child must not inherit the copy's lock held (it hung at its first print)."""
    import os
    import threading

    from textclf.cli import job_log

    started, release = threading.Event(), threading.Event()

    def holding():
        with job_log._lock:
            started.set()
            release.wait(10)

    holder = threading.Thread(target=holding)
    holder.start()
    started.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the lock it got is not held by anyone in it
            os._exit(0 if job_log._lock.acquire(timeout=5) else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0
