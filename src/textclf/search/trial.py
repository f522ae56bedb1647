"""Inside one trial's job: report held-out scores to the study, and stop when the pruner says so.

The sweeper (``search.sweeper``) asks the study for a trial and launches a job with
``hparams_search.trial=N`` (and the study's name and storage). The job's run listens to the
held-out scores its training reports (``held_out_reports``): each fold's with ``cv=kfold``, else
each epoch's. Each is stored as the trial's intermediate value; when the study's pruner (Optuna's
median pruner by default) finds it worse than the median of earlier trials at the same step, the
run stops with ``errors.Pruned`` and ends KILLED, tagged as pruned. A run that finishes records
its value on its trial (``record_value``), so that a sweep stopped before it heard the job's
return still counts the trial.
"""

from __future__ import annotations

import math

from hydra.utils import instantiate
from omegaconf import DictConfig

from textclf.errors import Pruned, UserError

PRUNED_ATTR = "pruned"
VALUE_ATTR = "textclf.value"  # a finished job's optimized_metric, written by the job itself


def search_trial_number(cfg: DictConfig) -> int | None:
    """The trial number a search launched this run as (``hparams_search.trial``); else None."""
    search = cfg.get("hparams_search")
    return None if search is None or search.get("trial") is None else int(search.trial)


def check_search_is_swept(cfg: DictConfig, multirun: bool) -> None:
    """``hparams_search=NAME`` without ``-m`` trained one ordinary run, silently: a search is a
    sweep. (A trial, or the refit of the best, is a job of one: ``hparams_search.trial`` or ``-m``.)"""
    if not multirun and cfg.get("hparams_search") is not None and search_trial_number(cfg) is None:
        raise UserError(f"hparams_search={cfg.hparams_search.name} runs a search, which is a sweep of trials. Fix: "
                        f"add -m: python train.py -m hparams_search={cfg.hparams_search.name}")


def search_trial(cfg: DictConfig) -> "TrialReporter | None":
    """The trial this run is, when a search launched it; else None."""
    if search_trial_number(cfg) is None:
        return None
    search = cfg.hparams_search
    if cfg.get("cv") is not None:
        return TrialReporter(search, steps="fold", metric=f"cv_fold/{cfg.cv.score}")
    return TrialReporter(search, steps="epoch", metric="train/held_out_macro_f1")


def is_refit(cfg: DictConfig) -> bool:
    """Whether this run is a search's refit of its best trial (launched with the study, no trial)."""
    search = cfg.get("hparams_search")
    return search is not None and bool(search.get("study_name")) and search_trial_number(cfg) is None


def run_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags for a run a search launched: its study, and its trial number or its role as the refit."""
    search = cfg.get("hparams_search")
    if search is None or not search.get("study_name"):
        return {}
    if is_refit(cfg):
        return {"textclf.study": str(search.study_name), "textclf.search": "refit of the best trial"}
    return {"textclf.study": str(search.study_name), "optuna.trial": str(search_trial_number(cfg))}


def record_value(cfg: DictConfig, value: float) -> None:
    """A finished trial's value, kept on its trial in the study: the sweep reads it from there if
    Ctrl-C stops the sweep between this job's end and its return reaching the sweep (joblib
    returns a batch's values all together or not at all)."""
    if search_trial_number(cfg) is not None and math.isfinite(value):
        _trial(cfg.hparams_search).set_user_attr(VALUE_ATTR, float(value))


def _trial(search: DictConfig):
    """Trial ``search.trial`` of the study ``search.study_name`` in ``search.storage``."""
    import optuna

    from textclf.search.study import storage_for

    storage = storage_for(str(search.storage))
    study = optuna.load_study(study_name=str(search.study_name), storage=storage, pruner=instantiate(search.pruner))
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name),
                                                               int(search.trial))
    return optuna.trial.Trial(study, trial_id)


class TrialReporter:
    """Listens to held-out reports of one kind (``steps``: "fold" or "epoch") for trial
    ``search.trial`` of the study ``search.study_name`` in ``search.storage``. ``metric``: the
    run's metric those scores are the steps of (a pruned run logs the ones reported so far)."""

    def __init__(self, search: DictConfig, steps: str, metric: str):
        self.steps, self.metric = steps, metric
        self.reported: list[tuple[int, float]] = []
        self.trial = _trial(search)

    def __call__(self, kind: str, step: int, value: float) -> None:
        if kind != self.steps:
            return
        self.trial.report(value, step)
        self.reported.append((step, value))
        if self.trial.should_prune():
            self.trial.set_user_attr(PRUNED_ATTR, f"{kind} {step}")
            raise Pruned(kind, step, value, self.metric, self.reported)
