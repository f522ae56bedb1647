"""The Optuna study of a search: its name, where it is stored, and what it found.

The study lives in its own sqlite file beside the tracking store (``optuna.db`` next to
``mlflow.db``), never inside it: both use alembic's ``alembic_version`` table and would break
each other. For a tracking server it is ``optuna-HOST_PORT.db`` in the project folder: one study
file per store, so a search against a server never continues one whose trials are in the
project's own store (its ``optuna.db`` is in the same folder), or on another server. Its name
comes from the search and the command line, so rerunning the same command continues the same
study (``hydra.sweeper.n_trials`` is then the total to reach).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from urllib.parse import urlsplit

from textclf.errors import UserError

STUDY_FILE = "optuna.db"
# Command-line overrides that say how or where a search runs, not what it searches: changing them
# continues the same study.
NOT_PART_OF_THE_NAME = ("hydra.", "hydra/", "hparams_search", "tracking.", "paths.", "run_name")


def study_name(search, data_name: str, arguments) -> str:
    """``search.study_name`` if set, else the search's name, the dataset's, and the command line's
    overrides that change what is searched (``tfidf_linearsvc diplomacy cv=kfold``)."""
    if search.get("study_name"):
        return str(search.study_name)
    kept = sorted(str(a) for a in arguments if not str(a).lstrip("+~").startswith(NOT_PART_OF_THE_NAME))
    return " ".join([str(search.name), data_name, *kept])


def storage_url(search, tracking_uri: str, root_dir: str) -> str:
    """``search.storage`` if set, else ``optuna.db`` beside a sqlite tracking store's file, or
    ``optuna-HOST_PORT.db`` in the project folder when the runs go to a tracking server."""
    if search.get("storage"):
        url = str(search.storage)
    elif tracking_uri.startswith("sqlite:///"):
        url = f"sqlite:///{Path(tracking_uri.removeprefix('sqlite:///')).parent / STUDY_FILE}"
    else:
        url = f"sqlite:///{Path(root_dir) / study_file_for_server(tracking_uri)}"
    if url.rstrip("/") == tracking_uri.rstrip("/"):
        raise UserError(f"hparams_search.storage is the tracking store ({url}); MLflow and Optuna cannot share a "
                        f"database. Fix: leave hparams_search.storage=null (a {STUDY_FILE} beside it) or name another file")
    return url


def study_file_for_server(tracking_uri: str) -> str:
    """``optuna-HOST_PORT[_PATH].db`` for the server at ``tracking_uri``: the port its scheme
    implies when none is given, the path of a server behind a proxy, no user or password."""
    parts = urlsplit(tracking_uri)
    try:
        port = parts.port or {"https": 443}.get(parts.scheme, 80)
    except ValueError:  # not a number: the URI as written names it
        port = parts.netloc.rsplit(":", 1)[-1]
    where = f"{parts.hostname}_{port}{parts.path}" if parts.hostname else tracking_uri
    return f"optuna-{re.sub(r'[^A-Za-z0-9.-]+', '_', where).strip('_')}.db"


def open_study(name: str, url: str, direction: str = "maximize", sampler=None, pruner=None):
    """The study ``name`` in the storage at ``url``, created if new."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what each trial did
    return optuna.create_study(study_name=name, storage=storage_for(url), direction=direction, sampler=sampler,
                               pruner=pruner, load_if_exists=True)


def storage_for(url: str):
    """Optuna's storage at ``url``."""
    import optuna

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # parallel trials write their intermediate values while the sweeper reads: wait for locks
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
    return url


UNFINISHED_ATTR = "textclf.unfinished"  # a trial a stopped sweep left: failed, and not counted (sweeper)


def summary_tags(study) -> dict[str, str]:
    """What the parent run says about the study: best value and params (tags: MLflow params are
    immutable, and the best changes as the study goes on), and trial counts."""
    from optuna.trial import TrialState

    stopped = sum(bool(trial.user_attrs.get(UNFINISHED_ATTR)) for trial in study.trials)
    states = [trial.state for trial in study.trials]
    tags = {"optuna.study": study.study_name, "optuna.direction": study.direction.name.lower(),
            **{f"optuna.trials.{state.name.lower()}": str(states.count(state))
               for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)},
            "optuna.trials.unfinished": str(stopped)}  # failed because a sweep was stopped: not counted
    if any(state == TrialState.COMPLETE for state in states):
        best = study.best_trial
        tags.update({"optuna.best_value": f"{best.value:.6g}", "optuna.best_trial": str(best.number),
                     **{f"optuna.best.{key}": str(value) for key, value in best.params.items()}})
    return tags


def draw_plots(study, folder: Path) -> list[Path]:
    """Optuna's optimisation history, parameter importances and parallel coordinates as PNG files
    in ``folder`` (those the study has enough finished trials for)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as plots
    from optuna.trial import TrialState

    complete = [trial for trial in study.trials if trial.state == TrialState.COMPLETE]
    wanted = {"history": plots.plot_optimization_history}
    if len(complete) >= 2 and study.trials[0].params:
        wanted.update({"param_importances": plots.plot_param_importances,
                       "parallel_coordinates": plots.plot_parallel_coordinate})
    drawn = []
    for name, plot in wanted.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                axes = plot(study)
            except (ValueError, RuntimeError):  # e.g. importances of parameters that never varied
                continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        drawn.append(folder / f"{name}.png")
        figure.savefig(drawn[-1], dpi=110, bbox_inches="tight")
        plt.close(figure)
    return drawn
