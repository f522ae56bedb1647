"""Runs side by side: ``textclf compare`` and the table a sweep ends with.

Runs are ranked only against runs of the same task (a multi-label subset accuracy and a
multi-class accuracy are not the same score), best first in the metric's own direction (losses
and times ascending), with the headline metrics of their task and the params that differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from textclf.errors import UserError, did_you_mean
from textclf.evaluation import HEADLINE_METRICS, lower_is_better
from textclf.tracking.description import (AUDIT_TAG, OVERRIDES_TAG, SWEEP_METRIC_TAG, SWEEP_TAG, TASK_TAG,
                                         four_digits, task_from_config)
from textclf.tracking.store import store_errors_as_user_errors
from textclf.tracking.sweep_lookup import experiment_named, find_sweep

DEFAULT_METRIC = "validation/macro_f1"  # textclf compare ranks by it unless told (or a sweep ranked by another)
WIDTH = 120  # of the default table (``render``)
CV_METRIC = "cv/macro_f1"  # shown when a run of the table logged it (cv=kfold)
LONGEST_RUN_NAME = 36
NOT_LOGGED = "-"  # a metric or param a run lacks, in the table printed
SHORTEST_RUN_NAME = 28  # run names are cut down to this before a differing param is hidden: the model and
# its first setting ("minilm_setfit per_label=4 m…"), what tells the runs of one model apart
LONGEST_VALUE = 18
# Params that differ between any two runs by nature, so they say nothing about the difference.
RUN_SPECIFIC_PARAMS = {"paths.output_dir", "run_name", "model.name"}  # model.name: the run name says it
# Where a search keeps its study: set on every trial's command line ahead of the drawn values, it
# would take the first columns from them (the runs' textclf.study tag names the study).
SEARCH_BOOKKEEPING = {"hparams_search.study_name", "hparams_search.storage"}


@dataclass(frozen=True)
class Ranking:
    """The runs of one task, best first by ``metric``. ``table`` columns: ``run``, ``run_id``,
    the ``metrics``, then the ``params`` that differ between these runs (full dotted names)."""

    task: str
    metric: str
    table: pd.DataFrame
    metrics: tuple[str, ...]
    params: tuple[str, ...]


def compare_runs(tracking_uri: str, experiment: str, metric: str | None, columns: list[str] | None,
                 limit: int, every_table: bool = False, sweep: str | None = None,
                 experiment_given: bool = True) -> list[Ranking]:
    """An experiment's finished runs (not sweep parents), one ranking per task, by ``metric``
    (None: the one a sweep ranked its jobs by, else ``DEFAULT_METRIC``); ``every_table``: as
    ``rank_by_task`` says (one CSV of every task's runs); ``sweep``: only the jobs of the sweep it
    names (``find_sweep``)."""
    from textclf.tracking.runs import mlflow, open_store

    with store_errors_as_user_errors(tracking_uri):
        open_store(tracking_uri, "compare")
        wanted = "attributes.status = 'FINISHED'"
        parent = find_sweep(sweep, experiment, experiment_given) if sweep is not None else None
        if parent is None:
            experiment_id = experiment_named(experiment).experiment_id
        else:
            experiment_id = parent.info.experiment_id
            wanted += f" and tags.mlflow.parentRunId = '{parent.info.run_id}'"
            metric = metric or parent.data.tags.get(SWEEP_METRIC_TAG)
        metric = metric or DEFAULT_METRIC
        runs = mlflow.search_runs([experiment_id], filter_string=wanted, max_results=1000)
    if f"tags.{SWEEP_TAG}" in runs.columns:
        runs = runs[runs[f"tags.{SWEEP_TAG}"] != "parent"]
    if runs.empty and parent is not None:
        raise UserError(f"sweep {parent.info.run_id[:8]} has no finished runs (its jobs still run, or none finished). "
                        "Fix: wait for a job to finish, or see the sweep's runs in the MLflow UI")
    if runs.empty:
        others = other_experiments(tracking_uri, experiment)
        raise UserError(f"experiment {experiment!r} has no finished runs" + (
            f". Fix: pass --experiment NAME, one of {', '.join(others)}" if others else
            ". Fix: run python train.py first"))
    if f"metrics.{metric}" not in runs.columns:
        logged = [column.removeprefix("metrics.") for column in runs.columns
                  if column.startswith("metrics.") and "_per_label/" not in column]
        headline = [name for names in HEADLINE_METRICS.values() for name in names]
        logged.sort(key=lambda name: (headline.index(name) if name in headline else len(headline), name))
        shown = ", ".join(logged[:8]) + (f" and {len(logged) - 8} more" if len(logged) > 8 else "")
        raise UserError(f"no run logged metric {metric!r}{_did_you_mean_metric(metric, logged)}. Fix: pass --metric "
                        f"with a logged metric: {shown}")
    return rank_by_task(runs, metric, columns, limit, every_table)


def _did_you_mean_metric(metric: str, logged: list[str]) -> str:
    """A close spelling, or the split-prefixed names of a metric given without its split
    (``macro_f1``: ``validation/macro_f1`` or ``test/macro_f1``)."""
    with_split = [name for name in logged if "/" not in metric and name.rpartition("/")[2] == metric]
    if with_split:
        return f" (did you mean {' or '.join(repr(name) for name in with_split[:3])}?)"
    return did_you_mean(metric, logged)


def other_experiments(tracking_uri: str, experiment: str) -> list[str]:
    """The store's other experiments that hold finished training runs, among its latest 1,000
    (one request, however many experiments a team's server holds); the store is open. An audit's
    runs (``<experiment>-audit``) are left out: they log no score to rank by, only counts."""
    from mlflow.tracking import MlflowClient

    from textclf.tracking.runs import mlflow

    with store_errors_as_user_errors(tracking_uri):
        names = {found.experiment_id: found.name for found in mlflow.search_experiments() if found.name != experiment}
        finished = "attributes.status = 'FINISHED'"
        runs = MlflowClient().search_runs(list(names), finished, max_results=1000) if names else []
    return sorted({names[run.info.experiment_id] for run in runs if AUDIT_TAG not in run.data.tags})


def sweep_rankings(parent_run_id: str, metric: str) -> tuple[list[Ranking], int]:
    """The finished and failed jobs of a sweep (``sweep.ParentRunCallback``), ranked; and how many
    search trials were pruned (left out: they have no final scores)."""
    from textclf.tracking.runs import mlflow

    parent = mlflow.get_run(parent_run_id)
    runs = mlflow.search_runs([parent.info.experiment_id], max_results=1000,
                              filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'")
    pruned = (runs["tags.textclf.pruned"].notna() if "tags.textclf.pruned" in runs.columns
              else pd.Series(False, index=runs.index))
    runs = runs[~pruned]
    if runs.empty or f"metrics.{metric}" not in runs.columns:
        return [], int(pruned.sum())
    return rank_by_task(runs, metric, None, limit=len(runs)), int(pruned.sum())


def rank_by_task(runs: pd.DataFrame, metric: str, columns: list[str] | None, limit: int,
                 every_table: bool = False) -> list[Ranking]:
    """``runs`` as ``mlflow.search_runs`` returns them, split by task and ranked by ``metric``; a
    task none of whose runs logged ``metric`` (``test/hamming_loss`` of multi-class runs) has
    none. Each table shows the params that differ between its runs, or, ``every_table``, between
    any runs (the tables then stack into one CSV, each run with its own values)."""
    tasks = _tasks(runs)
    rankings = []
    across = _differing_params(runs) if every_table else None
    for task in sorted(set(tasks), key=lambda name: (name != "multiclass", name)):
        group = runs[tasks == task].sort_values(f"metrics.{metric}", ascending=lower_is_better(metric),
                                                na_position="last").head(limit)
        if group[f"metrics.{metric}"].isna().all():
            continue
        # a cross-validated run's mean over folds beside the validation score it is judged on
        folds = [CV_METRIC] if not columns and group.get(f"metrics.{CV_METRIC}", pd.Series()).notna().any() else []
        wanted = list(dict.fromkeys([metric, *folds, *(columns or HEADLINE_METRICS.get(task, ()))]))
        table = pd.DataFrame({"run": group["tags.mlflow.runName"].fillna("-"), "run_id": group["run_id"].str[:8]})
        metrics = tuple(name for name in wanted if f"metrics.{name}" in group.columns)
        for name in metrics:
            table[name] = [float(f"{value:.4g}") for value in group[f"metrics.{name}"]]
        params = tuple(column.removeprefix("params.") for column in (across or _differing_params(group)))
        for name in params:
            table[name] = group[f"params.{name}"].fillna("-")
        rankings.append(Ranking(task, metric, table.reset_index(drop=True), metrics, params))
    return rankings


def _tasks(runs: pd.DataFrame) -> pd.Series:
    """Each run's task: its tag, or for runs older than the tag, its task config."""
    from_config = runs.get("params.task._target_", pd.Series("", index=runs.index)).fillna("")
    derived = from_config.map(task_from_config)
    tagged = runs.get(f"tags.{TASK_TAG}", pd.Series(None, index=runs.index, dtype=object))
    return tagged.fillna(derived)


def _differing_params(runs: pd.DataFrame) -> list[str]:
    """Params that differ: first those the runs' overrides set (what the user changed), then those
    every run has, with short names first (a param only some runs have is usually part of a
    structure another run lacks altogether, a second vectorizer)."""
    overridden: dict[str, int] = {}  # each key the overrides set, in the order they name it
    for overrides in runs.get(f"tags.{OVERRIDES_TAG}", pd.Series(dtype=object)).dropna():
        for override in str(overrides).split():
            overridden.setdefault(override.split("=", 1)[0].lstrip("+~"), len(overridden))
    differing = [column for column in runs.columns if column.startswith("params.")
                 and column.removeprefix("params.") not in RUN_SPECIFIC_PARAMS | SEARCH_BOOKKEEPING
                 and runs[column].nunique(dropna=False) > 1]
    return sorted(differing, key=lambda column: (overridden.get(column.removeprefix("params."), len(overridden)),
                                                 runs[column].isna().any(), column.count("."), column))


def render(ranking, wide: bool, markdown: bool = False, wide_command: str = "textclf compare --wide") -> str:
    """One task's ranking: a heading (which names the task), the table, and what was left out to
    fit ``WIDTH``, with ``wide_command``, the command that shows it."""
    direction = "lowest" if lower_is_better(ranking.metric) else "highest"
    heading = f"{ranking.task}: {len(ranking.table)} run(s), {direction} {ranking.metric} first"
    table = ranking.table.copy()
    hidden = 0
    if not wide:
        table["run"] = _without_shared_overrides(table["run"])
        params = _distinct(table, list(ranking.params))
        table = table.drop(columns=[name for name in ranking.params if name not in params])
        # A sweep's run names spell out the params that differ: they are cut first, down to
        # SHORTEST_RUN_NAME, then params go from the right until the table fits.
        for longest in range(LONGEST_RUN_NAME, SHORTEST_RUN_NAME - 1, -4):
            shortened = _shortened(table.drop(columns="run_id"), params, longest)
            if _width(shortened, markdown) <= WIDTH or not params:
                break
        table = shortened
        while _width(table, markdown) > WIDTH and len(table.columns) > 1 + len(ranking.metrics):
            table = table.iloc[:, :-1]
            hidden += 1
    body = _markdown(table) if markdown else _plain(table)
    note = f"\n({hidden} more differing param(s) hidden: {wide_command} shows every one)" if hidden else ""
    return f"{heading}\n{body}{note}"


def _without_shared_overrides(names: pd.Series) -> pd.Series:
    """Run names without the overrides that every run of the same model holds (``data=files
    data.train=...`` in every run on a user's data, which left each name cut to the same
    ``tfidf_linearsvc dat…``): a name tells the runs of its model apart, the param columns
    the rest. A model run once keeps its overrides unless every run holds them."""
    words = [str(name).split(" ") for name in names]
    if len(words) < 2:
        return names
    overrides = [{word for word in run[1:] if "=" in word} for run in words]
    everywhere = set.intersection(*overrides)
    by_model: dict[str, list[set[str]]] = {}
    for run, held in zip(words, overrides):
        by_model.setdefault(run[0], []).append(held)
    shared = {model: set.intersection(*held) if len(held) > 1 else everywhere for model, held in by_model.items()}
    return pd.Series([" ".join(word for word in run if word not in shared[run[0]]) for run in words],
                     index=names.index)


def _distinct(table: pd.DataFrame, params: list[str]) -> list[str]:
    """``params`` without copies of an earlier one: the same values and the same last name part (a
    setting the config copies into its estimator, ``features.sublinear_tf`` and
    ``features.transformer.sublinear_tf``) or a constructor's positional argument (the config
    builds a tuple from a setting: ``features.transformer.ngram_range._args_.0`` from
    ``features.word_ngram_range``)."""
    kept: list[str] = []
    for name in params:
        if not any((name.split(".")[-1] == earlier.split(".")[-1] or "._args_." in name)
                   and table[name].equals(table[earlier]) for earlier in kept):
            kept.append(name)
    return kept


def _shortened(table: pd.DataFrame, params: list[str], longest_run_name: int) -> pd.DataFrame:
    """Run names and param values cut to a readable length; param names to their last parts."""
    table = table.copy()
    table["run"] = table["run"].map(lambda name: _cut(str(name), longest_run_name))
    renamed = dict(zip(params, short_names(params)))
    for column in params:
        table[column] = table[column].map(lambda value: _cut(_short_value(str(value)), LONGEST_VALUE))
    return table.rename(columns=renamed)


def short_names(names: list[str]) -> list[str]:
    """The fewest trailing parts of each dotted name that keep them apart:
    ``model.classifier.C`` -> ``C``; ``features.word.ngram_range`` -> ``word.ngram_range``."""
    def suffix(name: str, parts: int) -> str:
        return ".".join(name.split(".")[-parts:])

    shortened = []
    for name in names:
        parts = 1
        while parts <= name.count(".") and sum(suffix(other, parts) == suffix(name, parts) for other in names) > 1:
            parts += 1
        shortened.append(suffix(name, parts))
    return shortened


def _short_value(value: str) -> str:
    """``sklearn.linear_model.LogisticRegression`` -> ``LogisticRegression``; a number to four
    significant digits (``0.23345864076016243`` -> ``0.2335``: ``description.four_digits``)."""
    if (number := four_digits(value)) != value:
        return number
    *module, name = value.split(".")
    return name if module and name[:1].isupper() and " " not in value else value


def _cut(text: str, length: int) -> str:
    """``text`` in at most ``length`` characters; a path keeps its end, where its file names differ
    (two runs' ``/data/news/news.csv`` and ``.../news.jsonl`` were both ``/data/news/news.…``)."""
    if len(text) <= length:
        return text
    return "…" + text[-(length - 1):] if "/" in text and " " not in text else text[: length - 1] + "…"


def _width(table: pd.DataFrame, markdown: bool) -> int:
    text = _markdown(table) if markdown else _plain(table)
    return max(len(line) for line in text.splitlines())


def _plain(table) -> str:
    """``table`` as text; a metric a run did not log (cv/macro_f1 of a run without folds) is ``-``,
    as a param it lacks."""
    return table.to_string(index=False, na_rep=NOT_LOGGED)


def _markdown(table) -> str:
    """``table`` as a Markdown table, its scores written as the plain table writes them (``0.8000``)."""
    cells = table.astype(object).copy()
    for column in table.columns:
        if pd.api.types.is_float_dtype(table[column]):
            cells[column] = table[column].to_string(index=False, header=False, na_rep=NOT_LOGGED).splitlines()
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(str(value).strip() for value in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
