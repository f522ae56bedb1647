"""`python train.py` and `textclf` in this process: the real entry points, their exit codes and
their one-line errors, without a new interpreter per case."""

import runpy
import sys
from dataclasses import dataclass

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from helpers.paths import CONFIGS, ROOT
from helpers.processes import store_overrides
from helpers.stores import migrated_store
from textclf.tracking.sweep import end_as_at_exit


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def composed(*overrides: str):
    """The real configs composed with ``overrides``, outside Hydra's runtime (no output folder)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        return compose("train", overrides=[f"paths.root_dir={ROOT}", "paths.output_dir=.", "run_name=test",
                                           *overrides])


def _exit_code(call) -> int:
    try:
        call()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


def train_here(folder, *overrides: str, monkeypatch, capsys, tracking_uri_from_environment: bool = False,
               new_store: bool = False) -> Result:
    """``python train.py OVERRIDES`` with its store in ``folder``, run by train.py's own main; the
    store named by ``tracking.uri=`` or, ``tracking_uri_from_environment``, by MLFLOW_TRACKING_URI
    (``new_store``: as ``processes.store_overrides``)."""
    store = store_overrides(folder, new_store=new_store)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if tracking_uri_from_environment:
        (uri,) = [override for override in store if override.startswith("tracking.uri=")]
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri.removeprefix("tracking.uri="))
        store.remove(uri)
    flags = [argument for argument in overrides if argument.startswith("-")]  # -m: Hydra's parser wants it first
    rest = [argument for argument in overrides if not argument.startswith("-")]
    monkeypatch.setattr(sys, "argv", [str(ROOT / "train.py"), *flags, *store, *rest])
    # set first, so that the test's end removes what an in-process sweep sets (delenv of an absent
    # variable records nothing to undo, and the next test's runs would nest under that sweep)
    monkeypatch.setenv("TEXTCLF_PARENT_RUN_ID", "")
    monkeypatch.delenv("TEXTCLF_PARENT_RUN_ID")
    # train.py's __main__ marks its process as textclf's own (textclf.imports), whose objects are
    # then set aside for good; this process is pytest's (checked in tests/test_imports.py)
    monkeypatch.setattr("textclf.imports.own_this_process", lambda: None)
    capsys.readouterr()
    GlobalHydra.instance().clear()
    try:
        # As a script, so Hydra finds configs/ beside it, as it does for `python train.py`.
        code = _exit_code(lambda: runpy.run_path(str(ROOT / "train.py"), run_name="__main__"))
    finally:
        end_as_at_exit()  # a sweep's parent run, as the process's exit ends it
        GlobalHydra.instance().clear()
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def cli_here(*args: str, capsys, monkeypatch, stdin: str | None = None) -> Result:
    """``textclf ARGS`` run by the command's own main."""
    import io

    from textclf.cli import main

    # mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI: without this, a store one test opened
    # would be the default of the next.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8"))
    capsys.readouterr()
    code = _exit_code(lambda: main(list(args)))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def run_description(name: str, task: str = "multiclass", labels=("nk", "visit")):
    """A ``RunDescription`` for tests that drive a tracker directly."""
    import time

    from textclf.tracking.description import RunDescription

    return RunDescription(name, "logreg", task, tuple(labels), (), "train.py", round(time.time() * 1000))


def log_a_model(tracker, folder):
    """Fit a small TF-IDF model, save it into ``folder`` and log it with ``tracker`` (a ``Tracker``
    with a started run); return its URI."""
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from textclf.serving.decision import ArgmaxDecision
    from textclf.serving.writer import save_state

    texts, labels = ["a missile launch", "a summit visit", "rockets fired", "talks in seoul"], ["nk", "visit"] * 2
    model = Pipeline([("features", TfidfVectorizer()), ("classifier", LogisticRegression())]).fit(texts, labels)
    packages = save_state(model, ArgmaxDecision(("nk", "visit")), folder)
    output = pd.DataFrame({"label": ["nk"], "prob_nk": [0.6], "prob_visit": [0.4]})
    return tracker.log_model(str(folder), packages, pd.DataFrame({"text": texts[:1]}), output)


def background_tracker(folder, registered_model: str = "demo-topics", new_store: bool = False):
    """A ``BackgroundTracker`` on a sqlite store in ``folder``, as ``train.py`` opens one
    (``new_store``: as ``processes.store_overrides``)."""
    from textclf.tracking.background import BackgroundTracker

    if not new_store:
        migrated_store(folder)
    settings = dict(uri=f"sqlite:///{folder}/mlflow.db", artifact_location=str(folder / "mlruns"), experiment="demo",
                    registered_model=registered_model, champion_alias="champion",
                    champion_metric="validation/macro_f1", connect_timeout=5)
    return BackgroundTracker(settings, server_silence_seconds=15)
