"""Everything textclf does with MLflow: store, runs, params, datasets, metrics, models, registry.

This is the only module that imports ``mlflow`` (besides ``pyfunc_model``, which MLflow itself
loads with every saved model). During ``python train.py`` it runs in a worker process beside the
training (see ``tracking_worker``); ``textclf predict`` and ``compare`` use it directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.data.dataset_source_registry import resolve_dataset_source  # noqa: E402
from mlflow.data.meta_dataset import MetaDataset  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from mlflow.types import ColSpec, Schema  # noqa: E402

from textclf import pyfunc_model  # noqa: E402
from textclf.errors import UserError  # noqa: E402
from textclf.tracking_worker import Registration, check_reachable  # noqa: E402

# "Creating initial MLflow database tables..." is noise on every new store.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)

PARENT_RUN_ENV = "TEXTCLF_PARENT_RUN_ID"
# Params that differ between any two runs by nature, so they say nothing about the difference.
RUN_SPECIFIC_PARAMS = {"params.paths.output_dir", "params.run_name"}
MODEL_NAME = "model"


@dataclass
class Tracker:
    """A connection to one MLflow store, experiment and registered model name, and the run's
    dataset and logged model once known (reports and registration refer back to them)."""

    uri: str
    experiment_id: str
    registered_model: str
    champion_alias: str
    champion_metric: str
    dataset_name: str | None = None
    model_uri: str | None = None

    @classmethod
    def connect(cls, uri, artifact_location, experiment, registered_model, champion_alias, champion_metric,
                connect_timeout) -> "Tracker":
        """Check the store is reachable, create it and the experiment if needed."""
        check_reachable(uri, connect_timeout)
        mlflow.set_tracking_uri(uri)
        try:
            with store_lock(uri):  # two processes creating one new sqlite store would corrupt it
                found = mlflow.get_experiment_by_name(experiment)
                if found is None:
                    remote = uri.startswith(("http://", "https://", "databricks"))
                    location = None if remote else _as_uri(artifact_location)
                    experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
                else:
                    experiment_id = found.experiment_id
        except MlflowException as error:
            raise UserError(f"cannot use tracking store {uri}: {error.message.splitlines()[0]}. "
                            "Fix: check tracking.uri or MLFLOW_TRACKING_URI") from None
        return cls(uri, experiment_id, registered_model, champion_alias, champion_metric)

    def begin_run(self, run_name: str) -> str:
        """Start the run (nested under a sweep's parent run, if any); return its id."""
        parent = os.environ.get(PARENT_RUN_ENV)
        return mlflow.start_run(experiment_id=self.experiment_id, run_name=run_name, parent_run_id=parent).info.run_id

    def end_run(self, status: str) -> None:
        if mlflow.active_run() is not None:
            mlflow.end_run(status)

    def log_config(self, params: dict[str, str], config_yaml: str) -> None:
        mlflow.log_params({key: value[:6000] for key, value in params.items()})
        mlflow.log_text(config_yaml, "config.yaml")

    def log_dataset(self, dataset) -> None:
        """Each split of a ``DatasetSummary`` as an MLflow dataset input, plus dataset tags.

        Only metadata crosses over (source, size, content hash, schema), not the texts: MLflow
        stores no more than that for a pandas dataset either, and the texts stay in training.
        """
        self.dataset_name = dataset.name
        schema = Schema([ColSpec("string", "id"), ColSpec("string", "text"), ColSpec("string", "label")])
        for split in dataset.splits:
            with warnings.catch_warnings():  # "source can be interpreted in multiple ways": both are local files
                warnings.simplefilter("ignore", UserWarning)
                data = MetaDataset(resolve_dataset_source(split.source), name=f"{dataset.name}-{split.name}",
                                   digest=split.content_hash[:8], schema=schema)
            _log_input(data, split.name, {"content_hash": split.content_hash, "rows": str(split.rows)})
        mlflow.set_tags({"data.name": dataset.name, "data.hash": dataset.content_hash,
                         "data.labels": ",".join(dataset.label_names)})
        commit = git_commit()
        if commit:
            mlflow.set_tag("git.commit", commit)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        mlflow.log_metrics(metrics)

    def log_history(self, history: list[dict]) -> None:
        """Per-epoch metrics as MLflow steps, under ``train/``."""
        for entry in history:
            mlflow.log_metrics({f"train/{k}": v for k, v in entry.items() if k != "epoch"}, step=entry["epoch"])

    def log_reports(self, split, evaluation, decision: dict) -> None:
        """The report files of one evaluated split (see ``textclf.report``), at the artifact root."""
        from textclf.report import write_reports  # matplotlib: only needed from here

        with tempfile.TemporaryDirectory() as folder:
            write_reports(self.dataset_name, split, evaluation, decision, Path(folder))
            mlflow.log_artifacts(folder)

    def log_model(self, state_folder: Path, packages: list[str], example: pd.DataFrame, output: pd.DataFrame) -> str:
        """Log a model saved by ``save_state`` as a pyfunc model; return its URI."""
        # With an input_example MLflow would load the whole model again to check it (seconds and
        # a second copy of the model in memory on large vocabularies), with no switch to skip it;
        # the signature alone fixes the serving schema, and our tests check the reload.
        with warnings.catch_warnings():  # "An input example was not provided": on purpose, as above
            warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME,
                python_model=pyfunc_model.__file__,
                artifacts={"state": str(state_folder)},
                signature=mlflow.models.infer_signature(example, output),
                pip_requirements=requirements(packages),
            )
        self.model_uri = info.model_uri
        return info.model_uri

    def register(self, score: float) -> Registration:
        """Register the logged model; move the champion alias to it only if it beats the champion."""
        client = MlflowClient()
        # Locked so that parallel runs can neither race to create the registered model nor
        # both read the old champion and overwrite each other's alias.
        with store_lock(self.uri):
            version = mlflow.register_model(self.model_uri, self.registered_model).version
            try:
                champion = client.get_model_version_by_alias(self.registered_model, self.champion_alias)
            except MlflowException:
                champion = None
            best = None if champion is None else client.get_run(champion.run_id).data.metrics.get(self.champion_metric)
            promoted = best is None or score > best
            if promoted:
                client.set_registered_model_alias(self.registered_model, self.champion_alias, version)
        mlflow.set_tags({"registered_model": self.registered_model, "registered_version": version,
                         "champion": str(promoted).lower()})
        return Registration(f"models:/{self.registered_model}/{version}", str(version), promoted,
                            str(version) if promoted else champion.version)


