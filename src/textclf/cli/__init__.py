"""The ``textclf`` command: ``textclf predict`` tags texts (or whole articles), ``textclf compare``
lists runs, ``textclf verify`` checks a stored model, ``textclf audit`` and ``suggest`` look at
data, ``textclf server`` runs a team's tracking server.

User errors print one line and exit 2; Ctrl-C exits 130 (see ``errors``). Each command reads the
store ``tracking.discovery`` finds, as ``train.py`` does, and never creates one.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys

from textclf import __version__
from textclf.cli.errors import exit_without_teardown, report_user_errors

DEFAULT_MODEL_URI = "models:/diplomacy-topics@champion"
DEFAULT_EXPERIMENT = "diplomacy"  # textclf compare's, train.py's on the seed corpus
OUTPUT_FORMAT_HELP = ("output format (default: jsonl for a .jsonl or .json --output; csv for .csv, .txt, no "
                      "extension or stdout; another extension is refused)")
# Shown by --help, which prints it as it is: plain text, unlike the module docstring.
DESCRIPTION = ("Tag texts or whole articles with a trained model (predict), list an experiment's runs "
               "(compare), check a stored model's files (verify), find problems in labeled data (audit), "
               "pick texts to label next (suggest), run a team's tracking server (server).")
TRACKING_URI_HELP = ("MLflow store (default: MLFLOW_TRACKING_URI, else mlflow.db in the textclf project "
                     "folder this runs in; a missing sqlite file is refused, never created)")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, reporting a bad flag as textclf reports any bad input: one ``error:`` line, exit 2
    (argparse's own report puts the whole usage above it)."""

    def error(self, message: str):
        fix = "" if "Fix:" in message else f". Fix: see {self.prog} --help"
        self.exit(2, f"error: {message}{fix}\n")


def top_k_count(text: str) -> int:
    """``--top-k``: a whole number, 1 or more (more than the model's classes is refused once known)."""
    value = int(text) if text.strip().isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}. "
                                         "Fix: pass e.g. --top-k 3")
    return value


def port_number(text: str) -> int:
    """``--port``: 1 to 65535 (0 would let the system pick one no client is told of)."""
    value = int(text) if text.strip().isdigit() else 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}. Fix: pass e.g. --port 5000")
    return value


def probability(text: str) -> float:
    """``--min-confidence``: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # NaN too
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got {text!r}. "
                                         "Fix: pass e.g. --min-confidence 0.6")
    return value


FAIL_ON_KINDS = ("label_issues", "duplicates", "leakage", "missing")


def problem_kinds(text: str) -> tuple[str, ...]:
    """``--fail-on``: a comma-separated list of kinds of problems."""
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in FAIL_ON_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown kind {(unknown or [text])[0]!r}. Fix: pass some of "
                                         f"{','.join(FAIL_ON_KINDS)}")
    return kinds


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="textclf", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"textclf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (_add_predict, _add_verify, _add_audit, _add_suggest, _add_server, _add_compare):
        add_command(commands)
    for command in commands.choices.values():  # an unknown flag of a command points at its own --help
        command.set_defaults(command_parser=command)
    return parser


def _add_predict(commands) -> None:
    """``textclf predict``: texts, or whole articles with ``--article``."""
    predict = commands.add_parser("predict", help="tag texts, or whole articles (--article), with a saved model")
    predict.add_argument("input", nargs="?", default="-",
                         help="CSV, JSONL, Parquet or text file (one text a line); '-' or nothing reads stdin")
    predict.add_argument("--model-uri", default=DEFAULT_MODEL_URI,
                         help=f"any MLflow model URI (default: {DEFAULT_MODEL_URI})")
    predict.add_argument("--output", "-o", default="-", help="output file, .csv or .jsonl ('-' = stdout)")
    predict.add_argument("--format", choices=["csv", "jsonl"], help=OUTPUT_FORMAT_HELP)
    predict.add_argument("--text-column", default="text", help="text column of a CSV/JSONL/Parquet input")
    predict.add_argument("--id-column", default=None,
                         help="column of a CSV/JSONL/Parquet input copied to each output row (default: id, when the input "
                              "has it; otherwise each row gets its line number in the input)")
    predict.add_argument("--top-k", type=top_k_count, default=None, metavar="N",
                         help="the N most probable labels and their probabilities (top1, top1_prob, ...) "
                              "instead of one prob_<class> column per class")
    predict.add_argument("--min-confidence", type=probability, default=None, metavar="P",
                         help="add a confidence column (the predicted label's probability; multi-label: the "
                              "lowest among the predicted labels) and an uncertain column, true below P")
    predict.add_argument("--explain", action="store_true",
                         help="add an explanation to each text (passage): for each of its labels, the words and "
                              "phrases that pushed it there, with signed weights (exact for TF-IDF linear models, "
                              "leave-one-word-out for the others)")
    predict.add_argument("--tracking-uri", default=None, help=TRACKING_URI_HELP)
    predict.add_argument("--no-verify", action="store_true",
                         help="load the model without checking its files against their recorded digest (its code runs)")
    _add_article_flags(predict)


def _add_article_flags(predict) -> None:
    """``textclf predict --article``'s own flags, in their own group of the help."""
    articles = predict.add_argument_group(
        "whole articles", "split each article into passages, tag them, and roll up its topics: one JSON line an "
                          "article ({article, passages, topics}) to --output")
    articles.add_argument("--article", nargs="+", default=None, metavar="FILE",
                          help="text, Markdown or HTML files (one article each; '-' reads one from stdin), or "
                               "JSONL/CSV files with one article a record (--text-column)")
    articles.add_argument("--unit", choices=["sentence", "line", "paragraph"], default=None,
                          help="what a passage is (default: sentence; a sentence never runs past a line break)")
    articles.add_argument("--markdown", action="store_true", default=None,
                          help="read the articles as Markdown: the model reads passages without their markup "
                               "(link targets, emphasis, heading and quote markers); .md and .markdown files always "
                               "are, .html and .htm files never")
    articles.add_argument("--html-articles", action="store_true", default=None,
                          help="read the articles as HTML: the model reads what a browser shows (no tags, scripts "
                               "or styles), passages are its paragraphs' sentences; .html and .htm files always are, "
                               ".md and .markdown files never")
    articles.add_argument("--article-id-column", default=None, metavar="NAME",
                          help="column naming each article of a JSONL/CSV file (default: id, when present; "
                               "otherwise FILE:LINE)")
    articles.add_argument("--passages-csv", default=None, metavar="PATH",
                          help="also write one row a passage: article, index, start, end, text, label(s), prob_<label>")
    articles.add_argument("--html", default=None, metavar="PATH",
                          help="also write one self-contained page: each article's passages coloured by label, "
                               "probabilities on hover, a chart of its topics (with --explain, the words behind "
                               "each label marked)")
    articles.add_argument("--boilerplate-label", default=None, metavar="LABEL",
                          help="passages with only this label are left out of the topics (default: "
                               "broadcast_boilerplate, when the model has it; '' leaves every passage in)")


