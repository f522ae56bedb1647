"""``textclf predict``: read texts, tag them with a registered model, write the predictions.

Texts stream through in batches of ``BATCH_TEXTS``: read, tag, write, next, so memory stays flat
however many texts come in. Output goes to a hidden file beside the destination, renamed into
place once every text is tagged: a failure part way leaves no half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from itertools import chain
from pathlib import Path
from typing import Iterator

import pandas as pd

from textclf.errors import UserError
from textclf.safe_csv import write_rows

BATCH_TEXTS = 2000


def read_batches(source: str, text_column: str) -> Iterator[list[str]]:
    """Lists of non-empty texts from a CSV or JSONL file (``text_column``), a text file (one a
    line), or stdin ('-'). Raises ``UserError`` when there is none at all."""
    found = False
    for batch in _raw_batches(source, text_column):
        texts = [text for text in batch if text.strip()]
        if texts:
            found = True
            yield texts
    if not found:
        origin = "standard input" if source == "-" else source
        raise UserError(f"no texts to tag in {origin}. Fix: give at least one non-empty text")


def _raw_batches(source: str, text_column: str) -> Iterator[list[str]]:
    if source == "-":
        yield from _line_batches(sys.stdin.buffer, "standard input")
        return
    path = Path(source)
    if not path.is_file():
        raise UserError(f"input file not found: {path}. Fix: pass an existing CSV, JSONL or text file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json"):
        with path.open("rb") as handle:
            yield from _line_batches(handle, str(path))
        return
    try:
        chunks = (pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=BATCH_TEXTS) if suffix == ".csv"
                  else pd.read_json(path, lines=True, dtype=False, chunksize=BATCH_TEXTS))
        with chunks:
            for chunk in chunks:
                if text_column not in chunk.columns:
                    raise UserError(f"{path} has no column {text_column!r} (columns: {list(chunk.columns)}). "
                                    "Fix: pass --text-column NAME")
                yield ["" if value is None else str(value) for value in chunk[text_column]]
    except (UnicodeDecodeError, ValueError) as error:  # a UserError above is neither: it passes
        raise UserError(f"could not read {path}: {str(error).splitlines()[0]}. "
                        "Fix: pass UTF-8 CSV, JSONL or text") from None


def _line_batches(handle, origin: str) -> Iterator[list[str]]:
    batch = []
    for number, line in enumerate(handle, start=1):
        try:
            batch.append(line.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError as error:
            raise UserError(f"{origin} line {number} is not UTF-8 (byte {line[error.start]:#04x} at position "
                            f"{error.start}). Fix: convert the text to UTF-8, e.g. iconv -f latin1 -t utf-8") from None
        if len(batch) == BATCH_TEXTS:
            yield batch
            batch = []
    if batch:
        yield batch


@contextlib.contextmanager
def opened_output(destination: str):
    """stdout, or a file that appears under its name only once it is complete."""
    if destination == "-":
        yield sys.stdout
        return
    path = Path(destination)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_predictions(predictions: pd.DataFrame, handle, output_format: str, header: bool) -> None:
    """One batch as CSV (list-valued ``labels`` as ``a|b``, cells safe for spreadsheets) or JSONL."""
    if output_format == "jsonl":
        for record in predictions.to_dict(orient="records"):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    columns = list(predictions.columns)
    rows = ([("|".join(value) if isinstance(value, list) else f"{value:.4f}" if isinstance(value, float) else value)
             for value in row] for row in predictions.itertuples(index=False))
    write_rows(handle, chain([columns] if header else [], rows))


def predict(args, default_tracking_uri: str) -> None:
    output_format = args.format or ("jsonl" if args.output.endswith(".jsonl") else "csv")
    batches = read_batches(args.input, args.text_column)
    first = next(batches)  # bad input is reported before the model is loaded
    from textclf.tracking.runs import load_model

    model = load_model(args.model_uri, args.tracking_uri or default_tracking_uri, verify=not args.no_verify)
    with opened_output(args.output) as handle:
        for i, texts in enumerate(chain([first], batches)):
            predictions = model.predict(pd.DataFrame({"text": texts}))
            predictions.insert(0, "text", texts)
            write_predictions(predictions, handle, output_format, header=i == 0)
