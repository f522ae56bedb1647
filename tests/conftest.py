"""Fixtures shared across test folders (helpers live in tests/helpers/)."""

import os
import shutil
import signal
import tempfile

# One thread each for BLAS (numpy, scipy, torch) and OpenMP (scikit-learn, torch) in this process,
# xdist's workers and every process the tests start: two workers already keep both cores busy, and
# a library starting a thread per core beside them spends the time its threads spin waiting on each
# other (the transformer, serving and contrastive tests took 197 s of CPU with them, 111 s without;
# benchmarks/RESULTS.md, "December 6, later"). Set before anything imports those libraries; a value
# given in the environment is kept. What train.py does on a user's machine is not changed.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import pytest  # noqa: E402

from helpers.processes import run_train, start_long_finetune  # noqa: E402
from helpers.shared import built_once, kept_result, keep_result  # noqa: E402
from helpers.training import cli_here, train_here  # noqa: E402

# A suite started in the background by a non-interactive shell (`pytest &`, nohup) inherits SIGINT
# ignored, and so would every train.py it starts: the tests' Ctrl-C would never arrive and the
# interrupt and fault tests would fail for a reason of the shell's. Python's own handler is reset
# to the default in each child, as in a suite started from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(trylast=True)  # after pytest's own configure has set up its temporary folders
def pytest_configure(config):
    """What the processes the tests start leave in the temporary folder (MLflow's store locks,
    torchrun's logs, multiprocessing's folders) goes into one folder, removed when the run ends.
    pytest's own folders stay where they always are, the last three runs' kept for a look."""
    if hasattr(config, "workerinput"):  # an xdist worker: its environment comes from the main process
        return
    config._tmp_path_factory.getbasetemp()  # made now, before TMPDIR moves (xdist's workers use it too)
    folder = tempfile.mkdtemp(prefix="textclf-tests-")
    os.environ["TMPDIR"] = folder
    tempfile.tempdir = None  # this process's tempfile reads TMPDIR again
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


# Session fixtures costly to build (or to start and stop) that only a few test files read: the
# tests of each run in one xdist worker, which builds it once while the other worker goes on with
# other tests. (Built once per run anyway, ``helpers.shared``; without the group the second worker
# to ask sat idle until the first had built it: 27 s for the planted audit.) The servers come first:
# a test of a server and a build goes with its server.
GROUPED = ("team_server", "tracking_server", "planted", "finetuned_store", "suggest_store")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    """``--dist loadgroup`` (pyproject.toml) keeps the tests of each fixture in ``GROUPED`` in one
    worker, so a run starts each server and builds each store once, and no worker waits for the
    other's build. A test that asks for a server by name (``request.getfixturevalue``) carries the
    mark itself."""
    for item in items:
        fixture = next((name for name in GROUPED if name in item.fixturenames), None)
        if fixture is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(fixture))


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory):
    """One default `python train.py` run on the seed corpus, on a new store as a user's first run
    is, shared by read-only tests (built once per test run: ``helpers.shared``)."""
    def build(folder):
        result = run_train(folder, new_store=True)
        assert result.returncode == 0, result.stderr[-3000:]
        keep_result(folder / "train.json", result)

    folder = built_once(tmp_path_factory, "trained-store", build)
    return folder, kept_result(folder / "train.json")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A tiny BERT and WordLevel tokenizer built in-process, offline."""
    from helpers.tiny_bert import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def two_model_store(tmp_path_factory):
    """A strong model registered first (champion), then a weaker one (not promoted): two runs that
    differ in model and features, for the champion rule and for `textclf compare`."""
    def build(folder):
        for number, overrides in enumerate((["model=tfidf_logreg"], ["model=tfidf_nb", "features=tfidf_word"])):
            result = run_train(folder, *overrides)
            assert result.returncode == 0, result.stderr[-3000:]
            keep_result(folder / f"train{number}.json", result)

    folder = built_once(tmp_path_factory, "two-models", build)
    return folder, [kept_result(folder / f"train{number}.json") for number in (0, 1)]


@pytest.fixture
def train_in_process(monkeypatch, capsys):
    """``python train.py OVERRIDES`` with its store in a folder, run here by train.py's own main."""
    return lambda folder, *overrides, **options: train_here(folder, *overrides, monkeypatch=monkeypatch,
                                                           capsys=capsys, **options)


@pytest.fixture
def cli_in_process(monkeypatch, capsys):
    """``textclf ARGS`` run here by the command's own main (``cwd``: the folder it runs in)."""
    def run(*args, stdin=None, cwd=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        return cli_here(*args, stdin=stdin, monkeypatch=monkeypatch, capsys=capsys)

    return run


@pytest.fixture
def long_finetune(tmp_path):
    """`python train.py` fine-tuning a tiny BERT for (nearly) ever in ``tmp_path``, to interrupt
    mid-fit; whatever the test does, it and its tracking worker are gone afterwards."""
    import psutil

    process = start_long_finetune(tmp_path)
    yield process
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory):
    """A real `mlflow server` on loopback with its own sqlite store and artifact folder: (url, folder)."""
    import os
    import signal

    from helpers.serving import free_port, start_tracking_server

    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    process = start_tracking_server(folder, port)
    yield f"http://127.0.0.1:{port}", folder
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def team_server():
    """A team server started with `textclf server start` (PostgreSQL + MLflow with sign-in):
    (url, its folder). Stopped at the end of the session, checked to leave no process behind.
    Clients sign in with ``helpers.team_server.credentials()``."""
    import shutil

    from helpers.serving import free_port
    from helpers.team_server import server_folder, start_team_server, stop_team_server

    folder = server_folder()
    try:
        yield start_team_server(folder, free_port()), folder
    finally:
        try:
            stop_team_server(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
