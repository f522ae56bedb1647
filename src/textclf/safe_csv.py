"""CSV that is safe to open in a spreadsheet and reads back row for row.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` in a tagged text would become a live
link, ``+cmd|...`` a command): such cells get a leading ``'``, which spreadsheets show as text, the
OWASP advice. A number is left as it is (``-1``, a sentiment label, would read back as ``'-1``):
a spreadsheet reads it as that number, never as a formula. Line breaks inside a cell, a bare
carriage return included, are quoted: the writer ends rows with CRLF, so the csv module quotes
any cell holding either character.
"""

from __future__ import annotations

import csv
import re
from typing import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value):
    """``value``, with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_rows(handle, rows: Iterable[Iterable]) -> None:
    """Write ``rows`` (the header included) to ``handle``, opened with ``newline=""``."""
    writer = csv.writer(handle)  # the excel dialect: CRLF rows, so \r and \n in cells are quoted
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
