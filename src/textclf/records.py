"""Records of the files people hand to ``textclf predict``: JSONL objects and CSV rows, streamed
with the line each starts on, so every error can say where the problem is.

The pandas reader of training files (``data.readers.read_table``) reads whole tables; these read
one record at a time, so tagging a million texts needs no more memory than tagging a thousand.
Only the standard library is imported: a cold ``textclf predict`` pays for nothing else.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from textclf.errors import UserError

# What a file of records is, by its name: the kinds of table textclf reads (a .json file is read as
# JSON lines). Training files, ``predict``'s input, ``--article`` files and ``model.unlabeled``.
TABLE_KINDS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
DEFAULT_ID_COLUMN = "id"  # the column that names each record, when present and no other is named


def table_kind(path: Path) -> str | None:
    """``csv``, ``jsonl`` or ``parquet`` by ``path``'s name; None for any other file (plain text)."""
    return TABLE_KINDS.get(path.suffix.lower())


ICONV_FIX = ("Fix: convert the text to UTF-8, e.g. iconv -f cp1252 -t utf-8 (Windows text; "
             "for ISO-8859-1 use -f latin1)")


def utf8(data: bytes, origin: str, line: int | None = None, unit: str = "line", fix: str = ICONV_FIX) -> str:
    """``data`` decoded as UTF-8, or a ``UserError`` naming the line of ``origin`` that is not.

    ``line`` is the line ``data`` starts on when it is one line; otherwise the line is counted.
    ``unit``: what ``line`` counts in ``origin`` ("row" in a Parquet file), with its ``fix``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        number = line if line is not None else data[:error.start].count(b"\n") + 1
        raise UserError(f"{origin} {unit} {number} is not UTF-8 (byte {data[error.start]:#04x}). {fix}") from None


# The first bytes of files people hand over as text by mistake: what each file is, and its fix
# (None: pass another file). UTF-32's mark starts as UTF-16's, so it comes first.
BINARY_STARTS = {
    b"SQLite format 3\x00": ("an SQLite database (such as an MLflow store)", None),
    b"\x1f\x8b": ("a gzip-compressed file", "gunzip it first"),
    b"PAR1": ("a Parquet file", "name it .parquet to read it as one"),
    b"PK\x03\x04": ("a zip archive (or an .xlsx or .docx file)", "unzip it, or save a spreadsheet's table as CSV"),
    b"%PDF": ("a PDF", None),
    b"\xff\xfe\x00\x00": ("UTF-32 text", "convert it, e.g. iconv -f utf-32 -t utf-8"),
    b"\xff\xfe": ("UTF-16 text", "convert it, e.g. iconv -f utf-16 -t utf-8"),
    b"\xfe\xff": ("UTF-16 text", "convert it, e.g. iconv -f utf-16 -t utf-8"),
}


def refuse_binary(path: Path, wanted: str, named: str | None = None) -> None:
    """A ``UserError`` for a file whose first bytes show it is not text, saying what it looks
    like: read as text, its first bad byte would be named, with iconv as the fix, which cannot
    help. ``wanted``: the kinds of file to pass instead; ``named``: how the error names the file
    (default: its path). A named pipe (its bytes can be read only once) and a file that cannot be
    opened are left to the reader, which reports them."""
    if not path.is_file():
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return
    what, fix = next((found for start, found in BINARY_STARTS.items() if head.startswith(start)), (None, None))
    if what is None and b"\x00" in head:  # no UTF-8 text holds a NUL byte
        what = "a binary file (or UTF-16 text without a byte-order mark)"
    if what is not None:
        raise UserError(f"{named or path} is not UTF-8 text: it looks like {what}. Fix: {fix or f'pass a {wanted} file'}")


def jsonl_objects(path: Path, example: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file; a line that is not a JSON
    object is a ``UserError`` showing ``example``, a line as it should be."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            decoded = utf8(line, str(path), number).lstrip("\ufeff")
            if not decoded.strip():
                continue
            try:
                record = json.loads(decoded)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                raise UserError(f"{path} line {number} is not a JSON object. "
                                f"Fix: write one object a line, e.g. {example}")
            yield number, record


def json_text(record: dict, field: str, path: Path, number: int, flag: str = "--text-column") -> str:
    """``record[field]`` as text: a string, or "" for null. A list, number, object or boolean is a
    ``UserError`` naming the line: it would otherwise be tagged as its Python spelling."""
    value = record[field]
    if value is None or isinstance(value, str):
        return value or ""
    kind = {list: "a list", dict: "an object", bool: "true/false"}.get(type(value), "a number")
    raise UserError(f"{path} line {number} field {field!r} holds {kind}, not text: {json.dumps(value)[:60]}. "
                    f"Fix: write the text as a JSON string, or pass {flag} NAME of a text field")


def other_separator(header) -> str | None:
    """The separator a CSV read as one column seems written with (``;``, a tab, ``|``: a
    spreadsheet's export in many locales), or None: its one header cell holds it."""
    if len(header) != 1:
        return None
    return next((mark for mark in (";", "\t", "|") if mark in str(header[0])), None)


def not_comma_separated(origin: str, header) -> str:
    """The error for a CSV whose ``header`` (one cell) shows another separator (``other_separator``)."""
    return (f"{origin} reads as a single column {str(header[0])!r}: its fields look separated by "
            f"{other_separator(header)!r}, and a CSV's by commas. Fix: save it comma-separated (a spreadsheet's "
            "\"CSV (comma delimited)\"; pandas: to_csv(path, index=False))")


def csv_rows(path: Path, fix: str) -> Iterator[tuple[int, list[str]]]:
    """(1, header) of a UTF-8 CSV file (header ``[]`` when empty), then (line number, cells) for
    each row, padded to the header's width; a blank line is a row of empty cells. A row wider than its
    header, a quote left open, or a file that is not UTF-8 CSV, is a ``UserError`` ending in ``fix``."""
    # pandas has no limit on a cell; the csv module's default (128 KiB) would refuse a long article.
    csv.field_size_limit(2**31 - 1)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            # strict: a quote left open would otherwise swallow the rest of the file as one cell
            rows = csv.reader(handle, strict=True)
            header = next(rows, [])
            yield 1, header
            first_line = rows.line_num + 1  # a quoted cell may span lines: a row starts after the last
            for row in rows:
                if len(row) > len(header):
                    raise UserError(f"{path} line {first_line} has {len(row)} cells, its header {len(header)}. "
                                    "Fix: quote cells that hold a comma")
                yield first_line, row + [""] * (len(header) - len(row))
                first_line = rows.line_num + 1
    except UnicodeDecodeError:  # said as for a text file: the line, and how to convert it
        utf8(path.read_bytes(), str(path))
        raise
    except csv.Error as error:  # a UserError above is not one: it passes
        raise UserError(f"could not read {path}: {str(error).splitlines()[0]}. {fix}") from None
