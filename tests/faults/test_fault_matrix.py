"""The fault matrix: SIGINT, SIGTERM and SIGKILL delivered to the training process, to its tracking
worker and to the whole process group, at each edge of a run (``textclf.pause.MOMENTS``), on a
sqlite store, against a real `mlflow server` and against the team server (`textclf server`:
PostgreSQL, with sign-in).

The README's test command runs 39 of the 162 cells (about 2.5 minutes of its time on 2 cores);
set ``TEXTCLF_FULL_FAULT_MATRIX=1`` for all of them (about 10 minutes). By default: on sqlite, every
SIGKILL cell, SIGINT to the group (Ctrl-C in a terminal) and SIGTERM to training at each moment;
against the server, SIGKILL of the group at each moment and of the worker while it registers (the
server only changes what a dying process leaves behind); against the team server, SIGKILL of the
group mid-fit and of the worker while it registers (what PostgreSQL
changes is the store under the same server). Left out are cells whose code path one
of those already takes: SIGINT and SIGTERM to the worker (it ignores both), SIGINT to training
(the group's SIGINT reaches it), SIGTERM to the group.

Every cell checks what always holds: the tracking worker does not outlive train.py; nothing (a
copy of the model's files, MLflow's staging) is left in the temporary folder (when both processes
were killed, once the next worker's start has removed what they left); and
(``assert_store_is_truthful``) once the next process (`textclf compare`) has opened the store, no run is RUNNING, a
FINISHED run has its metrics and its registered version, a version belongs to a FINISHED run,
the champion alias is on a FINISHED run's model, and no registry lock is left. Then the cell's own outcome (``expected``): exit code, one line saying
what happened, the run's status, and whether its model is registered.
"""

import os
import signal
import subprocess

import pytest

from helpers.faults import assert_store_is_truthful, deliver, is_dead, kill_group, runs_of, still_running, wait_for
from helpers.processes import clean_env, tracking_workers, train_command
from helpers.stores import migrated_store
from helpers.team_server import PASSWORD, sign_in
from textclf.pause import MOMENTS
from textclf.tracking.scratch import remove_abandoned

STORES = ("sqlite", "server", "team")
SERVER_OF = {"server": "tracking_server", "team": "team_server"}  # the session fixture each store kind uses
TARGETS = ("training", "worker", "group")
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


def in_default_suite(store: str, moment: str, target: str, name: str) -> bool:
    if store == "server":
        return name == "SIGKILL" and (target == "group" or (target, moment) == ("worker", "register"))
    if store == "team":
        return name == "SIGKILL" and (target, moment) in {("group", "fit"), ("worker", "register")}
    return name == "SIGKILL" or (target, name) in {("group", "SIGINT"), ("training", "SIGTERM")}


CELLS = [(store, moment, target, name) for store in STORES for moment in MOMENTS for target in TARGETS
         for name in SIGNALS
         if os.environ.get("TEXTCLF_FULL_FAULT_MATRIX") or in_default_suite(store, moment, target, name)]


def expected(moment: str, target: str, name: str) -> dict:
    """The outcome of one cell: ``exit`` code, ``status`` of the run (None: no run), ``registered``,
    and ``says``: a phrase of the one line printed (None: nothing is printed)."""
    killed = name == "SIGKILL"
    if target == "worker" and not killed:  # the worker ignores them: training decides, and was not asked
        return dict(exit=0, status="FINISHED", registered=True, says=None)
    if moment == "before_run":
        if target == "worker":  # started ahead, connected to nothing yet: the run starts another
            return dict(exit=0, status="FINISHED", registered=True, says=None)
        return dict(exit=-9 if killed else 130, status=None, registered=False,
                    says=None if killed else "interrupted before a run began")
    if moment == "after_register":  # the last step is done
        if killed:
            return dict(exit=0 if target == "worker" else -9, status="FINISHED", registered=True, says=None)
        return dict(exit=130, status="FINISHED", registered=True, says="interrupted after the last step")
    if moment == "register":  # registering has begun: it completes unless the process doing it dies
        if target == "training" and killed:
            return dict(exit=-9, status="FINISHED", registered=True, says=None)
        if killed:  # the worker dies between registering the version and ending the run
            return dict(exit=1 if target == "worker" else -9, status="FAILED", registered=False,
                        says="worker process was killed" if target == "worker" else None)
        return dict(exit=130, status="FINISHED", registered=True, says="interrupted during the last step")
    # fit, reports, save_model: before the last step
    if not killed:
        return dict(exit=130, status="KILLED", registered=False, says="ended KILLED; nothing was registered")
    if target == "training":  # the worker sees training go and ends the run
        return dict(exit=-9, status="KILLED", registered=False, says=None)
    if target == "worker":
        return dict(exit=1, status="FAILED", registered=False, says="worker process was killed")
    return dict(exit=-9, status="FAILED", registered=False, says=None)  # both gone: the next process ends it


