"""The `textclf` command line itself: --version, plain --help, one-line flag errors, and a reader
that stops early (`| head -1`)."""

import subprocess
import sys

import pytest

import textclf


def test_version(cli_in_process, tmp_path):
    result = cli_in_process("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == f"textclf {textclf.__version__}\n" == "textclf 0.1.0\n"


@pytest.mark.parametrize("command", [[], ["predict"], ["compare"], ["verify"]])
def test_help_is_plain_text(command, cli_in_process, tmp_path):
    result = cli_in_process(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("usage: textclf")
    assert "`" not in result.stdout and "``" not in result.stdout  # reST markup of a docstring, not help


def test_a_bad_flag_is_one_error_line(cli_in_process, tmp_path):
    result = cli_in_process("predict", "--no-such-flag", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    # the command's own help, where its flags are (the top-level help lists only the commands)
    assert result.stderr == ("error: unrecognized arguments: --no-such-flag. Fix: see textclf predict --help\n")
    result = cli_in_process("compare", "--expriment", "x", cwd=tmp_path)
    assert result.stderr == "error: unrecognized arguments: --expriment x. Fix: see textclf compare --help\n"
    result = cli_in_process(cwd=tmp_path)
    assert result.stderr == "error: the following arguments are required: command. Fix: see textclf --help\n"


def pipe_into(command_line: str, reader: str, cwd):
    """``textclf ARGS | reader`` in a real shell; stdout ends with the exit status of textclf."""
    textclf_command = f"{sys.executable} -m textclf.cli {command_line}"
    return subprocess.run(["bash", "-c", f'{textclf_command} | {reader}; echo "textclf exited ${{PIPESTATUS[0]}}"'],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_a_reader_that_stops_early_ends_predict_quietly(trained_store, tmp_path):
    folder, _ = trained_store
    source = tmp_path / "many.txt"
    # ~1 MB of predictions: far more than a pipe holds, so writing goes on after head has gone.
    source.write_text("".join(f"Talks on the alliance resumed in round {i} of the ministers' meeting.\n"
                              for i in range(6000)), encoding="utf-8")
    result = pipe_into(f"predict {source} --tracking-uri sqlite:///{folder}/mlflow.db", "head -1", tmp_path)
    assert result.stdout.startswith("line,text,label,prob_") and result.stdout.count("\n") == 2, result.stdout[-500:]
    assert result.stdout.endswith("textclf exited 141\n"), (result.stdout[-200:], result.stderr[-2000:])
    assert result.stderr == ""


def test_a_reader_gone_before_compare_writes_ends_it_quietly(trained_store, tmp_path):
    folder, _ = trained_store
    # `true` reads nothing and exits at once, long before compare has read the store.
    result = pipe_into(f"compare --tracking-uri sqlite:///{folder}/mlflow.db", "true", tmp_path)
    assert result.stdout == "textclf exited 141\n" and result.stderr == "", result.stderr[-2000:]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, lambda: textclf.UserError("a bad setting. Fix: another")])
def test_the_last_line_starts_its_own_line_after_a_progress_bar(capsys, monkeypatch, stop):
    """Ctrl-C during a fit with a progress bar: the line ran on from the bar
    (``loss=0.896]interrupted: ...``) and the bar went on drawing after it."""
    import signal
    import warnings

    from tqdm import tqdm

    from textclf.cli.errors import report_user_errors
    from textclf.errors import interrupt_received

    # what the entry point sets for its process, put back for the tests after this one
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    signal.signal(signal.SIGTERM, handler := signal.getsignal(signal.SIGTERM))
    monkeypatch.setattr(interrupt_received, "set", lambda: None)

    @report_user_errors
    def fit():
        bar = tqdm(total=10, file=sys.stderr, mininterval=0)
        bar.update(3)
        raise stop()

    try:
        with pytest.raises(SystemExit):
            fit()
    finally:
        signal.signal(signal.SIGTERM, handler)
    err = capsys.readouterr().err
    last = err.rstrip("\n").split("\n")[-1]
    assert last.startswith(("interrupted", "error: a bad setting")), repr(err[-300:])
