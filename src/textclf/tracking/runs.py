"""Reading a store: the runs ``textclf compare`` lists, the models ``textclf predict`` loads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from textclf.errors import UserError
from textclf.tracking.recovery import end_abandoned_runs
from textclf.tracking.requirements import warn_about_version_mismatches
from textclf.tracking.store import is_store_failure, store_errors_as_user_errors
from textclf.tracking.tracker import connect, mlflow
from textclf.tracking.verify import imports_from_source_only, verified_folder

# Params that differ between any two runs by nature, so they say nothing about the difference.
RUN_SPECIFIC_PARAMS = {"params.paths.output_dir", "params.run_name"}


def open_store(tracking_uri: str, command: str) -> None:
    """Point MLflow at the store and end the runs that processes which died left RUNNING."""
    from mlflow.tracking import MlflowClient

    connect(tracking_uri, timeout=5)
    try:
        end_abandoned_runs(MlflowClient(), found_by=f"textclf {command}")
    except Exception as error:  # noqa: BLE001 - tidying up is not what the user asked for; reading may still work
        if not is_store_failure(error):
            raise


def load_model(model_uri: str, tracking_uri: str, verify: bool = True):
    """Load an MLflow pyfunc model, with one-line errors for bad or unknown URIs and stores.

    ``verify``: first check its files against the digest recorded when it was logged, and refuse
    it on any difference (``verify``). Without it, any MLflow model loads, and its code runs.
    """
    with store_errors_as_user_errors(tracking_uri):
        open_store(tracking_uri, "predict")
        if verify:
            imports_from_source_only()
            return _load_model(model_uri, verified_folder(model_uri))
        return _load_model(model_uri)


def verify_model(model_uri: str, tracking_uri: str) -> Path:
    """``textclf verify``: the folder of a model whose files match their recorded digest."""
    with store_errors_as_user_errors(tracking_uri):
        open_store(tracking_uri, "verify")
        return verified_folder(model_uri)


def _load_model(model_uri: str, folder: Path | None = None):
    from mlflow.exceptions import MlflowException

    try:
        if folder is None:
            folder = Path(mlflow.artifacts.download_artifacts(model_uri))  # a local store: its folder, no copy
        # MLflow's own check of the model's requirements reads the metadata of every installed
        # distribution (half a second of a three-second `textclf predict`); the model's pins are
        # compared directly below instead.
        model = mlflow.pyfunc.load_model(str(folder), suppress_warnings=True)
    except (MlflowException, OSError, ValueError) as error:  # ValueError: serving.format.UnsafeModelError
        if is_store_failure(error):
            raise
        detail = (getattr(error, "message", None) or str(error)).strip().splitlines()[0]
        raise UserError(f"cannot load model {model_uri!r}: {detail}. "
                        "Fix: check the URI (e.g. models:/NAME@champion, models:/NAME/1, runs:/ID/model) "
                        "and the tracking store") from None
    warn_about_version_mismatches(folder / "requirements.txt")
    return model


def compare_runs(tracking_uri: str, experiment: str, metric: str, columns: list[str], limit: int) -> pd.DataFrame:
    """An experiment's finished runs, best ``metric`` first, with the params that differ."""
    with store_errors_as_user_errors(tracking_uri):
        open_store(tracking_uri, "compare")
        return _compare_runs(experiment, metric, columns, limit)


def _compare_runs(experiment: str, metric: str, columns: list[str], limit: int) -> pd.DataFrame:
    from mlflow.tracking import MlflowClient

    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        names = [e.name for e in MlflowClient().search_experiments()]
        raise UserError(f"no experiment {experiment!r} in {mlflow.get_tracking_uri()} (it has {names}). "
                        "Fix: pass --experiment NAME")
    runs = mlflow.search_runs([found.experiment_id], filter_string="attributes.status = 'FINISHED'",
                              max_results=1000)
    if "tags.textclf.sweep" in runs.columns:
        runs = runs[runs["tags.textclf.sweep"] != "parent"]
    if runs.empty:
        raise UserError(f"experiment {experiment!r} has no finished runs. Fix: run python train.py first")
    metric_columns = [f"metrics.{name}" for name in dict.fromkeys([metric, *columns])]
    missing = [name for name in metric_columns if name not in runs.columns]
    if f"metrics.{metric}" in missing:
        raise UserError(f"no run logged metric {metric!r}. Fix: pass --metric with a logged metric, "
                        "e.g. validation/macro_f1")
    runs = runs.sort_values(f"metrics.{metric}", ascending=False).head(limit)
    params = sorted(c for c in runs.columns if c.startswith("params.") and c not in RUN_SPECIFIC_PARAMS
                    and runs[c].nunique(dropna=False) > 1)
    table = pd.DataFrame({"run": runs["tags.mlflow.runName"], "run_id": runs["run_id"].str[:8]})
    for column in metric_columns:
        if column not in missing:
            table[column.removeprefix("metrics.")] = [float(f"{value:.4g}") for value in runs[column]]
    for column in params:
        table[column.removeprefix("params.")] = runs[column].fillna("-")
    return table.reset_index(drop=True)
