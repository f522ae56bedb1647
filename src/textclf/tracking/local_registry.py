"""``textclf predict`` from a local sqlite store without importing MLflow: the cold-start path.

Tagging one text with a TF-IDF model needs NumPy, scikit-learn and pandas (about a second to
import); finding and checking the model through MLflow needs MLflow, SQLAlchemy and Alembic too
(another 1.3 seconds), which made a fresh ``textclf predict`` 2.2 times the floor
(experiments/speed.md). For the common case, a registered version (``models:/NAME@ALIAS`` or
``models:/NAME/N``) in a sqlite store on this machine, this module reads the three registry rows
it needs with the standard ``sqlite3`` module, checks the files against the recorded digest, and
loads the model with the serving code saved in it: exactly what MLflow would load.

Anything else answers None and the caller takes MLflow's path: another store or URI, a schema this
code does not know, a version whose run is still RUNNING (its process may have died), a store where
a process that died left a run RUNNING or a registry lock held (MLflow's path ends and releases
them first, ``recovery``, as every command that opens a store does), files that differ from their
digest (MLflow's path names what changed), or a model saved by another program or an older textclf.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import importlib.util
import inspect
import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from textclf.errors import UserError
from textclf.extras import missing_extra, missing_extra_message
from textclf.tracking.champion import LOCK_SUFFIX, is_abandoned
from textclf.tracking.manifest import DIGEST_TAG, digest_of, file_digests
from textclf.tracking.ownership import OWNER_TAG, WORKER_TAG, run_processes_gone
from textclf.tracking.requirements import warn_about_version_mismatches
from textclf.tracking.store import StoreKind, sqlite_path, store_kind

# The copy of textclf.serving a saved model carries (in its code/ folder), importable without textclf.
SERVING_PACKAGE = "textclf_serving"
# The classes of a saved model that serving.linear_tfidf predicts with NumPy and SciPy alone.
LINEAR_TFIDF_CLASSES = {"sklearn.pipeline.Pipeline", "sklearn.pipeline.FeatureUnion",
                        "sklearn.feature_extraction.text.TfidfVectorizer",
                        "sklearn.feature_extraction.text.TfidfTransformer",
                        "sklearn.linear_model._logistic.LogisticRegression", "sklearn.multiclass.OneVsRestClassifier",
                        "sklearn.preprocessing._label.LabelBinarizer"}
# The two forms of a registered version's URI, for this module and MLflow's path (``verify``).
MODEL_BY_ALIAS = re.compile(r"models:/([^/@]+)@([^/]+)")
MODEL_BY_NUMBER = re.compile(r"models:/([^/@]+)/(\d+)")
# The model-from-code loader MLflow records for every model textclf logs.
CODE_MODEL_LOADER = "mlflow.pyfunc.loaders.code_model"


def load_registered_locally(model_uri: str, tracking_uri: str):
    """The model ``model_uri`` names, verified and loaded without MLflow; None where this path
    does not apply (see the module's docstring)."""
    if store_kind(tracking_uri) is not StoreKind.SQLITE or not sqlite_path(tracking_uri).is_file():
        return None
    version = _registered_version(sqlite_path(tracking_uri), model_uri)
    if version is None:
        return None
    folder, recorded_digest = version
    if not folder.is_dir() or digest_of(file_digests(folder)) != recorded_digest:
        return None
    return _load_saved_model(folder, model_uri)


def _registered_version(database: Path, model_uri: str) -> tuple[Path, str] | None:
    """(the model's folder, its recorded digest) for a version of a FINISHED run, read-only."""
    by_alias, by_number = MODEL_BY_ALIAS.fullmatch(model_uri), MODEL_BY_NUMBER.fullmatch(model_uri)
    if not (by_alias or by_number):
        return None
    try:
        with sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as connection:
            if _left_by_a_dead_process(connection):
                return None
            if by_alias:
                row = connection.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                         by_alias.groups()).fetchone()
                if row is None:
                    return None
                name, number = by_alias.group(1), row[0]
            else:
                name, number = by_number.group(1), int(by_number.group(2))
            row = connection.execute(
                "SELECT v.storage_location, r.status, t.value FROM model_versions v "
                "JOIN runs r ON r.run_uuid = v.run_id "
                "JOIN model_version_tags t ON t.name = v.name AND t.version = v.version AND t.key = ? "
                "WHERE v.name = ? AND v.version = ? AND v.current_stage != 'Deleted_Internal'",
                (DIGEST_TAG, name, number)).fetchone()
    except (sqlite3.Error, TypeError, ValueError):  # locked, another schema, odd rows: MLflow's path says
        return None
    if row is None:
        return None
    location, run_status, digest = row
    parsed = urlparse(location or "")
    if run_status != "FINISHED" or parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path)), digest


