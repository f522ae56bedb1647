"""What a process that died mid-run left behind, found and ended by the next one on the store.

A run whose owner process (``ownership``) and tracking worker no longer exist, yet is still
RUNNING, is ended FAILED with a tag saying why, and any version registered from it is deleted: a
run that did not finish registers nothing. A registry lock whose holder is gone is released. A sweep stopped by Ctrl-C
ends the runs of the jobs it lost itself, KILLED (``end_killed_jobs``).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time

from textclf.tracking.champion import LOCK_SUFFIX, release_if_abandoned
from textclf.tracking.ownership import ENDED_BY_TAG, OWNER_TAG, of_this_boot, run_processes_gone, this_process


def end_abandoned_runs(client, found_by: str) -> list[str]:
    """End this host's RUNNING runs whose training process and tracking worker are gone; return their ids."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = client.search_runs(
        experiments, f"attributes.status = 'RUNNING' and tags.`{OWNER_TAG}` LIKE '{socket.gethostname()}/%'",
        max_results=1000)
    ended = []
    for run in running:
        if run_processes_gone(run.data.tags):  # a worker whose training died ends the run itself (KILLED, or FINISHED once registering)
            end_run_of_a_gone_process(client, run, "FAILED", f"{found_by}: its process ({run.data.tags[OWNER_TAG]}) "
                                      "ended without ending the run")
            ended.append(run.info.run_id)
    release_abandoned_locks(client)
    return ended


def end_killed_jobs(client, experiment_id: str, parent_run_id: str, wait_seconds: float = 10) -> list:
    """After Ctrl-C of a sweep whose jobs ran in processes of their own: the runs of its jobs left
    RUNNING (joblib kills its jobs' process trees as it stops, before they can end their runs) end
    KILLED, as an interrupted run does, once their training process and tracking worker are gone
    (waiting up to ``wait_seconds``); a version registered from one is deleted, and the registry
    lock its worker held released. Returns the runs ended."""
    running = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}' and "
                                 "attributes.status = 'RUNNING'", max_results=1000)
    # This machine's other processes: a job run in this one (Hydra's basic launcher) ended its own run.
    ours = [run for run in running if of_this_boot(owner := run.data.tags.get(OWNER_TAG, "")) and owner != this_process()]
    deadline = time.monotonic() + wait_seconds
    while any(not run_processes_gone(run.data.tags) for run in ours) and time.monotonic() < deadline:
        time.sleep(0.1)
    # Read again: a worker that outlived its training process may have ended its run meanwhile
    # (FINISHED, if it was registering).
    ended = [run for run in map(client.get_run, (run.info.run_id for run in ours))
             if run.info.status == "RUNNING" and run_processes_gone(run.data.tags)]
    for run in ended:
        end_run_of_a_gone_process(client, run, "KILLED", "the sweep: Ctrl-C stopped it, and its job's processes "
                                  "with it")
    if ended:
        release_abandoned_locks(client)
    return ended


def end_run_of_a_gone_process(client, run, status: str, why: str) -> None:
    """End ``run``, whose process is gone, with ``status`` and the tag saying ``why``; delete any
    version registered from it: a run that did not finish registers nothing."""
    for version in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
        client.delete_model_version(version.name, version.version)
    client.set_tag(run.info.run_id, ENDED_BY_TAG, why)
    # On a server MLflow prints the ended run's links to stdout, where `textclf predict` and
    # `compare` write their output: they go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        client.set_terminated(run.info.run_id, status)


def release_abandoned_locks(client) -> None:
    for lock in client.search_registered_models(f"name LIKE '%{LOCK_SUFFIX}'"):
        release_if_abandoned(client, lock.name)
