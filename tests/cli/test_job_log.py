"""What `python train.py` prints is also in its run folder's train.log (Hydra's job log), once per
line, its error line included; the terminal gets exactly what it got before."""

import io
import logging

from textclf.cli.job_log import _CopiedLines, _logged


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


def test_a_progress_bar_leaves_its_last_state_and_the_stream_gets_every_character():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("test-job-log")
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.INFO
    terminal = io.StringIO()
    stream = _CopiedLines(terminal, lambda line: _logged(logger, line))
    for piece in ("fold 1/3\rfold 2/3", "\rfold 3/3\n", "warning: few texts\n\n", "half a li", "ne\nno newline"):
        stream.write(piece)
    stream.flush_pending()
    assert terminal.getvalue() == "fold 1/3\rfold 2/3\rfold 3/3\nwarning: few texts\n\nhalf a line\nno newline"
    assert [(record.levelname, record.getMessage()) for record in records] == [
        ("INFO", "fold 3/3"), ("WARNING", "warning: few texts"), ("INFO", "half a line"), ("INFO", "no newline")]


def test_a_log_file_that_cannot_be_written_leaves_the_terminal_as_it_was(tmp_path, monkeypatch):
    """A full disk or a removed folder: logging prints its complaint to stderr, which is copied
    too; it must reach the terminal once, not loop back into the log."""
    logger = logging.getLogger("test-job-log-broken")
    logger.handlers = [logging.FileHandler(tmp_path / "gone" / "train.log", delay=True)]  # its folder never made
    logger.propagate, logger.level = False, logging.INFO
    terminal = io.StringIO()
    stream = _CopiedLines(terminal, lambda line: _logged(logger, line))
    monkeypatch.setattr("sys.stderr", stream)  # where logging's handleError writes
    monkeypatch.setattr(logging, "raiseExceptions", True)
    stream.write("error: something\n")
    stream.write("more\n")
    assert terminal.getvalue() == "error: something\nmore\n"  # the file could not be opened: the copy stops

    # a log whose writes fail (logging's own handler catches it): its complaint reaches the terminal once
    class Failing(logging.Handler):
        def emit(self, record):
            try:
                raise OSError("No space left on device")
            except OSError:
                self.handleError(record)

    logger.handlers = [Failing()]
    terminal = io.StringIO()
    stream = _CopiedLines(terminal, lambda line: _logged(logger, line))
    monkeypatch.setattr("sys.stderr", stream)
    stream.write("error: something\n")
    assert terminal.getvalue().startswith("error: something\n--- Logging error ---")
    assert terminal.getvalue().count("--- Logging error ---") == 1