def requirements(packages: list[str]) -> list[str]:
    """Exact pins for what loading the model needs, instead of MLflow's slow inference."""
    needed = {"mlflow", "numpy", "pandas", "scikit-learn", "scipy", *packages}
    return [f"{name}=={installed_version(name)}" for name in sorted(needed)]


def installed_version(name: str) -> str:
    """The installed version of a package, as a model pins it."""
    # torch reports "2.13.0+cpu"; the local build tag is not installable from PyPI.
    return package_version(name).split("+")[0]


@contextlib.contextmanager
def store_lock(uri: str):
    """An exclusive lock on a local sqlite store (a no-op for servers, which serialise writes)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(uri.removeprefix("sqlite:///") + ".lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _log_input(data, context: str, tags: dict[str, str], attempts: int = 5) -> None:
    # Parallel sweep jobs log the same dataset at the same moment; MLflow's sqlite store then
    # fails the second insert on a unique constraint. By the retry the row exists and is reused.
    for attempt in range(attempts):
        try:
            mlflow.log_input(data, context=context, tags=tags)
            return
        except MlflowException as error:
            if "UNIQUE constraint failed" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _as_uri(path: str) -> str:
    return Path(path).expanduser().resolve().as_uri()


def load_model(model_uri: str, tracking_uri: str):
    """Load any MLflow pyfunc model, with one-line errors for bad or unknown URIs."""
    check_reachable(tracking_uri, timeout=5)
    mlflow.set_tracking_uri(tracking_uri)
    try:
        folder = Path(mlflow.artifacts.download_artifacts(model_uri))  # a local store: its folder, no copy
        # MLflow's own check of the model's requirements reads the metadata of every installed
        # distribution (half a second of a three-second `textclf predict`); the model's pins are
        # compared directly below instead.
        model = mlflow.pyfunc.load_model(str(folder), suppress_warnings=True)
    except (MlflowException, OSError, ValueError) as error:  # ValueError: pyfunc_model.UnsafeModelError
        detail = (getattr(error, "message", None) or str(error)).strip().splitlines()[0]
        raise UserError(f"cannot load model {model_uri!r}: {detail}. "
                        "Fix: check the URI (e.g. models:/NAME@champion, models:/NAME/1, runs:/ID/model) "
                        "and the tracking store") from None
    warn_about_version_mismatches(folder / "requirements.txt")
    return model


def warn_about_version_mismatches(requirements: Path) -> None:
    """Warn, in one line, about packages installed at other versions than the model was saved with."""
    mismatches = []
    lines = requirements.read_text().splitlines() if requirements.is_file() else []
    for name, _, pinned in (line.strip().partition("==") for line in lines):
        if not pinned:
            continue
        try:
            installed = installed_version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            mismatches.append(f"{name} {installed} (model: {pinned})")
    if mismatches:
        warnings.warn(f"this environment differs from the model's: {', '.join(mismatches)}; "
                      "predictions may differ slightly", stacklevel=3)


def compare_runs(tracking_uri: str, experiment: str, metric: str, columns: list[str], limit: int) -> pd.DataFrame:
    """An experiment's finished runs, best ``metric`` first, with the params that differ."""
    check_reachable(tracking_uri, timeout=5)
    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        names = [e.name for e in MlflowClient().search_experiments()]
        raise UserError(f"no experiment {experiment!r} in {tracking_uri} (it has {names}). Fix: pass --experiment NAME")
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
