"""``textclf predict``: read texts, tag them with a registered model, write the predictions.

Texts stream through in batches of ``BATCH_TEXTS``: read, tag, write, next, so memory stays flat
however many texts come in. Output goes to a hidden file beside the destination, renamed into
place once every text is tagged: a failure part way leaves no half-written file behind.

Each output row starts with what names its text in the input: the input's id column, or the line
the text starts on. Blank texts are skipped, so counting output rows would not find them again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from textclf.errors import UserError
from textclf.records import csv_rows, json_text, jsonl_objects, utf8
from textclf.safe_csv import write_rows

BATCH_TEXTS = 2000
DEFAULT_ID_COLUMN = "id"
LINE_COLUMN = "line"
ROW_COLUMN = "row"  # a Parquet input's row number (1: its first row), where it has no id column
PARQUET_SUFFIXES = (".parquet", ".pq")
PROBABILITY_PREFIX = "prob_"  # a model's one column per class (serving.tagging)
EXPLANATION_COLUMN = "explanation"  # with params {"explain": true} (serving.explain)


@dataclass(frozen=True)
class Batch:
    """Non-empty texts to tag, and for each the value that names it in the output."""

    key_column: str  # the input's id column, or LINE_COLUMN
    keys: list
    texts: list[str]


def read_batches(source: str, text_column: str, id_column: str | None = None) -> Iterator[Batch]:
    """Batches of non-empty texts from a CSV, JSONL or Parquet file (``text_column``), a text file
    (one a line), or stdin ('-'). Each text keeps the input's ``id_column`` (default ``id``, when the
    input has it) or its line number (a Parquet file's: its row number). Raises ``UserError`` when
    there is no text at all."""
    keys, texts, found = [], [], False
    for key_column, key, text in _records(source, text_column, id_column):
        if not text.strip():
            continue
        keys.append(key)
        texts.append(text)
        if len(texts) == BATCH_TEXTS:
            found = True
            yield Batch(key_column, keys, texts)
            keys, texts = [], []
    if texts:
        yield Batch(key_column, keys, texts)
    elif not found:
        origin = "standard input" if source == "-" else source
        raise UserError(f"no texts to tag in {origin}. Fix: give at least one non-empty text")


def _records(source: str, text_column: str, id_column: str | None) -> Iterator[tuple[str, object, str]]:
    """(key column, key, text) for every record of the input, blank ones included."""
    path = None if source == "-" else Path(source)
    if path is not None and not path.is_file():
        raise UserError(f"input file not found: {path}. Fix: pass an existing CSV, JSONL, Parquet or text file")
    suffix = "" if path is None else path.suffix.lower()
    if id_column is not None and suffix not in (".csv", ".jsonl", ".json", *PARQUET_SUFFIXES):
        raise UserError(f"--id-column {id_column} needs a CSV, JSONL or Parquet input, and {path or 'standard input'} "
                        "is plain text. Fix: drop --id-column (rows get their line number), or pass a CSV, JSONL or Parquet file")
    if path is None:
        yield from _text_lines(sys.stdin.buffer, "standard input")
    elif suffix == ".csv":
        yield from _csv_rows(path, text_column, id_column)
    elif suffix in (".jsonl", ".json"):
        yield from _json_lines(path, text_column, id_column)
    elif suffix in PARQUET_SUFFIXES:
        yield from _parquet_rows(path, text_column, id_column)
    else:
        with path.open("rb") as handle:
            yield from _text_lines(handle, str(path))


def _text_lines(handle, origin: str) -> Iterator[tuple[str, int, str]]:
    for number, line in enumerate(handle, start=1):
        text = utf8(line, origin, number).rstrip("\r\n")
        yield LINE_COLUMN, number, text.removeprefix("\ufeff") if number == 1 else text  # a BOM is no text


def _json_lines(path: Path, text_column: str, id_column: str | None) -> Iterator[tuple[str, object, str]]:
    key_column = None  # decided by the first record: its id field if it has one, else line numbers
    for number, record in jsonl_objects(path, example=f'{{"{text_column}": "..."}}'):
        if key_column is None:
            key_column = _key_column(path, list(record), id_column, f"line {number}")
        if text_column not in record:
            raise UserError(f"{path} line {number} has no field {text_column!r} (fields: {list(record)}). "
                            "Fix: pass --text-column NAME")
        key = number if key_column == LINE_COLUMN else record.get(key_column)
        yield key_column, key, json_text(record, text_column, path, number)


def _csv_rows(path: Path, text_column: str, id_column: str | None) -> Iterator[tuple[str, object, str]]:
    rows = csv_rows(path, fix="Fix: pass UTF-8 CSV, JSONL or text")
    _, header = next(rows)
    if not header:
        raise UserError(f"{path} is empty. Fix: pass a file with a header row and texts")
    if text_column not in header:
        raise UserError(f"{path} has no column {text_column!r} (columns: {header}). Fix: pass --text-column NAME")
    key_column = _key_column(path, header, id_column, "its header")
    text_at = header.index(text_column)
    key_at = None if key_column == LINE_COLUMN else header.index(key_column)
    for number, cells in rows:
        yield key_column, number if key_at is None else cells[key_at], cells[text_at]


def _parquet_rows(path: Path, text_column: str, id_column: str | None) -> Iterator[tuple[str, object, str]]:
    """A Parquet file's rows, read ``BATCH_TEXTS`` at a time (only the columns needed)."""
    table = _parquet_file(path)
    columns = table.schema_arrow.names
    if text_column not in columns:
        raise UserError(f"{path} has no column {text_column!r} (columns: {columns}). Fix: pass --text-column NAME")
    _check_text_type(path, text_column, table.schema_arrow.field(text_column).type)
    key_column = _key_column(path, columns, id_column, "its columns")
    key_column = ROW_COLUMN if key_column == LINE_COLUMN else key_column
    wanted = [text_column] if key_column == ROW_COLUMN else list(dict.fromkeys([text_column, key_column]))
    number = 0
    for batch in _parquet_batches(path, table, wanted):
        keys = None if key_column == ROW_COLUMN else batch[key_column]
        for at, text in enumerate(batch[text_column]):
            number += 1
            if isinstance(text, bytes):  # a binary column (as Spark writes strings): UTF-8 text
                text = utf8(text, str(path), number, unit="row", fix="Fix: convert the text to UTF-8 before "
                                                                    "writing the file")
            yield key_column, number if keys is None else keys[at], "" if text is None else text


def _parquet_file(path: Path):
    import pyarrow.parquet as parquet

    try:
        return parquet.ParquetFile(path)
    except Exception as error:  # noqa: BLE001 - pyarrow's errors for a file it cannot read vary
        raise UserError(f"{path} is not a readable Parquet file ({str(error).splitlines()[0]}). "
                        "Fix: pass a Parquet, CSV, JSONL or text file with a matching extension") from None


def _parquet_batches(path: Path, table, columns: list[str]) -> Iterator[dict[str, list]]:
    """The file's rows, ``BATCH_TEXTS`` at a time, as ``{column: values}``; a damaged page is a
    ``UserError`` (opening the file read only its footer)."""
    import pyarrow

    batches = table.iter_batches(batch_size=BATCH_TEXTS, columns=columns)
    while True:
        try:
            batch = next(batches)
            values = {column: batch.column(column).to_pylist() for column in columns}
        except StopIteration:
            return
        except (OSError, pyarrow.ArrowException, UnicodeDecodeError) as error:
            raise UserError(f"{path} is damaged: {str(error).splitlines()[0]}. Fix: re-save it as Parquet") from None
        yield values


def _check_text_type(path: Path, column: str, kind) -> None:
    """Text is a string column (or binary, decoded as UTF-8); lists, numbers and records are not."""
    import pyarrow

    if not (pyarrow.types.is_string(kind) or pyarrow.types.is_large_string(kind) or pyarrow.types.is_binary(kind)
            or pyarrow.types.is_large_binary(kind) or pyarrow.types.is_null(kind)):
        raise UserError(f"{path} column {column!r} holds {kind}, not text. Fix: pass --text-column NAME of a "
                        "string column")


def _key_column(path: Path, columns: list[str], id_column: str | None, where: str) -> str:
    if id_column is None:
        return DEFAULT_ID_COLUMN if DEFAULT_ID_COLUMN in columns else LINE_COLUMN
    if id_column not in columns:
        raise UserError(f"{path} has no column {id_column!r} in {where} (columns: {columns}). "
                        "Fix: pass --id-column NAME, or drop it to number rows by line")
    return id_column


def check_output(destination: str, flag: str = "-o") -> None:
    """Refuse, before any model loads, an output file that could not be written: its folder
    missing (it was a traceback once the texts were tagged), or a folder in its place."""
    if destination == "-" or destination.startswith("/dev/"):
        return
    path = Path(destination)
    if path.is_dir():
        raise UserError(f"{flag} {destination} is a folder. Fix: pass a file name, e.g. {flag} {path / 'tags.csv'}")
    if not path.parent.is_dir():
        raise UserError(f"{flag} {destination}: folder {path.parent} does not exist. Fix: create it "
                        f"(mkdir -p {path.parent}) or write somewhere else")


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


def shaped_predictions(predictions: pd.DataFrame, top_k: int | None = None,
                       min_confidence: float | None = None) -> pd.DataFrame:
    """A model's ``label``/``labels`` and ``prob_<class>`` columns, with the ``prob_`` columns
    replaced by ``top1``, ``top1_prob``, ... (``top_k``), and ``confidence`` and ``uncertain``
    (``confidence`` below ``min_confidence``) added."""
    if top_k is None and min_confidence is None:
        return predictions
    probability_columns = [c for c in predictions.columns if c.startswith(PROBABILITY_PREFIX)]
    if not probability_columns:
        raise UserError("the model returns no prob_<class> columns, which --top-k and --min-confidence read. "
                        "Fix: drop those flags, or use a model trained by textclf")
    classes = np.array([c.removeprefix(PROBABILITY_PREFIX) for c in probability_columns], dtype=object)
    probabilities = predictions[probability_columns].to_numpy(dtype=float)
    shaped = predictions.drop(columns=probability_columns) if top_k else predictions
    if top_k:
        if top_k > len(classes):
            raise UserError(f"--top-k {top_k} asks for more labels than the model's {len(classes)} classes. "
                            f"Fix: pass --top-k {len(classes)} or less")
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
        for rank in range(top_k):
            shaped[f"top{rank + 1}"] = classes[ranked[:, rank]]
            shaped[f"top{rank + 1}_prob"] = np.take_along_axis(probabilities, ranked[:, rank:rank + 1], axis=1)[:, 0]
    if min_confidence is not None:
        shaped["confidence"] = _confidence(predictions, list(classes), probabilities)
        shaped["uncertain"] = shaped["confidence"] < min_confidence
    return shaped


def _confidence(predictions: pd.DataFrame, classes: list[str], probabilities: np.ndarray) -> np.ndarray:
    """The predicted label's probability; multi-label: the lowest among the predicted labels, or,
    when none is predicted, one minus the highest (how sure the model is that none applies)."""
    column = {name: j for j, name in enumerate(classes)}
    if "label" in predictions.columns:
        return np.array([probabilities[i, column[label]] for i, label in enumerate(predictions["label"])])
    if "labels" in predictions.columns:
        return np.array([min(probabilities[i, column[label]] for label in labels) if len(labels)
                         else 1 - probabilities[i].max() for i, labels in enumerate(predictions["labels"])])
    raise UserError("the model returns no label or labels column, which --min-confidence reads. "
                    "Fix: drop --min-confidence, or use a model trained by textclf")


def chosen_format(output: str, given: str | None) -> str:
    """``--format``, else what ``--output``'s extension says: ``.jsonl`` or ``.json`` JSON lines;
    ``.csv``, ``.txt``, no extension, stdout or a device (``/dev/stdout``) CSV. Another extension is
    refused: a CSV named ``.xlsx`` would not open as one."""
    if given is not None:
        return given
    suffix = Path(output).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if output == "-" or suffix in (".csv", ".txt", "") or output.startswith("/dev/"):
        return "csv"
    raise UserError(f"cannot tell which format to write {output} in from its extension. Fix: name it .csv or "
                    ".jsonl, or pass --format csv or --format jsonl")


def write_predictions(predictions: pd.DataFrame, handle, output_format: str, header: bool) -> None:
    """One batch as CSV (list-valued ``labels`` as ``a|b``, cells safe for spreadsheets) or JSONL."""
    if output_format == "jsonl":
        for record in predictions.to_dict(orient="records"):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    columns = list(predictions.columns)
    rows = ([_cell(column, value) for column, value in zip(columns, row)]
            for row in predictions.itertuples(index=False))
    write_rows(handle, chain([columns] if header else [], rows))


def _cell(column: str, value):
    """A CSV cell: labels as ``a|b``, probabilities to 4 decimals, an explanation as JSON."""
    if column == EXPLANATION_COLUMN:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "|".join(value)
    return f"{value:.4f}" if isinstance(value, float) else value


def model_answer(model, texts: list[str], explain: bool = False) -> pd.DataFrame:
    """A loaded model's predictions for ``texts`` (and, with ``explain``, their explanations,
    asked for as MLflow passes params). A model saved before explanations existed is refused."""
    frame = pd.DataFrame({"text": texts})
    if not explain:
        return model.predict(frame)
    answer = model.predict(frame, params={"explain": True})
    if EXPLANATION_COLUMN not in answer.columns:
        raise UserError("the model gives no explanations: it was saved by a textclf older than --explain. "
                        "Fix: train it again, or drop --explain")
    return answer


def tagged_batch(model, batch: Batch, top_k: int | None, min_confidence: float | None,
                 explain: bool = False) -> pd.DataFrame:
    """The rows written for ``batch``: its keys, its texts, then the model's predictions (and,
    with ``explain``, their explanations)."""
    predictions = shaped_predictions(model_answer(model, batch.texts, explain), top_k, min_confidence)
    if batch.key_column in predictions.columns or batch.key_column == "text":
        raise UserError(f"the input's id column {batch.key_column!r} has the name of an output column. "
                        "Fix: rename that column in the input, or pass --id-column with another one")
    predictions.insert(0, "text", batch.texts)
    predictions.insert(0, batch.key_column, batch.keys)
    return predictions


def load_for_predicting(model_uri: str, tracking_uri: str, verify: bool):
    """The model at ``model_uri``. A registered version in a local sqlite store loads without
    importing MLflow (the cold start users feel); anything else, or anything unusual about it,
    takes MLflow's path."""
    from textclf.tracking.local_registry import load_registered_locally

    model = load_registered_locally(model_uri, tracking_uri) if verify else None
    if model is None:
        from textclf.tracking.runs import load_model

        model = load_model(model_uri, tracking_uri, verify=verify)
    return model


def predict(args) -> None:
    from textclf.tracking.discovery import find_tracking_uri

    output_format = chosen_format(args.output, args.format)
    check_output(args.output)
    batches = read_batches(args.input, args.text_column, args.id_column)
    first = next(batches)  # bad input is reported before the store is looked for and the model loaded
    model = load_for_predicting(args.model_uri, find_tracking_uri(args.tracking_uri), verify=not args.no_verify)
    from textclf.cli.progress import tagging_progress

    with opened_output(args.output) as handle, tagging_progress(args.output) as progress:
        for i, batch in enumerate(chain([first], batches)):
            rows = tagged_batch(model, batch, args.top_k, args.min_confidence, args.explain)
            write_predictions(rows, handle, output_format, header=i == 0)
            progress.update(len(batch.texts))
