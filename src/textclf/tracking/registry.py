"""One task and one label set per registered model.

Every version of a registered model answers the same question: the champion alias may move to
any of them, and ``textclf predict`` or a served model would otherwise switch from ``label`` to
``labels``, or to other classes, overnight. So a run whose task or label set differs from the
versions already registered under its name is refused, at the start of the run and again under
the registry lock just before it registers (two runs may start at once).
"""

from __future__ import annotations

from textclf.errors import UserError
from textclf.tracking.description import LABELS_TAG, TASK_TAG, label_set, task_from_config

NAMES_SHOWN = 3


def check_same_task(client, registered_model: str, task: str, labels) -> None:
    """Raise ``UserError`` if a version of ``registered_model`` has another task or label set."""
    from mlflow.exceptions import MlflowException

    wanted = label_set(labels)
    try:
        versions = client.search_model_versions(f"name = '{registered_model}'")
    except MlflowException:  # no such registered model yet
        return
    for version in versions:
        found_task, found_labels = _task_of(client, version)
        if found_task is None:
            continue
        if found_task != task:
            raise UserError(f"registered model {registered_model!r} holds {found_task} models (version "
                            f"{version.version}) and this run is {task}. Fix: pass "
                            f"tracking.registered_model=NEW_NAME, e.g. {registered_model}-{task}")
        if found_labels != wanted:
            raise UserError(f"registered model {registered_model!r} holds models of another label set (version "
                            f"{version.version}: {_difference(found_labels, wanted)}). Fix: pass "
                            "tracking.registered_model=NEW_NAME for this label set")


def _task_of(client, version) -> tuple[str | None, str | None]:
    """A version's task and label set: its tags, or for versions older than those tags, its run's."""
    from mlflow.exceptions import MlflowException

    if TASK_TAG in version.tags:
        return version.tags[TASK_TAG], version.tags.get(LABELS_TAG)
    try:
        run = client.get_run(version.run_id)
    except MlflowException:  # the run was deleted: nothing to go by
        return None, None
    task = task_from_config(run.data.params.get("task._target_", ""))
    return run.data.tags.get(TASK_TAG, task), run.data.tags.get(LABELS_TAG, run.data.tags.get("data.labels"))


def _difference(registered: str | None, wanted: str) -> str:
    if registered is None or registered.startswith("sha256:") or wanted.startswith("sha256:"):
        return "its labels differ"
    old, new = set(registered.split(",")), set(wanted.split(","))
    parts = []
    if new - old:
        parts.append("this run adds " + ", ".join(sorted(new - old)[:NAMES_SHOWN]))
    if old - new:
        parts.append(("it" if new - old else "this run") + " lacks " + ", ".join(sorted(old - new)[:NAMES_SHOWN]))
    return "; ".join(parts) or "its labels differ"
