"""``textclf predict --article``: whole articles in, one JSON line an article out (its passages
with offsets, labels and probabilities, and its topics), ``--passages-csv``, one row a passage, and
``--html``, one page to read them in.

Every article is read and checked before the model loads, every passage tagged before anything is
written, and files appear under their names only once complete: bad input or a failure part way
leaves no half-written output.
"""

from __future__ import annotations

import contextlib
import json

from textclf.errors import UserError

# What only one of the two modes reads: passed to the other, each is refused rather than ignored.
PASSAGE_FLAGS = {"top_k": "--top-k", "min_confidence": "--min-confidence", "id_column": "--id-column",
                 "format": "--format"}
ARTICLE_FLAGS = {"unit": "--unit", "markdown": "--markdown", "html_articles": "--html-articles",
                 "article_id_column": "--article-id-column",
                 "passages_csv": "--passages-csv", "html": "--html", "boilerplate_label": "--boilerplate-label"}


def check_mode_flags(args) -> None:
    """Refuse flags of the other mode of ``textclf predict``, and an input beside ``--article``."""
    if args.article is None:
        given = [flag for name, flag in ARTICLE_FLAGS.items() if getattr(args, name) is not None]
        if given:
            raise UserError(f"{given[0]} works on whole articles. Fix: pass the articles with --article FILE...")
        return
    if args.input != "-":
        raise UserError(f"both an input ({args.input}) and --article were given. Fix: pass every file after "
                        f"--article (--article {args.input} ...), or drop --article to tag one text a line")
    given = [flag for name, flag in PASSAGE_FLAGS.items() if getattr(args, name) is not None]
    if given:
        hint = " (use --article-id-column)" if given[0] == "--id-column" else ""
        raise UserError(f"{given[0]} does not apply to --article, which writes JSON lines{hint}. Fix: drop {given[0]}")
    if args.output.lower().endswith(".csv"):
        raise UserError(f"--article writes JSON lines, and -o {args.output} names a CSV file. "
                        "Fix: pass -o NAME.jsonl (and --passages-csv NAME.csv for a table of passages)")
    from textclf.cli.output import check_output

    for flag, destination in (("-o", args.output), ("--passages-csv", args.passages_csv), ("--html", args.html)):
        if destination is not None:
            check_output(destination, flag)
    to_stdout = [flag for flag, value in (("the articles", args.output), ("--passages-csv", args.passages_csv),
                                          ("--html", args.html)) if value == "-"]
    if len(to_stdout) > 1:
        raise UserError(f"both {to_stdout[0]} and {to_stdout[1]} would go to standard output. "
                        "Fix: pass -o NAME.jsonl, --passages-csv NAME.csv or --html NAME.html")


def predict_articles(args) -> None:
    from textclf.articles.sources import read_articles
    from textclf.articles.tag import DEFAULT_BOILERPLATE_LABEL, check_articles, tag_with
    from textclf.cli.output import opened_output
    from textclf.predicting import load_for_predicting, logged_by
    from textclf.tracking.discovery import find_tracking_uri

    unit = args.unit or "sentence"
    articles = read_articles(args.article, args.text_column, args.article_id_column, bool(args.markdown),
                             bool(args.html_articles))
    check_articles(articles, unit)  # bad input is reported before the store is looked for and the model loaded
    model = load_for_predicting(args.model_uri, find_tracking_uri(args.tracking_uri), verify=not args.no_verify)
    boilerplate = DEFAULT_BOILERPLATE_LABEL if args.boilerplate_label is None else args.boilerplate_label or None
    from textclf.cli.progress import tagging_progress

    with tagging_progress(args.output, unit="passage") as progress:
        tagged = tag_with(model, articles, unit, boilerplate, explain=args.explain, progress=progress)
    classes = list(tagged[0].passages[0].probabilities)
    if args.boilerplate_label and args.boilerplate_label not in classes:
        raise UserError(f"--boilerplate-label {args.boilerplate_label} is not a label of the model "
                        f"({', '.join(classes)}). Fix: pass one of its labels, or --boilerplate-label '' to leave "
                        "every passage in the topics")
    passages_csv = opened_output(args.passages_csv) if args.passages_csv else contextlib.nullcontext()
    html = opened_output(args.html) if args.html else contextlib.nullcontext()
    with opened_output(args.output) as handle, passages_csv as table, html as page:
        if table is not None:  # first: on standard output, no line is written before the table is
            write_passages_csv(tagged, classes, table)
        if page is not None:
            from textclf.articles.html import render_page

            page.write(render_page(tagged, classes, args.model_uri, logged_by(model), boilerplate))
        for article in tagged:
            handle.write(json.dumps(article.to_record(), ensure_ascii=False) + "\n")


def write_passages_csv(tagged: list, classes: list[str], handle) -> None:
    """One row a passage: article, index, start, end, text, label (multi-label: labels, ``a|b``),
    then ``prob_<label>`` (4 decimals), in cells a spreadsheet cannot run."""
    from textclf.safe_csv import write_rows

    label_key = tagged[0].label_key
    header = ["article", "index", "start", "end", "text", label_key, *(f"prob_{label}" for label in classes)]
    rows = ([article.id, p.index, p.start, p.end, p.text, "|".join(p.labels),
             *(f"{p.probabilities[label]:.4f}" for label in classes)]
            for article in tagged for p in article.passages)
    write_rows(handle, [header, *rows])
