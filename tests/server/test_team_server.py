"""`textclf server start | status | stop`: a real PostgreSQL cluster (Debian's package; .ci/run
installs it) and MLflow's server with basic auth, started as a user would, trained against with
credentials, read back through `textclf predict` and MLflow, then stopped with nothing left."""

import contextlib
import json
import os
import shutil
import signal
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

from helpers.processes import clean_env, run_cli, run_train, until_zombie
from helpers.serving import free_port
from helpers.team_server import PASSWORD, credentials, processes_using, server_folder, sign_in, stop_team_server

@pytest.fixture(scope="module")
def trained(team_server, tmp_path_factory):
    """One default `python train.py` against the server, with credentials."""
    url, _ = team_server
    folder = tmp_path_factory.mktemp("client")
    result = run_train(folder, f"tracking.uri={url}", env=credentials(), new_store=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_requests_without_credentials_are_refused(team_server):
    url, _ = team_server
    for path in ("/api/2.0/mlflow/experiments/search?max_results=1", "/api/2.0/mlflow/registered-models/search"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + path, timeout=30)
        assert refused.value.code == 401
    urllib.request.urlopen(url + "/health", timeout=30).close()  # the health check needs no sign-in


def test_status_says_where_it_runs_and_whether_it_answers(team_server):
    url, folder = team_server
    result = run_cli("server", "status", "--data", str(folder), env=clean_env())
    assert result.returncode == 0 and result.stdout.startswith(f"running at {url}, healthy")
    group = json.loads((folder / "server.json").read_text())["mlflow_pid"]  # MLflow's server and its workers
    os.killpg(group, signal.SIGSTOP)  # up, but silent: as while it starts, stops or hangs
    try:
        result = run_cli("server", "status", "--data", str(folder), env=clean_env())
    finally:
        os.killpg(group, signal.SIGCONT)
    assert result.returncode == 1 and result.stdout.startswith(f"running at {url}, not answering /health")


def test_the_run_its_artifacts_the_version_and_the_champion_are_on_the_server(team_server, trained, monkeypatch,
                                                                              tmp_path):
    url, folder = team_server
    assert not (trained / "mlflow.db").exists() and not (trained / "mlruns").exists()
    sign_in(monkeypatch)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    (run,) = client.search_runs([client.get_experiment_by_name("diplomacy").experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics["test/macro_f1"] > 0.8
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied: clients never see the folder
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"model_manifest.json", "test_confusion.svg", "test_predictions.csv", "config.yaml"} <= artifacts, artifacts
    champion = client.get_model_version_by_alias("diplomacy-topics", "champion")
    assert champion.run_id == run.info.run_id and champion.version == "1"
    assert list((folder / "artifacts").rglob("state.json"))  # stored in the server's folder

    import mlflow

    mlflow.set_tracking_uri(url)  # set, not from the environment: an earlier test in this process may have set one
    download = tmp_path / "download"  # MLflow's own download would stay in the temporary folder
    download.mkdir()
    model = mlflow.pyfunc.load_model("models:/diplomacy-topics@champion", dst_path=str(download))
    answer = model.predict(pd.DataFrame({"text": ["Pyongyang fired a ballistic missile on Sunday."]}))
    assert answer.loc[0, "label"] == "north_korea_security"


def test_textclf_predict_and_compare_work_through_it(team_server, trained):
    url, _ = team_server
    result = run_cli("predict", "--format", "jsonl", stdin="Pyongyang fired a ballistic missile on Sunday.\n",
                     env=credentials(MLFLOW_TRACKING_URI=url))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "north_korea_security"
    result = run_cli("compare", env=credentials(MLFLOW_TRACKING_URI=url))
    assert result.returncode == 0 and "tfidf_linearsvc" in result.stdout


def test_the_folder_is_private_and_postgresql_listens_on_no_network_port(team_server):
    import stat

    import psutil

    url, folder = team_server

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    assert [mode(folder / name) for name in ("postgres", "artifacts", "logs")] == [0o700] * 3
    assert mode(folder / "secret_key") == 0o600 and PASSWORD not in (folder / "auth.ini").read_text()
    (socket_file,) = (folder / "postgres").glob(".s.PGSQL.*[0-9]")  # its .lock file left out
    assert mode(socket_file) == 0o700
    serving = [p for p in psutil.process_iter(["cmdline"]) if str(folder) in " ".join(p.info["cmdline"] or [])]

    def listening(process):
        try:
            return [c.laddr.port for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except psutil.NoSuchProcess:
            return []

    postgres = [p for p in serving if os.path.basename(p.info["cmdline"][0]) == "postgres"]
    assert postgres and [port for p in postgres for port in listening(p)] == []
    # the same look finds MLflow's server on its port: the check above can see a listening socket
    mlflow_tree = [p for p in serving if p not in postgres]
    mlflow_tree += [child for p in mlflow_tree for child in p.children(recursive=True)]
    assert int(url.rsplit(":", 1)[1]) in [port for p in mlflow_tree for port in listening(p)]
    # MLflow's job runner for its GenAI features is off (tracking.store.NO_SERVER_JOBS): on, it
    # adds a process per job kind, each importing MLflow, and leaves a folder in /dev/shm
    commands = [" ".join(p.cmdline()) for p in mlflow_tree if p.is_running()]
    assert not any("huey" in command or "_job_runner" in command for command in commands), commands


def test_a_later_start_keeps_the_stored_password(team_server):
    """Only a first start hands MLFLOW_TRACKING_PASSWORD to the server: restarted with another one
    set, it still signs in with the first."""
    import base64

    url, folder = team_server
    port = url.rsplit(":", 1)[1]
    stop_team_server(folder)
    started = run_cli("server", "start", "--data", str(folder), "--port", port,
                      env=credentials(password="another-password-for-the-restart"), timeout=300)
    if started.returncode != 0:  # up again for the session's other tests, whatever this one finds
        run_cli("server", "start", "--data", str(folder), "--port", port, env=credentials(), timeout=300)
    assert started.returncode == 0, started.stderr

    def answer_to(password):
        token = base64.b64encode(f"admin:{password}".encode()).decode()
        request = urllib.request.Request(url + "/api/2.0/mlflow/experiments/search?max_results=1",
                                         headers={"Authorization": f"Basic {token}"})
        try:
            urllib.request.urlopen(request, timeout=30).close()
            return 200
        except urllib.error.HTTPError as error:
            return error.code

    assert (answer_to(PASSWORD), answer_to("another-password-for-the-restart")) == (200, 401)


def test_a_start_or_stop_waits_while_another_holds_the_folder(tmp_path):
    import fcntl
    import subprocess
    import sys

    with open(tmp_path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a start or a stop in progress holds it
        stop = subprocess.Popen([sys.executable, "-m", "textclf.cli", "server", "stop", "--data", str(tmp_path)],
                                stdout=subprocess.PIPE, text=True, env=clean_env())
        # /proc/locks lists a process blocked on a lock with "->": stop waits on this file's
        inode = f":{os.fstat(lock.fileno()).st_ino} "
        deadline = time.monotonic() + 60
        while not any("->" in line and f" {stop.pid} " in line and inode in line
                      for line in open("/proc/locks").read().splitlines()):
            assert stop.poll() is None and time.monotonic() < deadline, "stop did not wait for the lock"
            time.sleep(0.05)
    out, _ = stop.communicate(timeout=60)
    assert stop.returncode == 0 and out.startswith("not running")


def test_a_wrong_password_is_one_line_naming_the_fix(team_server, tmp_path):
    url, _ = team_server
    # found before the data is read (which would fail here too: the file is missing)
    result = run_train(tmp_path, f"tracking.uri={url}", "data=files", f"data.train={tmp_path}/missing.csv",
                       env=credentials(password="not-the-password"))
    assert result.returncode != 0
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "the server asks who you are (401)" in line and "Fix: export MLFLOW_TRACKING_USERNAME" in line
    assert "Traceback" not in result.stderr


def test_who_is_asking_is_checked_before_any_work(team_server, monkeypatch, cli_in_process):
    """The sign-in check train.py, predict and compare run before their work, signed in as MLflow's
    client would be (a token: tests/tracking/test_tracker.py)."""
    from textclf.errors import UserError
    from textclf.tracking.reachability import check_reachable

    url, _ = team_server
    for user, password in (("admin", "not-the-password"), (None, None)):
        for name, value in (("MLFLOW_TRACKING_USERNAME", user), ("MLFLOW_TRACKING_PASSWORD", password)):
            monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name, raising=False)
        with pytest.raises(UserError, match=r"the server asks who you are \(401\)"):
            check_reachable(url, 5)
        for command in (["compare"], ["predict", "--model-uri", "models:/diplomacy-topics@champion", "-"]):
            result = cli_in_process(*command, "--tracking-uri", url, stdin="A text.\n")
            assert result.returncode == 2 and result.stderr.startswith("error: cannot use tracking store")
            assert "(401)" in result.stderr and len(result.stderr.splitlines()) == 1
    sign_in(monkeypatch)
    check_reachable(url, 5)  # the right password: no error


@pytest.mark.parametrize("password, message", [
    ("", "error: the first start creates the user admin, and MLFLOW_TRACKING_PASSWORD is not set"),
    ("too-short", "error: MLFLOW_TRACKING_PASSWORD has 9 characters, and MLflow wants at least 12"),
])
def test_a_first_start_without_a_good_password_is_refused_and_leaves_nothing(password, message):
    folder = server_folder()
    try:
        result = run_cli("server", "start", "--data", str(folder), "--port", str(free_port()), env=clean_env(
            MLFLOW_TRACKING_PASSWORD=password))
        assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
        assert "Fix: export" in result.stderr and len(result.stderr.splitlines()) == 1
        assert [path.name for path in folder.iterdir()] in ([], [".lock"]) and processes_using(folder) == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_changed_model_on_the_server_is_refused(team_server, trained, monkeypatch, tmp_path):
    """Model integrity holds on the server as on sqlite: a file changed in the server's artifact
    store fails the digest recorded when the model was logged. (Last here: it spoils the model.)"""
    url, folder = team_server
    sign_in(monkeypatch)
    from mlflow.tracking import MlflowClient

    champion = MlflowClient(url).get_model_version_by_alias("diplomacy-topics", "champion")
    model_id = champion.source.removeprefix("models:/")  # models:/m-...: the logged model's folder
    (state,) = [path for path in (folder / "artifacts").rglob("state.json") if model_id in path.parts]
    os.chmod(state, 0o666)  # written by the server's account
    state.write_text(state.read_text(encoding="utf-8").replace("north_korea_security", "alliance_reassurance", 1),
                     encoding="utf-8")
    result = run_cli("predict", stdin="Pyongyang fired a ballistic missile on Sunday.\n",
                     env=credentials(MLFLOW_TRACKING_URI=url, TMPDIR=str(tmp_path)))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: model models:/diplomacy-topics@champion is not the model that was logged")
    assert list(tmp_path.iterdir()) == []  # the refused copy downloaded to check it is gone


def test_bad_server_input_is_one_line_and_starts_nothing(tmp_path):
    missing = tmp_path / "missing"
    cases = [(["start", "--data", str(missing)], f"error: server folder {missing} does not exist"),
             (["stop", "--data", str(missing)], f"error: server folder {missing} does not exist"),
             # a traceback (OverflowError), and port 0 waited 3 minutes for a server on port 0
             (["start", "--data", str(tmp_path), "--port", "99999"], "error: argument --port: expected a port from 1"),
             (["start", "--data", str(tmp_path), "--port", "0"], "error: argument --port: expected a port from 1")]
    if os.geteuid() == 0:  # tmp_path belongs to root: PostgreSQL would refuse to run
        cases.append((["start", "--data", str(tmp_path)], "error: PostgreSQL refuses to run as root"))
    for arguments, message in cases:
        result = run_cli("server", *arguments, env=credentials())
        assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
        assert len(result.stderr.splitlines()) == 1 and "Fix:" in result.stderr
    assert list(tmp_path.iterdir()) == [] and processes_using(tmp_path) == []
    status = run_cli("server", "status", "--data", str(missing))
    assert status.returncode == 3 and status.stdout.startswith(f"not running (no server folder {missing}: check --data)")


def test_an_address_or_port_it_cannot_listen_on_names_the_flag_to_change():
    """A port in use names --port, an IPv4 or IPv6 one; an address that is not this machine's names --host."""
    import socket

    from textclf.errors import UserError
    from textclf.server.address import check_port_free, server_url

    for family, host, shown in [(socket.AF_INET, "127.0.0.1", "127.0.0.1"), (socket.AF_INET6, "::1", r"\[::1\]")]:
        with socket.socket(family) as taken:
            taken.bind((host, 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(UserError, match=rf"listen on {shown}:{port} \(Address already in use\)\. Fix: pass another --port"):
                check_port_free(host, port)
        check_port_free(host, port)  # free again; ::1 was "Address family for hostname not supported"
    assert server_url("::1", 5000) == "http://[::1]:5000" and server_url("0.0.0.0", 80) == "http://0.0.0.0:80"
    for host in ("999.1.1.1", "192.0.2.1", "a..b"):  # no address; TEST-NET-1, on no machine; no name
        with pytest.raises(UserError, match=f"cannot listen on {host}:5000 .*Fix: pass --host with an address of "
                                            "this machine"):
            check_port_free(host, 5000)


def test_a_recorded_pid_now_another_programs_is_never_signalled(tmp_path):
    """server.json outlives a reboot or a kill; its pid may be reused by then. `stop` and `status`
    trust it only while it is the process that was recorded (tracking.ownership)."""
    import subprocess

    from textclf.tracking.ownership import describe

    stranger = subprocess.Popen(["sleep", "60"])
    try:
        host, boot, pid, ticks = describe(stranger.pid).split("/")
        (tmp_path / "server.json").write_text(json.dumps({
            "url": "http://127.0.0.1:5000", "host": "127.0.0.1", "port": 5000, "mlflow_pid": stranger.pid,
            "mlflow_process": f"{host}/{boot}/{pid}/{int(ticks) - 1}"}))  # same pid, another process
        status = run_cli("server", "status", "--data", str(tmp_path))
        assert status.returncode == 3 and status.stdout.startswith("not running")
        stopped = run_cli("server", "stop", "--data", str(tmp_path))
        assert stopped.returncode == 0 and stopped.stdout.startswith("not running")
        assert stranger.poll() is None  # still alive: never signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_workers_a_killed_server_process_left_are_said_and_stopped(tmp_path):
    """MLflow's own process killed (SIGKILL, out of memory): its workers, in the process group it
    led, still hold the port. `status` says so (exit 3) and `stop` ends them; `stop` used to say
    "stopped" and leave them running, so the next start found its port taken."""
    import signal
    import subprocess
    import sys

    from textclf.server.process_group import group_alive

    worker = f"{sys.executable} -c 'import time; time.sleep(60)' mlflow.server.worker"  # an MLflow-looking command line
    stranger = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    leader = subprocess.Popen(["sh", "-c", f"{worker} & {worker} & wait"], start_new_session=True)
    try:
        # another program's group whose leader died, under a recorded pid: never signalled
        _record_and_kill_the_leader(tmp_path, stranger)
        assert "still run" not in run_cli("server", "status", "--data", str(tmp_path)).stdout
        assert run_cli("server", "stop", "--data", str(tmp_path)).returncode == 0 and group_alive(stranger.pid)
        _record_and_kill_the_leader(tmp_path, leader)
        status = run_cli("server", "status", "--data", str(tmp_path))
        assert status.returncode == 3 and f"its workers (process group {leader.pid}) still run" in status.stdout
        stopped = run_cli("server", "stop", "--data", str(tmp_path))
        assert stopped.returncode == 0, stopped.stderr
        assert not group_alive(leader.pid)
    finally:
        for group in (leader, stranger):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group.pid, signal.SIGKILL)


def test_a_postmaster_that_has_exited_is_not_taken_for_a_running_cluster(tmp_path):
    """A killed PostgreSQL is a zombie until init collects it: `status` must not report it running,
    nor `stop` wait for it, and a start says why PostgreSQL would refuse. Here the zombie is a
    child this test has not collected."""
    import subprocess
    import sys

    from textclf.errors import UserError
    from textclf.server.postgres import Account, Cluster

    cluster = Cluster(tmp_path, Account("someone", os.getuid(), os.getgid()), tmp_path / "log")
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        (tmp_path / "postmaster.pid").write_text(f"{child.pid}\n{tmp_path}\n")
        assert cluster.pid() == child.pid and cluster.running()
        child.stdin.close()
        until_zombie(child.pid)  # exited, not yet collected
        assert cluster.pid() is None and not cluster.running()
        with pytest.raises(UserError, match=rf"last server process \(pid {child.pid}\) was killed.*docker run --init"):
            cluster.start()
    finally:
        child.kill()
        child.wait()


def _record_and_kill_the_leader(folder, leader) -> None:
    """``leader``, which leads a group of two workers, recorded as the server's MLflow process, then killed."""
    import signal

    from textclf.tracking.ownership import describe

    (folder / "server.json").write_text(json.dumps({
        "url": "http://127.0.0.1:5000", "host": "127.0.0.1", "port": 5000, "mlflow_pid": leader.pid,
        "mlflow_process": describe(leader.pid)}))
    deadline = time.monotonic() + 10
    while sum(1 for entry in os.listdir("/proc") if entry.isdigit() and _pgid(entry) == leader.pid) < 3:
        assert time.monotonic() < deadline  # the two workers have started
        time.sleep(0.05)
    leader.send_signal(signal.SIGKILL)
    leader.wait()


def _pgid(pid: str) -> int | None:
    try:
        return os.getpgid(int(pid))
    except ProcessLookupError:
        return None
