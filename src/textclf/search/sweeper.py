"""``python train.py -m hparams_search=NAME``: an Optuna study run as a Hydra sweep.

The hydra-optuna-sweeper plugin pins optuna<3 and fails on SQLAlchemy 2 storage, so textclf
carries its own (``hydra_plugins/textclf_optuna_sweeper`` hands Hydra this class). Each round
asks the study for ``n_jobs`` trials (one in the first round: a refused setting then fails once),
launches them as one batch through Hydra's launcher (the joblib launcher runs them side by side),
and tells the study how each ended: its
``optimized_metric``, pruned, or failed. Trials register nothing; at the end the parent run gets
the study's best value and params as tags and Optuna's plots as artifacts, and with
``hparams_search.register_best=true`` the best configuration is fitted once more and registered
under the usual champion rule.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from pathlib import Path

from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from textclf.config import UNCHOSEN_GROUPS, check_sweep_settings
from textclf.errors import Interrupted, UserError
from textclf.evaluation import lower_is_better
from textclf.search import space as search_space
from textclf.search.study import UNFINISHED_ATTR, draw_plots, open_study, storage_url, study_name, summary_tags
from textclf.search.trial import PRUNED_ATTR, VALUE_ATTR


_ABSENT = object()  # OmegaConf.select's answer for a key the config does not have


def _has_key(config: DictConfig, key: str) -> bool:
    return OmegaConf.select(config, key, default=_ABSENT, throw_on_resolution_failure=False) is not _ABSENT


class StudySweeper:
    """The work of ``OptunaSweeper`` (its parameters are ``hydra.sweeper``'s keys)."""

    def __init__(self, n_trials: int, n_jobs: int, timeout: float | None, direction: str, sampler, params):
        self.n_trials, self.n_jobs, self.timeout = n_trials, n_jobs, timeout
        self.direction, self.sampler, self.params = direction, sampler, params

    def _check_direction(self, metric: str) -> None:
        """A loss maximised (or a score minimised) would search for the worst settings."""
        wanted = "minimize" if lower_is_better(metric) else "maximize"
        if str(self.direction).lower() != wanted:
            raise UserError(f"optimized_metric={metric} is better when {'lower' if wanted == 'minimize' else 'higher'}, "
                            f"and hydra.sweeper.direction={self.direction} would search for its worst. "
                            f"Fix: pass hydra.sweeper.direction={wanted}")

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context,
                                                                task_function=task_function)
        self.job_number = 0

    def sweep(self, arguments: list[str]) -> None:
        search = self.config.get("hparams_search")
        if search is None:
            raise UserError("hydra/sweeper=textclf_optuna needs a search space. Fix: pass hparams_search=NAME "
                            "(configs/hparams_search/)")
        check_sweep_settings(self.config)  # as the sweep's parent run callback did before it began
        self._check_direction(str(self.config.optimized_metric))
        name = study_name(search, self.config.data.name, arguments)
        url = storage_url(search, self.config.tracking.uri, self.config.paths.root_dir)
        space, pinned = search_space.with_command_line(
            search_space.distributions(OmegaConf.to_container(self.params, resolve=True)), arguments)
        self._check_choices(space)
        study = open_study(name, url, self.direction, pruner=instantiate(search.pruner))
        created = not study.trials
        close_abandoned_trials(study)
        # Seeded by how far the study has got, so a continued study does not redraw its first trials.
        study.sampler = instantiate(self.sampler, seed=self.config.seed + len(study.trials)) \
            if "seed" in self.sampler else instantiate(self.sampler)
        done = len(counted_trials(study))
        print(f"study '{name}' in {url}: {done} trial(s) so far, {max(self.n_trials - done, 0)} to run")
        job = [*pinned, f"hparams_search.study_name={_quoted(name)}", f"hparams_search.storage={_quoted(url)}"]
        started = time.monotonic()
        while (count := len(counted_trials(study))) < self.n_trials:
            if self._out_of_time(started) and count > done:  # the first round always runs
                print(f"hydra.sweeper.timeout={self.timeout} s reached: no new trial started")
                break
            # The first round runs one trial alone: a setting the model refuses then stops the search
            # with one error line, not one per parallel job.
            size = 1 if count == done else self.n_jobs
            batch: list = []
            with _unfinished_if_stopped(study, batch), _undone_if_refused(study, created and count == 0):
                batch.extend(study.ask(space) for _ in range(min(size, self.n_trials - count)))
                returns = self._launch([[*job, *search_space.as_overrides(trial.params),
                                         f"hparams_search.trial={trial.number}"] for trial in batch])
                for trial, returned in zip(batch, returns):
                    tell(study, trial, returned)
        self._record(study)
        if search.register_best and _has_best(study):
            print(f"refitting the best trial ({study.best_trial.number}) to register it")
            best = study.best_trial.params  # wins over a pin of this invocation's command line
            kept = [override for override in job if override.split("=", 1)[0].lstrip("+~") not in best]
            self._launch([[*kept, *search_space.as_overrides(best), "tracking.register=true"]])

    def _check_choices(self, space: dict) -> None:
        """Each value of a choice among a config group's options (``features=tfidf_word,tfidf_wrd``)
        must name one, checked before the study opens: a mistyped one stops the search here, in
        one line, not when a trial draws it, mid-study. (Values of plain keys are checked by the
        trial that uses them: whether one is valid may depend on the other choices.)"""
        from optuna.distributions import CategoricalDistribution

        loader = self.hydra_context.config_loader
        for key, distribution in space.items():
            if isinstance(distribution, CategoricalDistribution) and loader.repository.group_exists(key):
                options = [option for option in loader.get_group_options(key) if not option.startswith("_")]
                for value in distribution.choices:
                    if str(value) not in options:
                        raise UserError(f"the search's choice {key}={value} names no option of {key} (choose one "
                                        f"of: {', '.join(options)}). Fix: pick an existing option")
        self._check_keys(space)

    def _check_keys(self, space: dict) -> None:
        """Each searched key must be one of the config's, unless a searched group may bring it
        (``features.min_df`` beside ``features=...``): a space written for another model
        (``hparams_search=tfidf_linearsvc model=tfidf_nb``) or a mistyped key stops here."""
        groups = OmegaConf.select(self.config, "hydra.runtime.choices", default=None) or {}
        searched_groups = {key for key in space if key in groups}
        for key in space:
            group = key.split(".")[0]
            if key in groups or group in searched_groups or _has_key(self.config, key):
                continue
            if group in UNCHOSEN_GROUPS and not OmegaConf.select(self.config, group, default=None):
                raise UserError(f"the search's key {key} exists once {group} is chosen, and it is not. Fix: choose it "
                                f"first, e.g. {UNCHOSEN_GROUPS[group]}")
            if group in groups:
                raise UserError(f"the search's key {key} is not a key of {group}={groups[group]}. Fix: check its spelling, "
                                f"or search the {group} its space was written for (configs/hparams_search/)")
            raise UserError(f"the search's key {key} is not a config key. Fix: check its spelling (python train.py "
                            "--cfg job shows every key)")

    def _launch(self, batch: list[list[str]]):
        returns = self.launcher.launch(batch, initial_job_idx=self.job_number)
        self.job_number += len(batch)
        return returns

    def _out_of_time(self, started: float) -> bool:
        return self.timeout is not None and time.monotonic() - started > self.timeout

    def _record(self, study) -> None:
        """The study's best on the terminal and, as tags and plots, on the sweep's parent run."""
        from textclf.tracking.sweep_parent import PARENT_RUN_ENV
        from textclf.tracking.sweep import log_study

        tags = summary_tags(study)
        if "optuna.best_value" in tags:
            best = " ".join(search_space.as_overrides(study.best_trial.params))
            # the score as run summaries give it (1.0 read "1"); the settings exact, to rerun
            print(f"best: trial {tags['optuna.best_trial']}, {self.config.optimized_metric} "
                  f"{study.best_value:.3f}: {best}")
        parent = os.environ.get(PARENT_RUN_ENV)
        if parent:
            with tempfile.TemporaryDirectory() as folder:
                log_study(parent, tags, draw_plots(study, Path(folder)))


