"""A store that fails: a corrupted sqlite file, a tracking server that stops answering mid-run.
One line names the store and the fix; no run is left RUNNING once the store is back."""

import os
import re
import signal
import subprocess
import time

import pytest

from helpers.processes import clean_env, train_command
from helpers.serving import free_port, start_tracking_server


def corrupt(path):
    data = bytearray(path.read_bytes())
    for start in range(4096, len(data), 3 * 4096):  # every third page after the header
        data[start:start + 100] = b"\xff" * 100
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def corrupted_store(tmp_path_factory):
    from helpers.processes import run_train

    folder = tmp_path_factory.mktemp("corrupted")
    assert run_train(folder, "features=tfidf_word", "model=tfidf_nb").returncode == 0
    corrupt(folder / "mlflow.db")
    return folder


def assert_one_line_naming_the_store(result, folder):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot use tracking store"), result.stderr[-2000:]
    assert str(folder / "mlflow.db") in lines[0] and "malformed" in lines[0] and "Fix:" in lines[0]


def test_a_corrupted_store_is_one_line_from_train_predict_and_compare(corrupted_store, train_in_process,
                                                                       cli_in_process):
    folder = corrupted_store
    assert_one_line_naming_the_store(train_in_process(folder, "features=tfidf_word", "model=tfidf_nb"), folder)
    uri = f"sqlite:///{folder}/mlflow.db"
    assert_one_line_naming_the_store(cli_in_process("compare", "--tracking-uri", uri), folder)
    assert_one_line_naming_the_store(cli_in_process("predict", "--tracking-uri", uri, stdin="a text\n"), folder)


def test_a_server_that_stops_answering_stops_training_within_the_silence_it_allows(tmp_path, cli_in_process):
    from mlflow.tracking import MlflowClient

    from textclf.tracking.reachability import HEARTBEAT_SECONDS

    silence = 2
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_tracking_server(tmp_path, port)
    pause_file = tmp_path / "paused"  # training waits inside the fit (up to 30 s) until it is stopped
    command = train_command(tmp_path, f"tracking.uri={url}", f"tracking.server_silence_seconds={silence}",
                            "features=tfidf_word", "model=tfidf_nb")
    training = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=clean_env(TEXTCLF_PAUSE_AT="fit", TEXTCLF_PAUSE_FILE=str(pause_file)))
    try:
        client = MlflowClient(url)
        deadline = time.monotonic() + 120
        while not (pause_file.exists() and client.get_experiment_by_name("diplomacy")
                   and client.search_runs([client.get_experiment_by_name("diplomacy").experiment_id])):
            assert training.poll() is None and time.monotonic() < deadline, training.stderr.read()[-2000:]
            time.sleep(0.2)
        os.killpg(server.pid, signal.SIGSTOP)  # up, but silent (its uvicorn workers too): the worst kind
        stopped = time.monotonic()
        _, stderr = training.communicate(timeout=60)
        # Then up to 5 s trying to end the run on the silent server and 5 s for the worker to stop.
        assert time.monotonic() - stopped < silence + 2 * HEARTBEAT_SECONDS + 15, stderr[-2000:]
        assert training.returncode == 1 and "Traceback" not in stderr, stderr[-2000:]
        said = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(said) == 1 and f"tracking server {url} stopped answering" in said[0], stderr[-2000:]
        # Training stopped after the silence it allows, and at most two heartbeats more (one
        # unanswered probe may wait a whole heartbeat); the default 15 s would show here.
        silent = int(re.search(r"stopped answering (\d+) s ago", said[0]).group(1))
        assert silence <= silent <= silence + 2 * HEARTBEAT_SECONDS + 1, said[0]

        # The server answers again, on the same store. It then also serves what piled up while it
        # was stopped: none of it ends the run (the worker's end_run never got past MLflow's GetRun
        # before the worker was stopped); a restart, rather than SIGCONT, would rule that out.
        os.killpg(server.pid, signal.SIGCONT)
        compared = cli_in_process("compare", "--tracking-uri", url)  # the next process on the store
        # its output stays its own: MLflow's link to the run it ended goes to stderr
        assert "no finished runs" in compared.stderr and "View run" not in compared.stdout, compared
        (run,) = client.search_runs([client.get_experiment_by_name("diplomacy").experiment_id])
        assert run.info.status == "FAILED" and run.data.tags["textclf.ended_by"].startswith("textclf compare")
    finally:
        training.kill()
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
