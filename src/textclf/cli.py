"""The ``textclf`` command: ``textclf predict`` tags texts, ``textclf compare`` lists runs.

User errors print one line and exit 2; Ctrl-C exits 130. Neither prints a traceback unless
``TEXTCLF_DEBUG=1`` is set.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from pathlib import Path

from textclf.errors import UserError

DEFAULT_MODEL_URI = "models:/diplomacy-topics@champion"


def report_user_errors(function):
    """Turn ``UserError`` into one line on stderr and exit 2; Ctrl-C into exit 130."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except UserError as error:
            if os.environ.get("TEXTCLF_DEBUG"):
                raise
            print(f"error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            print("interrupted: the run was marked KILLED and nothing was registered", file=sys.stderr)
            sys.exit(130)

    return wrapper


def report_config_errors(hydra_main):
    """Run a ``@hydra.main`` function, turning config and override mistakes into one line.

    train.py sets ``HYDRA_FULL_ERROR=1`` so Hydra raises instead of printing its own multi-line
    report; a genuine bug still shows its full traceback.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    @functools.wraps(hydra_main)
    def wrapper():
        try:
            return hydra_main()
        except (HydraException, OmegaConfBaseException) as error:
            if os.environ.get("TEXTCLF_DEBUG"):
                raise
            print(f"error: {describe_config_error(error)}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def describe_config_error(error: Exception) -> str:
    from omegaconf.errors import OmegaConfBaseException

    message = str(error).strip()
    first = message.splitlines()[0] if message else type(error).__name__
    if "Available options in" in message:
        listing = message.split("Available options in", 1)[1].split("Config search path")[0]
        options = [line.strip() for line in listing.splitlines()[1:] if line.strip()]
        return f"{first} (choose one of: {', '.join(options)}). Fix: pick an existing option"
    if getattr(error, "override", None):
        return (f"cannot parse override {error.override!r}: {first}. Fix: write key=value, quoting values "
                "with spaces or brackets")
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    full_key = getattr(cause, "full_key", None)
    if "not in struct" in str(cause) and full_key:
        return (f"unknown config key {full_key!r}. Fix: check its spelling (python train.py --cfg job shows every key), "
                f"or add a new key with +{full_key}=VALUE")
    if "Could not override" in message and full_key:
        return f"cannot override {full_key!r}: {first}. Fix: check the key name and value"
    return f"{first.rstrip('.')}. Fix: check the command-line overrides (python train.py --help)"


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textclf", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="tag texts with a saved model")
    predict.add_argument("input", nargs="?", default="-",
                         help="CSV, JSONL or text file (one text a line); '-' or nothing reads stdin")
    predict.add_argument("--model-uri", default=DEFAULT_MODEL_URI,
                         help=f"any MLflow model URI (default: {DEFAULT_MODEL_URI})")
    predict.add_argument("--output", "-o", default="-", help="output file, .csv or .jsonl ('-' = stdout)")
    predict.add_argument("--format", choices=["csv", "jsonl"], help="output format (default: from --output, else csv)")
    predict.add_argument("--text-column", default="text", help="text column of a CSV/JSONL input")
    predict.add_argument("--tracking-uri", default=None, help="MLflow store (default: MLFLOW_TRACKING_URI or ./mlflow.db)")

    compare = commands.add_parser("compare", help="list an experiment's runs, best first")
    compare.add_argument("--experiment", default="diplomacy", help="experiment name (default: diplomacy)")
    compare.add_argument("--metric", default="validation/macro_f1", help="sort by this metric (descending)")
    compare.add_argument("--columns", default="validation/macro_f1,test/macro_f1,test/accuracy,fit_seconds",
                         help="comma-separated metrics to show")
    compare.add_argument("--limit", type=int, default=50, help="show at most this many runs")
    compare.add_argument("--format", choices=["table", "markdown", "csv"], default="table")
    compare.add_argument("--tracking-uri", default=None, help="MLflow store (default: MLFLOW_TRACKING_URI or ./mlflow.db)")
    return parser


def command() -> None:
    """The ``textclf`` command: ``main``, then an exit without the interpreter's teardown."""
    main()
    # Everything is written by now. Tearing down MLflow, SciPy and SQLAlchemy would take 0.6 s of
    # a 3-second `textclf predict`; only the command skips it, main() stays safe to call.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)


@report_user_errors
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "predict":
        predict(args)
    else:
        compare(args)


def predict(args) -> None:
    from textclf.predict_io import read_texts, write_predictions

    texts = read_texts(args.input, args.text_column)
    from textclf import tracking

    model = tracking.load_model(args.model_uri, args.tracking_uri or default_tracking_uri())
    import pandas as pd

    predictions = model.predict(pd.DataFrame({"text": texts}))
    predictions.insert(0, "text", texts)
    write_predictions(predictions, args.output, args.format)


def compare(args) -> None:
    from textclf import tracking

    table = tracking.compare_runs(args.tracking_uri or default_tracking_uri(), args.experiment, args.metric,
                                  [c for c in args.columns.split(",") if c], args.limit)
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "markdown":
        print(_markdown(table))
    else:
        print(table.to_string(index=False))


def _markdown(table) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(str(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


if __name__ == "__main__":
    command()
