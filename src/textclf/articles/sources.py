"""Articles from files: a plain-text or Markdown file is one article, named by its path; a JSONL
or CSV file holds one article a record, named by its id column (``id`` when it has one) or else
by ``FILE:LINE``, the line its record starts on. '-' reads one article from standard input.

Texts are read as they are (no newline translation), so passage offsets index the file's text;
only a leading byte-order mark is dropped. Every problem is a ``UserError`` naming the fix, found
before any model loads.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Iterator

from textclf.articles.tag import Article
from textclf.errors import UserError

TABLE_SUFFIXES = (".csv", ".jsonl", ".json")
DEFAULT_ID_COLUMN = "id"


def read_articles(sources: list[str], text_column: str = "text", id_column: str | None = None) -> list[Article]:
    """Every article of ``sources``, in order. Raises ``UserError`` for a missing or unreadable
    file, a missing column, an empty article or an id used twice."""
    articles, seen = [], {}
    for source in sources:
        found = len(articles)
        for article, where in _articles(source, text_column, id_column):
            if not article.text.strip():
                raise UserError(f"article {article.id!r} ({where}) is empty. Fix: give it some text, or leave it out")
            if article.id in seen:
                raise UserError(f"article id {article.id!r} is used twice ({seen[article.id]} and {where}). "
                                "Fix: give each article its own id (--article-id-column NAME)")
            seen[article.id] = where
            articles.append(article)
        if len(articles) == found:
            raise UserError(f"no articles in {source}. Fix: give it one record per article, or leave it out")
    return articles


def _articles(source: str, text_column: str, id_column: str | None) -> Iterator[tuple[Article, str]]:
    if source == "-":
        if id_column is not None:
            raise UserError("--article-id-column needs a CSV or JSONL file, and standard input is one plain-text "
                            "article. Fix: drop --article-id-column")
        yield Article("-", _decoded(sys.stdin.buffer.read(), "standard input")), "standard input"
        return
    path = Path(source)
    if not path.is_file():
        raise UserError(f"article file not found: {path}. Fix: pass an existing text, Markdown, JSONL or CSV file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        if id_column is not None:
            raise UserError(f"--article-id-column needs a CSV or JSONL file, and {path} is one plain-text article. "
                            "Fix: drop --article-id-column (the article is named by its path)")
        yield Article(source, _decoded(path.read_bytes(), str(path))), str(path)
    elif suffix == ".csv":
        yield from _csv_articles(path, text_column, id_column)
    else:
        yield from _json_articles(path, text_column, id_column)


def _decoded(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise UserError(f"{origin} line {line} is not UTF-8 (byte {data[error.start]:#04x}). "
                        "Fix: convert the text to UTF-8, e.g. iconv -f latin1 -t utf-8") from None


def _json_articles(path: Path, text_column: str, id_column: str | None) -> Iterator[tuple[Article, str]]:
    for number, line in enumerate(_decoded(path.read_bytes(), str(path)).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number} is not a JSON object. Fix: write one article a line, "
                            f'e.g. {{"{DEFAULT_ID_COLUMN}": "a-1", "{text_column}": "..."}}')
        where = f"{path} line {number}"
        text = _field(record, text_column, where, "--text-column")
        key = _field(record, id_column, where, "--article-id-column") if id_column else record.get(DEFAULT_ID_COLUMN)
        yield Article(f"{path}:{number}" if key is None else key, "" if text is None else str(text)), where


def _csv_articles(path: Path, text_column: str, id_column: str | None) -> Iterator[tuple[Article, str]]:
    csv.field_size_limit(2**31 - 1)  # an article is longer than the csv module's default cell (128 KiB)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = csv.reader(handle)
            header = next(rows, [])
            first_line = rows.line_num + 1
            for row in rows:
                where = f"{path} line {first_line}"
                if len(row) > len(header):
                    raise UserError(f"{where} has {len(row)} cells, its header {len(header)}. "
                                    "Fix: quote cells that hold a comma")
                record = dict(zip(header, row + [""] * (len(header) - len(row))))
                if any(row):  # a blank line is a row of no cells
                    text = _field(record, text_column, where, "--text-column")
                    key = (_field(record, id_column, where, "--article-id-column") if id_column
                           else record.get(DEFAULT_ID_COLUMN) or None)
                    yield Article(f"{path}:{first_line}" if key is None else key, text), where
                first_line = rows.line_num + 1
    except (UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"could not read {path}: {str(error).splitlines()[0]}. Fix: pass UTF-8 CSV") from None


def _field(record: dict, column: str, where: str, flag: str):
    if column not in record:
        raise UserError(f"{where} has no column {column!r} (columns: {list(record)}). Fix: pass {flag} NAME")
    return record[column]
