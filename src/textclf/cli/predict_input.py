"""What ``textclf predict`` reads: texts from a CSV, JSONL or Parquet file, a text file (one a
line) or stdin, in batches of ``BATCH_TEXTS``, each text with what names it in the output (the
input's id column, or the line the text starts on). Blank texts are skipped."""

from __future__ import annotations

import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from textclf.articles.html_input import looks_like_a_page
from textclf.errors import TextclfWarning, UserError
from textclf.records import (DEFAULT_ID_COLUMN, csv_rows, json_text, jsonl_objects, not_comma_separated, other_separator,
                             refuse_binary, table_kind, utf8)

BATCH_TEXTS = 2000
LINE_COLUMN = "line"
ROW_COLUMN = "row"  # a Parquet input's row number (1: its first row), where it has no id column


@dataclass(frozen=True)
class Batch:
    """Non-empty texts to tag, and for each the value that names it in the output."""

    key_column: str  # the input's id column, or LINE_COLUMN
    keys: list
    texts: list[str]


def stdin_is_a_terminal() -> bool:
    """Whether standard input is a terminal someone types at (not a pipe or file; none at all
    after ``<&-``; a stand-in without ``isatty`` in a notebook or a test)."""
    isatty = getattr(sys.stdin, "isatty", None)
    return bool(isatty and isatty())


def read_batches(source: str, text_column: str, id_column: str | None = None,
                 text_flag: str = "--text-column", article_flag: bool = False) -> Iterator[Batch]:
    """Batches of non-empty texts from a CSV, JSONL or Parquet file (``text_column``), a text file
    (one a line), or stdin ('-'). Each text keeps the input's ``id_column`` (default ``id``, when the
    input has it) or its line number (a Parquet file's: its row number). Raises ``UserError`` when
    there is no text at all. ``article_flag``: the command has ``--article``, which a text input
    that is an HTML page is pointed at."""
    keys, texts, found = [], [], False
    for key_column, key, text in _records(source, text_column, id_column, text_flag, article_flag):
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


def _records(source: str, text_column: str, id_column: str | None, text_flag: str,
             article_flag: bool) -> Iterator[tuple[str, object, str]]:
    """(key column, key, text) for every record of the input, blank ones included."""
    path = None if source == "-" else Path(source)
    if path is not None and path.is_dir():
        raise UserError(f"{path} is a folder. Fix: pass a CSV, JSONL, Parquet or text file in it")
    if path is not None and not path.exists():  # (a named pipe is read like a file: <(zcat x.gz), with no
        # extension to go by, as text lines)
        raise UserError(f"input file not found: {path}. Fix: pass an existing CSV, JSONL, Parquet or text file")
    kind = None if path is None else table_kind(path)
    if path is not None and kind != "parquet":
        refuse_binary(path, "CSV, JSONL, Parquet or text")
    if id_column is not None and kind is None:
        raise UserError(f"--id-column {id_column} needs a CSV, JSONL or Parquet input, and {path or 'standard input'} "
                        "is plain text. Fix: drop --id-column (rows get their line number), or pass a CSV, JSONL or Parquet file")
    if path is None:
        if stdin_is_a_terminal():  # typed, or a forgotten file name: say what it waits for
            print("reading texts from the terminal, one a line; Ctrl-D ends them", file=sys.stderr, flush=True)
        yield from _text_lines(sys.stdin.buffer, "standard input", "-" if article_flag else None)
    elif kind == "csv":
        yield from _csv_rows(path, text_column, id_column, text_flag)
    elif kind == "jsonl":
        yield from _json_lines(path, text_column, id_column, text_flag)
    elif kind == "parquet":
        yield from _parquet_rows(path, text_column, id_column, text_flag)
    else:
        with path.open("rb") as handle:
            yield from _text_lines(handle, str(path), shlex.quote(str(path)) if article_flag else None)