def _add_verify(commands) -> None:
    """``textclf verify``: a stored model's files against their recorded digest."""
    verify = commands.add_parser("verify", help="check a stored model's files against the digest recorded when it was logged")
    verify.add_argument("--model-uri", default=DEFAULT_MODEL_URI, help=f"registered model or run (default: {DEFAULT_MODEL_URI})")
    verify.add_argument("--tracking-uri", default=None, help=TRACKING_URI_HELP)


def _add_audit(commands) -> None:
    """``textclf audit``: problems in labeled data."""
    audit = commands.add_parser("audit", help="find likely label errors, duplicates and other data problems")
    audit.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="train.py's data, task and model overrides, and audit.* settings (configs/audit.yaml)")
    audit.add_argument("--output", default=None, help="report folder (default: audit.output_dir, under outputs/audit/)")
    audit.add_argument("--project", default=None, metavar="PATH",
                       help="the textclf project whose configs it reads (default: the nearest folder from here up "
                            "holding train.py and configs/train.yaml)")
    audit.add_argument("--fail-on", type=problem_kinds, default=(), metavar="KINDS",
                       help=f"exit 1 if any of these is found (comma-separated: {', '.join(FAIL_ON_KINDS)}); for CI")


def _add_suggest(commands) -> None:
    """``textclf suggest``: texts worth labeling next."""
    suggest = commands.add_parser("suggest", help="pick the unlabeled texts worth labeling next")
    suggest.add_argument("input", help="unlabeled texts: CSV, JSONL, Parquet or text file (one text a line); '-' reads stdin")
    suggest.add_argument("--model-uri", default=DEFAULT_MODEL_URI, help=f"any MLflow model URI (default: {DEFAULT_MODEL_URI})")
    suggest.add_argument("-n", type=int, default=40, help="how many texts to pick (default: 40)")
    suggest.add_argument("--output", "-o", default="-", help="output file, .csv or .jsonl ('-' = stdout)")
    suggest.add_argument("--format", choices=["csv", "jsonl"], help=OUTPUT_FORMAT_HELP)
    suggest.add_argument("--labeled", default=None,
                         help="the labeled data (CSV, JSONL, Parquet or text file): no pick is a near-copy of one of its texts")
    suggest.add_argument("--strategy", choices=["margin", "entropy"], default="margin",
                         help="how uncertainty is measured (default: margin between the two most probable labels)")
    suggest.add_argument("--near-duplicate-similarity", type=float, default=0.9,
                         help="picks at least this similar (character n-gram cosine) to another pick or to the "
                              "labeled data are skipped (default: 0.9)")
    suggest.add_argument("--text-column", default="text", help="text column of a CSV/JSONL/Parquet input")
    suggest.add_argument("--labeled-text-column", default=None, metavar="NAME",
                         help="text column of the --labeled file, where its name differs (default: --text-column)")
    suggest.add_argument("--id-column", default=None, help="id column of a CSV/JSONL/Parquet input (default: id, when present; "
                                                          "otherwise the line number)")
    suggest.add_argument("--tracking-uri", default=None, help=TRACKING_URI_HELP)


