"""Finding a sweep in a store: ``textclf compare --sweep ID|latest`` names one by the first
characters of its parent run's id (as the sweep's closing table prints them) or as the latest.
The store is open (``runs.open_store``)."""

from __future__ import annotations

from textclf.errors import UserError
from textclf.tracking.description import SWEEP_STARTED_TAG, SWEEP_TAG


def find_sweep(wanted: str, experiment: str, experiment_given: bool = False):
    """The parent run of the sweep ``wanted`` names: ``latest``, the sweep started or continued
    last in ``experiment``; else its run id, or the id's first characters as a sweep's closing
    table prints them (8), in any experiment of the store (in ``experiment``, if given)."""
    from textclf.tracking.runs import mlflow

    prefix = wanted.strip().lower()
    if prefix == "latest":
        parents = sweep_parents([experiment_named(experiment).experiment_id])
        if not parents:
            raise UserError(f"experiment {experiment!r} holds no sweep. Fix: leave out --sweep, run one "
                            "(python train.py -m ...), or pass --experiment NAME")
        return parents[0]
    parents = sweep_parents([found.experiment_id for found in mlflow.search_experiments()])
    matches = [run for run in parents if prefix and run.info.run_id.startswith(prefix)]
    if len(matches) == 1 and experiment_given and matches[0].info.experiment_id != experiment_named(experiment).experiment_id:
        other = mlflow.get_experiment(matches[0].info.experiment_id).name
        raise UserError(f"sweep {wanted!r} is in experiment {other!r}, not {experiment!r}. Fix: leave out --experiment, "
                        f"or pass --experiment {other}")
    if len(matches) == 1:
        return matches[0]
    if not matches:
        latest = f" (the latest: {', '.join(run.info.run_id[:8] for run in parents[:5])})" if parents else ""
        raise UserError(f"no sweep {wanted!r} in {mlflow.get_tracking_uri()}{latest}. Fix: pass --sweep with the id "
                        "its closing table printed, or latest")
    raise UserError(f"--sweep {wanted!r} begins the run ids of {len(matches)} sweeps. Fix: give more of the id")


def sweep_parents(experiment_ids: list[str]) -> list:
    """The sweeps' parent runs (the latest 1,000), latest first: by when each was last started
    (a continued study's parent is started again) or, before that was recorded, created."""
    from textclf.tracking.runs import mlflow

    parents = mlflow.search_runs(experiment_ids, filter_string=f"tags.`{SWEEP_TAG}` = 'parent'",
                                 order_by=["attributes.start_time DESC"], max_results=1000, output_format="list")
    return sorted(parents, key=lambda run: int(run.data.tags.get(SWEEP_STARTED_TAG, run.info.start_time)), reverse=True)


def experiment_named(name: str):
    """The experiment ``name`` in the store MLflow points at; refused, naming those it has, if none."""
    from textclf.tracking.runs import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is None:
        names = [e.name for e in mlflow.search_experiments()]
        raise UserError(f"no experiment {name!r} in {mlflow.get_tracking_uri()} (it has {names}). "
                        "Fix: pass --experiment NAME")
    return found
