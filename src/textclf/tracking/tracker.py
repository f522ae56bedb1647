"""Everything a training run does with MLflow: store, run, params, datasets, metrics, model, registry.

During ``python train.py`` a ``Tracker`` lives in a worker process beside the training (see
``background``); its methods are called there one at a time, in order.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import shutil
import tempfile
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from textclf.tracking.client import connect, mlflow, model_files  # first: MLflow with our settings
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

from textclf import serving
from textclf.pause import pause_at  # reports, end_run: moments fault tests stop at
from textclf.safe_csv import write_rows
from textclf.serving.pyfunc import EXPLAIN_PARAM
from textclf.tracking.champion import VALIDATION_HASH_TAG, register_candidate
from textclf.tracking.description import RunDescription, git_commit
from textclf.tracking.local_registry import SERVING_PACKAGE
from textclf.tracking.manifest import DIGEST_TAG, MANIFEST_ARTIFACT, digest_of, file_digests
from textclf.tracking.ownership import OWNER_TAG, WORKER_TAG, this_process
from textclf.tracking.recovery import end_abandoned_runs
from textclf.tracking.registry import check_same_task
from textclf.tracking.requirements import requirements
from textclf.tracking.store import Registration, artifact_folder, is_remote, store_lock, unusable_store

MODEL_NAME = "model"
STATE_FOLDER = "artifacts/state"  # where MLflow puts the ``state`` artifact inside the model folder


@contextlib.contextmanager
def pins_not_rechecked():
    """Within: MLflow does not check a logged model's pins against this environment. Its check maps
    every installed distribution's files to the modules they hold, once per process: 0.9 s of a
    6.4 s ``python train.py`` on 2 cores. Our pins are this environment's versions, read from it
    (``requirements``), so the check has nothing to find; ``requirements.warn_about_version_mismatches``
    does it on load, where it can. Not re-entrant, and other threads see the swap: only the
    tracking worker logs models, one at a time."""
    from mlflow.utils import environment

    check = environment.warn_dependency_requirement_mismatches
    environment.warn_dependency_requirement_mismatches = lambda model_requirements: None
    try:
        yield
    finally:
        environment.warn_dependency_requirement_mismatches = check


@dataclass
class Tracker:
    """A connection to one MLflow store, experiment and registered model name, and the run's
    description, dataset and logged model once known (reports and registration refer back to them)."""

    uri: str
    experiment_id: str
    registered_model: str
    champion_alias: str
    champion_metric: str
    description: RunDescription | None = None
    dataset_name: str | None = None
    data_hash: str | None = None
    model_uri: str | None = None
    model_digest: str | None = None
    _reports: list[Future] = field(default_factory=list)
    _drawing: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="reports"))

    @classmethod
    def connect(cls, uri, artifact_location, experiment, registered_model, champion_alias, champion_metric,
                connect_timeout) -> "Tracker":
        """Check the store is reachable, create it and the experiment if needed."""
        connect(uri, connect_timeout)
        try:
            with store_lock(uri):  # two processes creating one new sqlite store would corrupt it
                found = mlflow.get_experiment_by_name(experiment)
                if found is None:
                    location = None if is_remote(uri) else artifact_folder(uri, artifact_location).as_uri()
                    experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
                else:
                    experiment_id = found.experiment_id
            end_abandoned_runs(MlflowClient(), found_by="python train.py")
        except Exception as error:  # noqa: BLE001 - creating the experiment is the store's first use: any failure is its
            raise unusable_store(uri, error) from None
        return cls(uri, experiment_id, registered_model, champion_alias, champion_metric)

    def begin_run(self, description: RunDescription, owner: str) -> str:
        """Start the run (nested under a sweep's parent run, if any), owned by the training process
        ``owner`` (see ``ownership``); return its id. A run of another task or label set than the
        versions of its registered model is refused first (``registry``)."""
        client = MlflowClient()
        check_same_task(client, self.registered_model, description.task, description.labels)
        self.description = description
        tags = {**description.run_tags(), OWNER_TAG: owner, WORKER_TAG: this_process(), "mlflow.user": getpass.getuser()}
        # Created here with the training's own start time: this process starts seconds later.
        run = client.create_run(self.experiment_id, start_time=description.started_ms, tags=tags,
                                run_name=description.name)
        return mlflow.start_run(run_id=run.info.run_id).info.run_id

    def end_run(self, status: str, delete: bool = False) -> None:
        """End the active run with ``status``; ``delete`` moves it to the store's trash as well
        (bad input found during training: such a run holds nothing worth keeping)."""
        run = mlflow.active_run()
        if run is None:
            return
        pause_at("end_run")  # a fault test's moment: training waits for this call
        mlflow.end_run(status)
        if delete:
            MlflowClient().delete_run(run.info.run_id)

    def log_config(self, params: dict[str, str], config_yaml: str) -> None:
        mlflow.log_params({key: value[:6000] for key, value in params.items()})
        mlflow.log_text(config_yaml, "config.yaml")

    def log_dataset(self, dataset) -> None:
        """Each split of a ``DatasetSummary`` as an MLflow dataset input, plus dataset tags.

        Only metadata crosses over (source, size, content hash, schema), not the texts: MLflow
        stores no more than that for a pandas dataset either, and the texts stay in training.
        """
        self.dataset_name, self.data_hash = dataset.name, dataset.content_hash
        schema = Schema([ColSpec("string", "id"), ColSpec("string", "text"), ColSpec("string", "label")])
        for split in dataset.splits:
            with warnings.catch_warnings():  # "source can be interpreted in multiple ways": both are local files
                warnings.simplefilter("ignore", UserWarning)
                data = MetaDataset(resolve_dataset_source(split.source), name=f"{dataset.name}-{split.name}",
                                   digest=split.content_hash[:8], schema=schema)
            _log_input(data, split.name, {"content_hash": split.content_hash, "rows": str(split.rows)})
        mlflow.set_tags({"data.name": dataset.name, "data.hash": dataset.content_hash,
                         # what the champion rule's scores were measured on (``champion``)
                         **{VALIDATION_HASH_TAG: split.content_hash for split in dataset.splits
                            if split.name == "validation"},
                         "data.labels": ",".join(dataset.label_names),
                         **{f"data.overlap_dropped.{split}": str(rows) for split, rows in dataset.dropped_overlap},
                         **{f"data.missing_dropped.{split}": str(rows) for split, rows in dataset.missing_dropped}})
        commit = git_commit()
        if commit:
            mlflow.set_tags({"git.commit": commit, "mlflow.source.git.commit": commit})

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        mlflow.log_metrics(metrics, step=step)

    def log_tags(self, tags: dict[str, str]) -> None:
        mlflow.set_tags(tags)

    def log_history(self, history: list[dict], steps: list[dict]) -> None:
        """Per-epoch metrics (MLflow step: the epoch) and each optimizer step's metrics
        (``step_loss``, ``grad_norm``; step: its number) under ``train/``, a thousand to a request
        (MLflow's most per batch)."""
        run_id, now = mlflow.active_run().info.run_id, int(time.time() * 1000)
        metrics = [Metric(f"train/{name}", float(value), now, entry["epoch"])
                   for entry in history for name, value in entry.items() if name != "epoch"]
        metrics += [Metric(f"train/{name}", float(value), now, step)
                    for step, entry in enumerate(steps, start=1) for name, value in entry.items()]
        for start in range(0, len(metrics), 1000):
            MlflowClient().log_batch(run_id, metrics=metrics[start:start + 1000])

    def log_cross_validation(self, cv) -> None:
        """A ``evaluation.crossval.CrossValidation``: each fold's overall metrics as steps of
        ``cv_fold/<metric>``, and ``oof_predictions.csv`` (the mean and spread over folds come
        with the run's metrics)."""
        for number, fold in enumerate(cv.fold_metrics, start=1):
            mlflow.log_metrics({f"cv_fold/{key}": value for key, value in fold.items() if "/" not in key}, step=number)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "oof_predictions.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                write_rows(handle, cv.oof_rows())
            mlflow.log_artifact(str(path))

    def log_reports(self, split, evaluation, decision) -> None:
        """Draw and log the report files of one evaluated split (``textclf.evaluation.reports``)
        on a thread, and return: drawing is Python work and copying the model files into the
        store (``log_model``) is mostly waiting on the disk, so the two overlap. Wait for them
        with ``wait_for_reports``."""
        run_id = mlflow.active_run().info.run_id  # the active run is per thread in MLflow: name it
        self._reports.append(self._drawing.submit(self._write_reports, run_id, split, evaluation, decision))

    def wait_for_reports(self) -> None:
        """Until every report is logged; raise the first failure among them."""
        for report in self._reports:
            report.result()

    def _write_reports(self, run_id: str, split, evaluation, decision) -> None:
        from textclf.evaluation.reports import write_reports

        with tempfile.TemporaryDirectory() as folder:
            write_reports(self.dataset_name, split, evaluation, decision, Path(folder))
            pause_at("reports")
            MlflowClient().log_artifacts(run_id, folder)

    def log_model(self, state_folder: str, packages: list[str], example, output,
                  state_digests: dict[str, str] | None = None) -> str:
        """Log a model saved by ``serving.writer.save_state`` as a pyfunc model, with its manifest
        (``manifest``; ``state_digests``: those of ``state_folder``'s files, if already known);
        return its URI ("" when no run is active)."""
        if mlflow.active_run() is None:  # saved while an interrupt ended the run: MLflow would log it
            return ""                    # in a new run of its own, left RUNNING in the Default experiment
        with tempfile.TemporaryDirectory() as staging:
            # The serving package travels with the model under a name of its own, so the model
            # loads where textclf is not installed.
            code = shutil.copytree(Path(serving.__file__).parent, Path(staging) / SERVING_PACKAGE,
                                   ignore=shutil.ignore_patterns("__pycache__"))
            # With an input_example MLflow would load the whole model again to check it (seconds and
            # a second copy of the model in memory on large vocabularies), with no switch to skip it;
            # the signature alone fixes the serving schema, and our tests check the reload.
            with warnings.catch_warnings(), pins_not_rechecked():  # "An input example was not provided": as above
                warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
                info = mlflow.pyfunc.log_model(
                    name=MODEL_NAME,
                    python_model=str(Path(serving.__file__).parent / "mlflow_entry.py"),
                    code_paths=[str(code)],
                    artifacts={"state": state_folder},
                    signature=mlflow.models.infer_signature(example, output, params={EXPLAIN_PARAM: False}),
                    pip_requirements=requirements(packages),
                )
        self.model_uri = info.model_uri
        self.model_digest = self._log_manifest(info.model_uri, state_digests)
        return info.model_uri

    def _log_manifest(self, model_uri: str, state_digests: dict[str, str] | None) -> str:
        # From a server, the state is not downloaded again when its digests are known: MLflow's
        # own files are a few kilobytes, the state up to hundreds of megabytes.
        with model_files(model_uri, skip=STATE_FOLDER if state_digests is not None else None) as folder:
            if state_digests is None:
                files = file_digests(folder)
            else:
                files = {**file_digests(folder, skip=STATE_FOLDER),
                         **{f"{STATE_FOLDER}/{path}": digest for path, digest in state_digests.items()}}
        digest = digest_of(files)
        mlflow.log_dict({"model": model_uri, "sha256": digest, "files": files}, MANIFEST_ARTIFACT)
        mlflow.set_tag(DIGEST_TAG, digest)
        return digest

    def register_and_finish(self, score: float) -> Registration:
        """The run's last step: register its model, end the run FINISHED, then move the champion
        alias to the new version only if it beats the champion.

        If this process dies part way, the next process on the store finds the run still RUNNING
        and deletes its version (``recovery``); the alias only ever moves to a FINISHED run's model.
        """
        client, run_id, about = MlflowClient(), mlflow.active_run().info.run_id, self.description

        def create_version() -> str:
            check_same_task(client, self.registered_model, about.task, about.labels)  # a run that started meanwhile
            tags = {DIGEST_TAG: self.model_digest, **about.version_tags(self.data_hash, self.champion_metric, score)}
            with contextlib.redirect_stderr(io.StringIO()):  # "Successfully registered model ...": printed, not logged
                version = mlflow.register_model(self.model_uri, self.registered_model, tags=tags).version
            client.update_model_version(self.registered_model, version,
                                        about.version_description(self.champion_metric, score, run_id))
            return version

        # Locked: parallel runs could otherwise race to create the registered model, or both read
        # the old champion and overwrite each other's alias.
        registration = register_candidate(client, self.registered_model, self.champion_alias, self.champion_metric,
                                          score, this_process(), create_version, lambda: mlflow.end_run("FINISHED"))
        tags = {"registered_model": self.registered_model, "registered_version": registration.version}
        client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])
        return registration


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