def tell(study, trial, returned) -> None:
    """Tell the study how a trial's job ended: its value, pruned (the job marked it so), or failed."""
    from optuna.trial import TrialState

    value = returned._return_value if returned.status == JobStatus.COMPLETED else None  # noqa: SLF001 - no raise
    if isinstance(value, (int, float)) and math.isfinite(value):
        study.tell(trial, float(value))
    elif PRUNED_ATTR in study.trials[trial.number].user_attrs:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)
        print(f"trial {trial.number} failed: {value if value is not None else 'no score'}")


def counted_trials(study) -> list:
    """The trials ``n_trials`` counts: all but those a stopped sweep left unfinished, so that
    rerunning the command runs as many trials as it asks for."""
    return [trial for trial in study.get_trials(deepcopy=False) if not trial.user_attrs.get(UNFINISHED_ATTR)]


def close_abandoned_trials(study, count_unfinished: bool = False) -> tuple[list[int], list[int]]:
    """Trials left RUNNING by a sweep that was killed, or by this one as it stops. One whose job
    finished and recorded its value (``trial.record_value``) completes with it; one whose job's
    pruner stopped it is pruned; any other failed, unfinished (not counted; ``count_unfinished``:
    a plain failure, counted). The numbers of the finished ones and of the others. One sweeper
    works on a study at a time, so every RUNNING trial is one that no job will finish now."""
    import optuna
    from optuna.trial import TrialState

    finished, unfinished = [], []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # textclf queues none WAITING
        trial = optuna.trial.Trial(study, frozen._trial_id)  # noqa: SLF001 - its storage id
        if VALUE_ATTR in frozen.user_attrs:
            study.tell(trial, frozen.user_attrs[VALUE_ATTR])
            finished.append(frozen.number)
        elif PRUNED_ATTR in frozen.user_attrs:
            study.tell(trial, state=TrialState.PRUNED)
            finished.append(frozen.number)
        else:
            if count_unfinished:
                study.tell(trial, state=TrialState.FAIL)
            else:
                _end_unfinished(study, trial)
            unfinished.append(frozen.number)
    return finished, unfinished