@pytest.fixture
def store(request, tmp_path, monkeypatch, store_kind):
    """(tracking URI, overrides, an MlflowClient on it, experiment, train.py's environment) for one
    cell's own experiment."""
    from mlflow.tracking import MlflowClient

    name = f"fault-{abs(hash(request.node.nodeid)) % 10**8}"
    environment = {}
    if store_kind == "sqlite":
        # Creating the tables (MLflow's migrations) is not one of the moments a cell interrupts:
        # the worker creates them before the run starts, and other tests cover a new store.
        migrated_store(tmp_path)
        uri = f"sqlite:///{tmp_path}/mlflow.db"
    else:
        uri = request.getfixturevalue(SERVER_OF[store_kind])[0]
    if store_kind == "team":
        sign_in(monkeypatch)  # this process's client
        environment = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    overrides = [f"tracking.uri={uri}", f"tracking.experiment={name}", f"tracking.registered_model={name}-topics"]
    return uri, overrides, MlflowClient(uri), name, environment


@pytest.mark.parametrize("store_kind,moment,target,name", [
    pytest.param(*cell, id="-".join(cell), marks=[pytest.mark.xdist_group(SERVER_OF[cell[0]])] if cell[0] in SERVER_OF else [])
    for cell in CELLS])
def test_fault(store, tmp_path, store_kind, moment, target, name, cli_in_process):
    uri, overrides, client, experiment, environment = store
    pause_file = tmp_path / "paused"
    scratch = tmp_path / "tmp"  # train.py's temporary folder: the model files the worker logs, MLflow's staging
    scratch.mkdir()
    process = subprocess.Popen(
        train_command(tmp_path, "features=tfidf_word", "model=tfidf_nb", *overrides), cwd=tmp_path,
        env=clean_env(TEXTCLF_PAUSE_AT=moment, TEXTCLF_PAUSE_FILE=str(pause_file), TMPDIR=str(scratch),
                      **environment),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: pause_file.exists() and pause_file.read_text().strip(), process, f"the pause at {moment}")
        if moment != "before_run":  # the worker starts the run beside training: the cell needs it started
            wait_for(lambda: runs_of(client, experiment, from_test=uri), process, "the run to start")
        worker = next(iter(tracking_workers(process.pid)), None)  # started ahead of the run
        deliver(SIGNALS[name], target, process, worker)
        if (target, name) == ("worker", "SIGKILL"):
            # A signal lands a moment after it is sent: until then the worker still looks alive to
            # train.py. The cell is "killed at this moment", so let train.py go on only once it is dead.
            wait_for(lambda: is_dead(worker), process, "the worker to die")
        pause_file.unlink()  # let the paused process go on, if it still can
        _, stderr = process.communicate(timeout=90)
        if worker is not None:  # it may still be ending the run; then it goes too, leaving no orphan
            assert still_running([worker]) == [], f"the tracking worker outlived train.py: {stderr[-3000:]}"
    finally:
        kill_group(process)

    outcome = expected(moment, target, name)
    assert process.returncode == outcome["exit"], stderr[-3000:]
    if target == "group" and name == "SIGKILL":  # both died: the next process to start a worker removes them
        remove_abandoned(str(scratch))
    assert list(scratch.iterdir()) == [], "files were left in the temporary folder"
    assert "Traceback" not in stderr, stderr[-3000:]
    said = [line for line in stderr.splitlines() if line.startswith(("error:", "interrupted"))]
    if outcome["says"] is None:
        assert said == [], stderr[-3000:]
    else:
        assert len(said) == 1 and outcome["says"] in said[0], stderr[-3000:]

    # The next process on the store (`textclf compare` here; train.py and predict do the same,
    # tests/tracking/test_recovery.py) ends what a dead process left RUNNING.
    compared = cli_in_process("compare", "--tracking-uri", uri, "--experiment", experiment)
    assert compared.returncode == 0 or (compared.returncode == 2 and outcome["status"] != "FINISHED"), compared.stderr
    assert "View run" not in compared.stdout  # a server's link to a run it ended goes to stderr, not the table
    runs = runs_of(client, experiment)
    assert_store_is_truthful(client, runs, experiment)
    if outcome["status"] is None:
        assert runs == []
        return
    (run,) = runs
    assert run.info.status == outcome["status"]
    versions = client.search_model_versions(f"name = '{experiment}-topics'")
    assert len(versions) == (1 if outcome["registered"] else 0)
