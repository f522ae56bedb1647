"""What a process that died mid-run left behind, found and ended by the next one on the store.

A run whose owner process (``ownership``) no longer exists, yet is still RUNNING, is ended FAILED
with a tag saying why, and any version registered from it is deleted: a run that did not finish
registers nothing. A registry lock whose holder is gone is released.
"""

from __future__ import annotations

import contextlib
import socket
import sys

from textclf.tracking.champion import LOCK_SUFFIX, release_if_abandoned
from textclf.tracking.ownership import ENDED_BY_TAG, OWNER_TAG, is_gone


def end_abandoned_runs(client, found_by: str) -> list[str]:
    """End this host's RUNNING runs whose owner is gone; return their ids."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = client.search_runs(
        experiments, f"attributes.status = 'RUNNING' and tags.`{OWNER_TAG}` LIKE '{socket.gethostname()}/%'",
        max_results=1000)
    ended = []
    for run in running:
        owner = run.data.tags[OWNER_TAG]
        if not is_gone(owner):
            continue
        for version in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
            client.delete_model_version(version.name, version.version)
        client.set_tag(run.info.run_id, ENDED_BY_TAG,
                       f"{found_by}: its process ({owner}) ended without ending the run")
        # On a server MLflow prints the ended run's links to stdout, where `textclf predict` and
        # `compare` write their output: they go to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            client.set_terminated(run.info.run_id, "FAILED")
        ended.append(run.info.run_id)
    for lock in client.search_registered_models(f"name LIKE '%{LOCK_SUFFIX}'"):
        release_if_abandoned(client, lock.name)
    return ended