def _end_unfinished(study, trial) -> None:
    """Fail ``trial`` (an ``optuna.trial.Trial``), marked as not to be counted."""
    from optuna.trial import TrialState

    trial.set_user_attr(UNFINISHED_ATTR, True)
    study.tell(trial, state=TrialState.FAIL)


@contextlib.contextmanager
def _unfinished_if_stopped(study, batch: list):
    """Ctrl-C while a batch is drawn, runs or is told: its trials not yet told end unfinished
    (unless their jobs had finished), and the search stops with one line. That includes a trial
    ``study.ask`` had stored but not yet returned into ``batch`` when Ctrl-C landed. (A job run in
    this process by Hydra's basic launcher reports the interrupt itself, for its run, and exits
    130: its trial ends unfinished all the same.)"""
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as stop:
        if isinstance(stop, SystemExit) and stop.code != 130:  # a job refused its setting: its trial failed
            _fail_running_trials(study)
            raise
        try:
            finished, stopped = close_abandoned_trials(study)
        except Exception:  # noqa: BLE001 - the study cannot be written now: the rerun ends them instead
            finished, stopped = [], [trial.number for trial in batch]
        if isinstance(stop, SystemExit):
            raise
        counted = f"; trial(s) {', '.join(map(str, finished))} had finished and count" if finished else ""
        raise Interrupted(f"interrupted: the search stopped; trial(s) {', '.join(map(str, stopped)) or 'none'} "
                          f"did not finish and do not count{counted} (rerun the same command to continue the "
                          "study)") from None


def _fail_running_trials(study) -> None:
    """The trials of a batch whose job stopped the search (a setting the model refused, one line
    from the job): those whose jobs had finished keep their values, the others fail, counted as
    any failed trial is (they were left RUNNING)."""
    try:
        close_abandoned_trials(study, count_unfinished=True)
    except Exception:  # noqa: BLE001 - the study cannot be written now: the rerun ends them instead
        pass


@contextlib.contextmanager
def _undone_if_refused(study, first_round_of_new_study: bool):
    """A job Hydra cannot compose (a searched key that names no config key, ``key=a,b`` on the
    command line): train.py reports it in one line. In the first round of a study this sweep
    created, the study goes too (its name holds the mistyped key: the corrected command would
    start another); otherwise the round's trials end unfinished."""
    import optuna
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except (HydraException, OmegaConfBaseException):
        try:
            if first_round_of_new_study:
                optuna.delete_study(study_name=study.study_name, storage=study._storage)  # noqa: SLF001 - its timeout
            else:
                close_abandoned_trials(study)
        except Exception:  # noqa: BLE001 - the study cannot be written now: the rerun ends its trials instead
            pass
        raise


def _has_best(study) -> bool:
    from optuna.trial import TrialState

    return any(trial.state == TrialState.COMPLETE for trial in study.trials)


def _quoted(value: str) -> str:
    """A value Hydra's override grammar reads back as the same string (spaces, slashes, colons)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
