"""`mlflow ui` as MLflow starts it against the command textclf prints (``browse runs: ...``), which
turns off MLflow's job runner (``tracking.store.NO_SERVER_JOBS``): the runner serves MLflow's
GenAI features, none of which textclf uses, with a process per job kind, each importing MLflow.

    python benchmarks/mlflow_ui.py --repeats 2

Each contender starts `mlflow ui` on an empty sqlite store, waits for /health, lets it settle,
then reads its processes, their summed PSS and CPU seconds, stops it with SIGINT (as a person
does) and counts the folders it left in /dev/shm. Prints medians of ``--repeats`` alternating
runs, with ratios to MLflow's defaults. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from textclf.tracking.store import NO_SERVER_JOBS  # noqa: E402

SETTLE_SECONDS = 15  # after /health answers: the job runner starts its consumers by then
CONTENDERS = {"MLflow's defaults": {}, "as textclf prints it": NO_SERVER_JOBS}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shm_folders() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def measure(settings: dict) -> dict:
    folder, port = Path(tempfile.mkdtemp()), free_port()
    environment = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", **settings,
                       PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    before, started = shm_folders(), time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                               f"sqlite:///{folder}/mlflow.db", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment,
                              start_new_session=True)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - started > 180:
                    raise RuntimeError("mlflow ui did not answer /health")
                time.sleep(0.1)
        healthy = time.monotonic() - started
        time.sleep(SETTLE_SECONDS)
        tree = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
        pss = sum(process.memory_full_info().pss for process in tree) / 2**20
        cpu = sum(sum(process.cpu_times()[:2]) for process in tree)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)
        time.sleep(2)  # its children end after it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # what SIGINT left: counted as left, in /dev/shm
    return {"seconds to /health": healthy, "processes": len(tree), "PSS MB": pss,
            f"CPU s (first {SETTLE_SECONDS} s after /health)": cpu, "/dev/shm folders left": len(shm_folders() - before)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    results = {name: [] for name in CONTENDERS}
    for _ in range(args.repeats):  # alternating: a slow moment of the machine falls on both
        for name, settings in CONTENDERS.items():
            results[name].append(measure(settings))
    baseline = next(iter(CONTENDERS))
    columns = list(results[baseline][0])
    print(f"`mlflow ui` on an empty sqlite store, median of {args.repeats} run(s); ratio to {baseline}\n")
    print("| | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in CONTENDERS:
        cells = []
        for column in columns:
            value = statistics.median(run[column] for run in results[name])
            base = statistics.median(run[column] for run in results[baseline])
            ratio = f" ({value / base:.2f}x)" if base and name != baseline else ""
            cells.append(f"{value:,.1f}{ratio}" if isinstance(value, float) else f"{value}{ratio}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
