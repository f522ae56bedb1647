"""``textclf compare``: an experiment's runs, ranked within each task, as a table that fits a
120-column terminal (``--wide``: every differing param, names and values in full)."""

from __future__ import annotations

import shlex
import sys

import pandas as pd

from textclf.safe_csv import write_rows


def compare(args, tracking_uri: str, default_experiment: str) -> None:
    from textclf.tracking.comparison import compare_runs, other_experiments, render

    columns = [c for c in args.columns.split(",") if c] if args.columns else None
    csv = args.format == "csv"  # for other programs: one table, every column, full names
    experiment = args.experiment or default_experiment
    rankings = compare_runs(tracking_uri, experiment, args.metric, columns, args.limit, every_table=csv,
                            sweep=args.sweep, experiment_given=args.experiment is not None)
    others = other_experiments(tracking_uri, experiment) if args.experiment is None and args.sweep is None else []
    if others:  # runs of your own data are in an experiment named after it (data.name), not in the default one
        print(f"other experiments with runs: {', '.join(others)} (textclf compare --experiment NAME)", file=sys.stderr)
    if csv:
        tables = [ranking.table.assign(task=ranking.task) for ranking in rankings]
        # a value a run lacks (another task's metric, a param it has none of) is an empty cell
        table = pd.concat(tables, ignore_index=True).astype(object)
        table = table.where(table.notna() & (table != "-"), "")
        table = table[["run", "task", *[c for c in table.columns if c not in ("run", "task")]]]
        write_rows(sys.stdout, [list(table.columns), *table.itertuples(index=False)])
        return
    # this command as the user typed it (its --experiment, --sweep, store), plus --wide
    wide_command = shlex.join(["textclf", "compare", *_without_passwords(args.command_arguments), "--wide"])
    print("\n\n".join(render(ranking, args.wide, markdown=args.format == "markdown", wide_command=wide_command)
                      for ranking in rankings))


def _without_passwords(arguments: list[str]) -> list[str]:
    """``arguments`` as typed, a store URI's password hidden as every printed store is
    (``--tracking-uri postgresql://u:***@host/db``)."""
    from textclf.tracking.store import shown

    hidden = []
    for argument in arguments:
        flag, equals, value = argument.partition("=") if argument.startswith("--") else ("", "", argument)
        hidden.append(f"{flag}={shown(value)}" if equals else shown(argument))
    return hidden
