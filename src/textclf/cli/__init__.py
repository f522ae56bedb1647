"""The ``textclf`` command: ``textclf predict`` tags texts, ``textclf compare`` lists runs,
``textclf verify`` checks a stored model.

User errors print one line and exit 2; Ctrl-C exits 130 (see ``errors``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from textclf.cli.errors import report_user_errors

DEFAULT_MODEL_URI = "models:/diplomacy-topics@champion"


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
    predict.add_argument("--no-verify", action="store_true",
                         help="load the model without checking its files against their recorded digest (its code runs)")

    verify = commands.add_parser("verify", help="check a stored model's files against the digest recorded when it was logged")
    verify.add_argument("--model-uri", default=DEFAULT_MODEL_URI, help=f"registered model or run (default: {DEFAULT_MODEL_URI})")
    verify.add_argument("--tracking-uri", default=None, help="MLflow store (default: MLFLOW_TRACKING_URI or ./mlflow.db)")

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
        from textclf.cli.predict import predict

        predict(args, default_tracking_uri())
    elif args.command == "verify":
        from textclf.tracking.runs import verify_model

        folder = verify_model(args.model_uri, args.tracking_uri or default_tracking_uri())
        print(f"ok: {args.model_uri} matches the digest recorded when it was logged ({folder})")
    else:
        from textclf.cli.compare import compare

        compare(args, default_tracking_uri())
