"""The champion rule: the alias moves to a new version only when it beats the holder's score."""

from __future__ import annotations

from textclf.tracking.store import Registration


def promote_if_better(client, registered_model: str, alias: str, metric: str, version: str,
                      score: float) -> Registration:
    """Point ``alias`` at ``version`` if ``score`` beats the current holder's ``metric``.

    ``client`` is an ``MlflowClient``; the caller holds whatever lock the store needs.
    """
    holder = current_holder(client, registered_model, alias)
    best = None if holder is None else client.get_run(holder.run_id).data.metrics.get(metric)
    promoted = best is None or score > best
    if promoted:
        client.set_registered_model_alias(registered_model, alias, version)
    return Registration(f"models:/{registered_model}/{version}", version, promoted,
                        version if promoted else str(holder.version))


def current_holder(client, registered_model: str, alias: str):
    """The model version holding ``alias``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(registered_model, alias)
    except MlflowException:
        return None
