"""Start a real `mlflow models serve` process on loopback and ask it for predictions."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from textclf.tracking.store import NO_SERVER_JOBS


def with_venv_on_path() -> dict:
    """The environment with this interpreter's bin folder on PATH: `mlflow models serve` runs
    `uvicorn` by name, and CI does not activate the venv."""
    bin_folder = os.path.dirname(sys.executable)
    return dict(os.environ, PATH=f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll ``url`` until it answers; fail early if ``process`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited: {process.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not come up") from None
            time.sleep(0.5)


@contextlib.contextmanager
def served_model(model_uri: str, tracking_uri: str, timeout: float = 120):
    port = free_port()
    env = dict(with_venv_on_path(), MLFLOW_TRACKING_URI=tracking_uri, HF_HUB_OFFLINE="1")
    mlflow_cli = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
                  "-h", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(mlflow_cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/ping", process, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def invoke(url: str, texts: list[str], params: dict | None = None) -> list[dict]:
    request_body = {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}}
    body = json.dumps(request_body if params is None else {**request_body, "params": params}).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["predictions"]


def start_tracking_server(folder, port: int) -> subprocess.Popen:
    """A real `mlflow server` on loopback, its store and artifacts in ``folder``, in a process
    group of its own (its uvicorn workers are children: signal the group to reach them). Its
    access log (a line per request) goes to ``folder/access.log``."""
    with open(Path(folder) / "access.log", "ab") as access_log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder}/server.db",
             "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=access_log, stderr=subprocess.PIPE, text=True, start_new_session=True,
            env=dict(with_venv_on_path(), MLFLOW_DISABLE_TELEMETRY="true", **NO_SERVER_JOBS))
    wait_until_up(f"http://127.0.0.1:{port}/health", process, timeout=120)
    return process
