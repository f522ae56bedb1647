"""`textclf predict` on a long input shows a progress bar on a terminal (a real pseudo-terminal,
as a user's shell gives it) when the predictions go to a file, and nothing on a pipe."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

from helpers.paths import SEEDS
from helpers.processes import clean_env, run_cli

TEXTS = 8000  # 4 batches of 2,000: more than the bar's one-second wait on any machine here


def on_a_terminal(args: list[str], cwd) -> tuple[int, str]:
    """Run ``textclf`` with standard error on a 100-column pseudo-terminal: (exit code, what it drew)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "textclf.cli", *args], stdout=subprocess.DEVNULL, stderr=follower,
                               cwd=cwd, env=clean_env())
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    return process.wait(timeout=300), drawn.decode(errors="replace")


def test_a_long_input_written_to_a_file_shows_its_progress_on_a_terminal_only(trained_store, tmp_path):
    folder, _ = trained_store
    rows = [json.loads(line)["text"].replace("\n", " ") for line in (SEEDS / "test.jsonl").read_text().splitlines()]
    (tmp_path / "texts.txt").write_text("".join(rows[i % len(rows)] + "\n" for i in range(TEXTS)), encoding="utf-8")
    store = ["--tracking-uri", f"sqlite:///{folder}/mlflow.db"]
    code, drawn = on_a_terminal(["predict", "texts.txt", "-o", "tagged.csv", *store], tmp_path)
    assert code == 0, drawn
    assert f"tagged: {TEXTS} texts" in drawn and "texts/s]" in drawn, drawn[-500:]
    assert len((tmp_path / "tagged.csv").read_text(encoding="utf-8").splitlines()) == TEXTS + 1
    # on a pipe, or with the rows going to standard output (the terminal, as a rule), nothing is drawn
    piped = run_cli("predict", "texts.txt", "-o", "again.csv", *store, cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""
    code, drawn = on_a_terminal(["predict", "texts.txt", *store], tmp_path)
    assert code == 0 and "tagged:" not in drawn


def test_whole_articles_show_their_passages_out_of_the_total(trained_store, tmp_path):
    """With --article every passage is known before the first is tagged: the bar shows how many
    of them are done, a percentage and the time left."""
    folder, _ = trained_store
    rows = [json.loads(line)["text"].replace("\n", " ") for line in (SEEDS / "test.jsonl").read_text().splitlines()]
    (tmp_path / "long.txt").write_text("\n\n".join(rows * 50), encoding="utf-8")  # ~18,000 passages
    code, drawn = on_a_terminal(["predict", "--article", "long.txt", "-o", "tagged.jsonl", "--tracking-uri",
                                 f"sqlite:///{folder}/mlflow.db"], tmp_path)
    assert code == 0, drawn
    total = len(json.loads((tmp_path / "tagged.jsonl").read_text(encoding="utf-8"))["passages"])
    assert f"| {total}/{total} [" in drawn and "100%|" in drawn and "passages/s]" in drawn, drawn[-500:]


def test_texts_read_from_a_terminal_are_asked_for(trained_store):
    """`textclf predict` with no input file, typed at: it waited on a silent terminal (and a store it
    could not find was said only once the texts were typed)."""
    folder, _ = trained_store
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "textclf.cli", "predict", "--format", "jsonl", "--tracking-uri",
                                f"sqlite:///{folder}/mlflow.db"], stdin=follower,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=folder, env=clean_env(), text=True)
    os.close(follower)
    os.write(leader, b"Pyongyang fired a ballistic missile on Sunday.\n\x04")
    stdout, stderr = process.communicate(timeout=120)
    os.close(leader)
    assert process.returncode == 0, stderr[-2000:]
    assert stderr == "reading texts from the terminal, one a line; Ctrl-D ends them\n"
    assert len(stdout.splitlines()) == 1 and json.loads(stdout)["label"]


def test_a_store_not_found_is_said_before_texts_are_typed(tmp_path):
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "textclf.cli", "predict"], stdin=follower, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=tmp_path, env=clean_env(), text=True)
    os.close(follower)
    try:
        _, stderr = process.communicate(timeout=60)  # nothing typed: it must not wait for it
    finally:
        os.close(leader)
    assert process.returncode == 2 and stderr.startswith("error: no tracking store found"), stderr