def _add_server(commands) -> None:
    """``textclf server``: a team's tracking server."""
    server = commands.add_parser("server", help="a team's tracking server: MLflow with sign-in, on PostgreSQL")
    server.add_argument("action", choices=["start", "status", "stop"])
    server.add_argument("--data", required=True, metavar="DIR",
                        help="the server's folder: its PostgreSQL cluster, artifacts, logs")
    server.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; see the README "
                             "before opening it to a network)")
    server.add_argument("--port", type=port_number, default=5000, help="port to listen on (default: 5000)")


def _add_compare(commands) -> None:
    """``textclf compare``: an experiment's runs, best first."""
    compare = commands.add_parser("compare", help="list an experiment's runs, best first")
    compare.add_argument("--experiment", default=None,
                         help=f"experiment name (default: {DEFAULT_EXPERIMENT}; the others with runs are named after "
                              "its table)")
    compare.add_argument("--metric", default=None,
                         help="rank by this metric, best first (lowest first for losses and times; default: "
                              "validation/macro_f1, or with --sweep the metric the sweep ranked by)")
    compare.add_argument("--columns", default=None,
                         help="comma-separated metrics to show (default: the headline metrics of each run's task)")
    compare.add_argument("--sweep", default=None, metavar="ID",
                         help="only the jobs of one sweep or search: its parent run's id or first characters "
                              "(the sweep's closing table shows 8), or latest")
    compare.add_argument("--limit", type=int, default=50, help="show at most this many runs")
    compare.add_argument("--format", choices=["table", "markdown", "csv"], default="table")
    compare.add_argument("--wide", action="store_true",
                         help="show every param that differs, names and values in full "
                              "(default: what fits 120 columns)")
    compare.add_argument("--tracking-uri", default=None, help=TRACKING_URI_HELP)


def command() -> None:
    """The ``textclf`` command: ``main``, then an exit without the interpreter's teardown."""
    try:
        main()
        sys.stdout.flush()
        code = 0
    except BrokenPipeError:
        # The reader stopped early (`textclf compare | head -1`): not a failure worth a traceback.
        # Later writes go nowhere, and the exit status is a SIGPIPE's, as for `seq 1000000 | head -1`.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + signal.SIGPIPE
    # Everything is written by now. Tearing down MLflow, SciPy and SQLAlchemy would take 0.6 s of
    # a 3-second `textclf predict`; only the command skips it, main() stays safe to call.
    exit_without_teardown(code)


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that audit's KEY=VALUE overrides may also follow its options,
    as train.py's do (argparse fills a positional list only before the first option); an unknown
    flag is reported by its command's parser (its own --help). ``args.command_arguments``: what
    followed the command, as typed (the top level has no option that takes a value, so the first
    word that names the command is it)."""
    args, unknown = parser.parse_known_args(argv)
    given = sys.argv[1:] if argv is None else list(argv)
    args.command_arguments = given[given.index(args.command) + 1:]  # as typed, for commands a line prints
    if args.command == "audit":
        later = [token for token in unknown if "=" in token and not token.startswith("-")]
        args.overrides += later
        unknown = [token for token in unknown if token not in later]
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


@report_user_errors(interrupted="interrupted")
def main(argv: list[str] | None = None) -> None:
    args = _parse(build_parser(), argv)
    from textclf.tracking.discovery import find_tracking_uri

    if args.command == "predict":
        from textclf.cli.articles import check_mode_flags

        check_mode_flags(args)
        if args.article is not None:
            from textclf.cli.articles import predict_articles

            predict_articles(args)  # reads and checks every article before it finds the store
        else:
            from textclf.cli.predict import predict

            predict(args)  # finds its store once the first texts are read: bad input is reported first
    elif args.command == "server":
        from textclf.cli.server import server

        server(args)
    elif args.command == "suggest":
        from textclf.cli.suggest import suggest

        suggest(args)
    elif args.command == "audit":
        from textclf.cli.audit import audit

        audit(args)
    elif args.command == "verify":
        from textclf.tracking.runs import verify_model
        from textclf.tracking.client import is_downloaded_copy

        folder = verify_model(args.model_uri, find_tracking_uri(args.tracking_uri))
        where = "in a downloaded copy, removed on exit" if is_downloaded_copy(folder) else folder
        print(f"ok: {args.model_uri} matches the digest recorded when it was logged ({where})")
    else:
        from textclf.cli.compare import compare

        compare(args, find_tracking_uri(args.tracking_uri), DEFAULT_EXPERIMENT)
