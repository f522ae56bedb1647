"""The champion rule, and the lock that makes it hold when runs register at the same moment.

The alias moves to a new version only when it beats the holder's score. Reading the holder and
moving the alias are two requests, so two runs registering at once could both read the old
holder and the worse one could write last. Every store kind (sqlite, a tracking server, a
database) refuses a second registered model of the same name, atomically: a registered model
named after ours, created and deleted around register-compare-set, is a lock on all of them.
"""

from __future__ import annotations

import contextlib
import math
import random
import time

from textclf.errors import UserError
from textclf.evaluation import lower_is_better
from textclf.pause import pause_at
from textclf.tracking.ownership import is_gone
from textclf.tracking.store import Registration, is_store_failure

LOCK_SUFFIX = ".textclf-lock"
CHAMPION_TAG = "champion"  # on a run: "true" while its model holds the alias
VALIDATION_HASH_TAG = "data.validation_hash"  # on a run: the content hash of the split it was scored on
RETRY_CODES = {"RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"}
LOCK_WAIT_SECONDS = 120
# A lock whose owner cannot be checked (another host) is taken as abandoned after this long;
# registering holds it for well under a second.
LOCK_STALE_SECONDS = 300


def register_candidate(client, registered_model: str, alias: str, metric: str, score: float, owner: str,
                       create_version, finish_run) -> Registration:
    """Under ``registry_lock``: ``create_version()`` (returns the new version), ``finish_run()``,
    then ``promote_if_better``. The alias thus only ever moves to a finished run's model."""
    with registry_lock(client, registered_model, owner):
        version = str(create_version())
        pause_at("register")
        finish_run()
        return promote_if_better(client, registered_model, alias, metric, version, score)


def promote_if_better(client, registered_model: str, alias: str, metric: str, version: str,
                      score: float) -> Registration:
    """Point ``alias`` at ``version`` if ``score`` beats the current holder's ``metric`` (is higher,
    or lower for a loss or a time: ``evaluation.lower_is_better``; a NaN score never beats a number).

    ``client`` is an ``MlflowClient``; the caller holds ``registry_lock``.
    """
    holder = current_holder(client, registered_model, alias)
    holder_run = None if holder is None else client.get_run(holder.run_id)
    best = None if holder_run is None else holder_run.data.metrics.get(metric)
    # A holder without that score, or with NaN (no score), is beaten by any new version.
    promoted = best is None or math.isnan(best) or (score < best if lower_is_better(metric) else score > best)
    if promoted:
        client.set_registered_model_alias(registered_model, alias, version)
        if holder is not None:  # only the current champion's run says it is one
            client.set_tag(holder.run_id, CHAMPION_TAG, "false")
    # Tagged here, under the lock, so that a later champion's "false" always lands after this.
    run_id = client.get_model_version(registered_model, version).run_id
    client.set_tag(run_id, CHAMPION_TAG, str(promoted).lower())
    return Registration(f"models:/{registered_model}/{version}", version, promoted,
                        version if promoted else str(holder.version), metric, score, best,
                        previous_version=None if holder is None else str(holder.version),
                        scored_on_other_data=holder_run is not None and metric.startswith("validation/")
                        and _scored_on_other_data(client.get_run(run_id), holder_run))


def _scored_on_other_data(run, holder_run) -> bool:
    """Whether the two runs' champion scores were measured on different validation splits (your
    own files all register under ``files-topics`` by default); unknown for runs without the tag."""
    ours, theirs = run.data.tags.get(VALIDATION_HASH_TAG), holder_run.data.tags.get(VALIDATION_HASH_TAG)
    return ours is not None and theirs is not None and ours != theirs


def current_holder(client, registered_model: str, alias: str):
    """The model version holding ``alias``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(registered_model, alias)
    except MlflowException:
        return None


@contextlib.contextmanager
def registry_lock(client, registered_model: str, owner: str):
    """Hold the lock on ``registered_model`` (see the module docstring); ``owner`` names this process."""
    from mlflow.exceptions import MlflowException

    name = registered_model + LOCK_SUFFIX
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            client.create_registered_model(name, description=owner)
            break
        except MlflowException as error:
            # A busy store may also answer "database is locked", or, seen from a tracking server
            # under load, that the lock it was creating does not exist: both are worth another try.
            if error.error_code not in RETRY_CODES and not is_store_failure(error):
                raise
        release_if_abandoned(client, name)
        if time.monotonic() > deadline:
            raise UserError(f"registered model {registered_model!r} stayed locked for {LOCK_WAIT_SECONDS} s "
                            f"(lock {name!r}). Fix: if no textclf run is registering, delete that registered model")
        time.sleep(0.05 + 0.1 * random.random())  # apart, so that waiters do not retry in step
    try:
        yield
    finally:
        _release(client, name)


def _release(client, name: str, attempts: int = 5) -> None:
    from mlflow.exceptions import MlflowException

    for attempt in range(attempts):
        try:
            client.delete_registered_model(name)
            return
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return
            if not is_store_failure(error) or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def is_abandoned(holder: str | None, created_ms: int) -> bool:
    """Whether a lock (its holder's owner string, its creation time) is left by a process that is
    gone, or held longer than any registration takes."""
    return is_gone(holder or "") or time.time() - created_ms / 1000 > LOCK_STALE_SECONDS


def release_if_abandoned(client, lock_name: str) -> bool:
    """Delete the lock ``lock_name`` if the process holding it is gone; whether it did."""
    from mlflow.exceptions import MlflowException

    try:
        lock = client.get_registered_model(lock_name)
        if is_abandoned(lock.description, lock.creation_timestamp):
            client.delete_registered_model(lock_name)
            return True
    except MlflowException:  # released meanwhile
        pass
    return False
