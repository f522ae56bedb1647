"""``textclf compare``: an experiment's runs as a table, best first."""

from __future__ import annotations

import sys

from textclf.safe_csv import write_rows


def compare(args, default_tracking_uri: str) -> None:
    from textclf.tracking.runs import compare_runs

    table = compare_runs(args.tracking_uri or default_tracking_uri, args.experiment, args.metric,
                         [c for c in args.columns.split(",") if c], args.limit)
    if args.format == "csv":
        write_rows(sys.stdout, [list(table.columns), *table.itertuples(index=False)])
    elif args.format == "markdown":
        print(_markdown(table))
    else:
        print(table.to_string(index=False))


def _markdown(table) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(str(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