def _left_by_a_dead_process(connection: sqlite3.Connection) -> bool:
    """Whether a RUNNING run or a registry lock belongs to a process that is gone: what
    ``recovery.end_abandoned_runs`` ends and releases (its rules, read here with SQL)."""
    processes: dict[str, dict] = {}  # a RUNNING run's id: the tags naming its processes
    for run, key, value in connection.execute(
            "SELECT r.run_uuid, t.key, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid AND t.key IN (?, ?) "
            "WHERE r.status = 'RUNNING' AND r.lifecycle_stage = 'active'", (OWNER_TAG, WORKER_TAG)):
        processes.setdefault(run, {})[key] = value
    locks = connection.execute(
        "SELECT description, creation_time FROM registered_models WHERE name LIKE ?", (f"%{LOCK_SUFFIX}",)).fetchall()
    return any(map(run_processes_gone, processes.values())) or any(is_abandoned(*lock) for lock in locks)


class LocallyLoadedModel:
    """A saved textclf model loaded by its own serving code; ``predict`` as MLflow's pyfunc.
    ``run_id``: the run that logged it, as its MLmodel file records (MLflow's ``metadata.run_id``)."""

    def __init__(self, saved, folder: Path, run_id: str | None):
        self._saved = saved
        self.folder = folder
        self.run_id = run_id

    def predict(self, model_input, params=None):
        # A model saved before params existed takes none: its answer lacks what they ask for, as
        # MLflow ignores params a model's signature does not name.
        if params is None or "params" not in inspect.signature(self._saved.predict).parameters:
            return self._saved.predict(model_input)
        return self._saved.predict(model_input, params)


def _load_saved_model(folder: Path, model_uri: str):
    import yaml  # MLflow's MLmodel file is YAML; PyYAML comes with MLflow

    mlmodel = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    flavor = mlmodel.get("flavors", {}).get("python_function", {})
    state = flavor.get("artifacts", {}).get("state", {}).get("path")
    code = folder / str(flavor.get("code"))
    if flavor.get("loader_module") != CODE_MODEL_LOADER or not state or not (code / SERVING_PACKAGE).is_dir():
        return None
    import_libraries_named_in(folder, state)
    imports_from_source_only()
    pyfunc = _own_serving_code(code / SERVING_PACKAGE).pyfunc
    if not hasattr(pyfunc, "SavedModel"):  # saved by a textclf from before this path existed
        return None
    warn_about_version_mismatches(folder / "requirements.txt")
    try:
        return LocallyLoadedModel(pyfunc.SavedModel(str(folder / state)), folder, mlmodel.get("run_id"))
    except ModuleNotFoundError as error:  # a MiniLM model where the transformers extra is not installed
        extra = missing_extra(error)
        if extra is None:
            raise
        raise UserError(f"cannot load model {model_uri!r}: " + missing_extra_message("it", extra)) from None


def _own_serving_code(package: Path):
    """The model's own copy of the serving code (``package``, its ``textclf_serving`` folder), with
    its ``pyfunc`` module, imported under a name of that folder's: two models loaded in one
    process (``tag_articles`` twice in a notebook) each run their own copy, whichever textclf
    saved them. The copy's modules import each other relatively, so the name is theirs to take."""
    name = f"{SERVING_PACKAGE}_{hashlib.sha256(str(package.resolve()).encode()).hexdigest()[:16]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, package / "__init__.py",
                                                      submodule_search_locations=[str(package)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    importlib.import_module(f"{name}.pyfunc")
    return sys.modules[name]


def forget_serving_code() -> None:
    """Drop the ``textclf_serving`` package an earlier model loaded through MLflow left in
    ``sys.modules``: MLflow puts each model's ``code/`` first on ``sys.path``, but Python would
    import the cached package, so a second model would run the first's copy. (What the first
    built keeps its own modules: they are referenced, not looked up again.)"""
    for name in [name for name in sys.modules if name == SERVING_PACKAGE or name.startswith(f"{SERVING_PACKAGE}.")]:
        del sys.modules[name]


def imports_from_source_only() -> None:
    """From now on this process imports Python code from its source files only: compiled copies
    are kept in a private folder, never beside a model's code (where anyone could plant one)."""
    sys.dont_write_bytecode = True
    if sys.pycache_prefix is None:  # an empty folder of our own, removed when the process exits
        sys.pycache_prefix = tempfile.mkdtemp(prefix="textclf-pycache-")
        atexit.register(shutil.rmtree, sys.pycache_prefix, True)


def import_libraries_named_in(model_folder: Path, state: str) -> None:
    """Import the scikit-learn modules a saved model will need, before ``imports_from_source_only``.

    From then on every module is compiled from its source, which for scikit-learn and SciPy costs
    a second more than reading their compiled copies (half of a cold ``textclf predict``). Only the
    model's own code must come from source; library modules imported first load as usual. A model
    its serving code predicts without scikit-learn (``serving.linear_tfidf``) needs none.
    """
    state_file = model_folder / state / "state.json"
    text = state_file.read_text(encoding="utf-8") if state_file.is_file() else ""
    classes = set(re.findall(r'"__object__": "(sklearn(?:\.\w+)+)"', text))
    if classes <= LINEAR_TFIDF_CLASSES and (model_folder / "code" / SERVING_PACKAGE / "linear_tfidf.py").is_file():
        return
    for module in sorted({name.rpartition(".")[0] for name in classes}):
        try:
            importlib.import_module(module)
        except ImportError:  # the reader reports it, in its words, when it rebuilds the object
            pass