def _text_lines(handle, origin: str, as_article: str | None) -> Iterator[tuple[str, int, str]]:
    """(line, number, text) of each line; ``as_article``: how ``--article`` names this input,
    said when the input is an HTML page (each of its lines would be tagged, markup and all)."""
    for number, line in enumerate(handle, start=1):
        text = utf8(line, origin, number).rstrip("\r\n")
        if number == 1:
            text = text.removeprefix("\ufeff")  # a BOM is no text
            if as_article is not None and looks_like_a_page(text):
                warnings.warn(f"{origin} looks like an HTML page, and each of its lines is tagged as text, markup "
                              f"included. Fix: textclf predict --article {as_article} tags the page's text, "
                              "passage by passage", TextclfWarning, stacklevel=2)
        yield LINE_COLUMN, number, text


def _json_lines(path: Path, text_column: str, id_column: str | None,
                text_flag: str) -> Iterator[tuple[str, object, str]]:
    key_column = None  # decided by the first record: its id field if it has one, else line numbers
    for number, record in jsonl_objects(path, example=f'{{"{text_column}": "..."}}'):
        if key_column is None:
            key_column = _key_column(path, list(record), id_column, f"line {number}")
        if text_column not in record:
            raise UserError(f"{path} line {number} has no field {text_column!r} (fields: {list(record)}). "
                            f"Fix: pass {text_flag} NAME")
        key = number if key_column == LINE_COLUMN else record.get(key_column)
        yield key_column, key, json_text(record, text_column, path, number)


def _csv_rows(path: Path, text_column: str, id_column: str | None,
              text_flag: str) -> Iterator[tuple[str, object, str]]:
    rows = csv_rows(path, fix="Fix: pass UTF-8 CSV, JSONL or text")
    _, header = next(rows)
    if not header:
        raise UserError(f"{path} is empty. Fix: pass a file with a header row and texts")
    if text_column not in header and other_separator(header) is not None:
        raise UserError(not_comma_separated(str(path), header))
    if text_column not in header:
        raise UserError(f"{path} has no column {text_column!r} (columns: {header}). Fix: pass {text_flag} NAME")
    key_column = _key_column(path, header, id_column, "its header")
    text_at = header.index(text_column)
    key_at = None if key_column == LINE_COLUMN else header.index(key_column)
    for number, cells in rows:
        yield key_column, number if key_at is None else cells[key_at], cells[text_at]


def _parquet_rows(path: Path, text_column: str, id_column: str | None,
                  text_flag: str) -> Iterator[tuple[str, object, str]]:
    """A Parquet file's rows, read ``BATCH_TEXTS`` at a time (only the columns needed)."""
    table = _parquet_file(path)
    columns = table.schema_arrow.names
    if text_column not in columns:
        raise UserError(f"{path} has no column {text_column!r} (columns: {columns}). Fix: pass {text_flag} NAME")
    _check_text_type(path, text_column, table.schema_arrow.field(text_column).type, text_flag)
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


def _check_text_type(path: Path, column: str, kind, text_flag: str) -> None:
    """Text is a string column (or binary, decoded as UTF-8); lists, numbers and records are not."""
    import pyarrow

    if not (pyarrow.types.is_string(kind) or pyarrow.types.is_large_string(kind) or pyarrow.types.is_binary(kind)
            or pyarrow.types.is_large_binary(kind) or pyarrow.types.is_null(kind)):
        raise UserError(f"{path} column {column!r} holds {kind}, not text. Fix: pass {text_flag} NAME of a "
                        "string column")


def _key_column(path: Path, columns: list[str], id_column: str | None, where: str) -> str:
    if id_column is None:
        return DEFAULT_ID_COLUMN if DEFAULT_ID_COLUMN in columns else LINE_COLUMN
    if id_column not in columns:
        raise UserError(f"{path} has no column {id_column!r} in {where} (columns: {columns}). "
                        "Fix: pass --id-column NAME, or drop it to number rows by line")
    return id_column
