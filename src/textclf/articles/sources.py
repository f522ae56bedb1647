"""Articles from files: a plain-text, Markdown or HTML file is one article, named by its path; a
JSONL or CSV file holds one article a record, named by its id column (``id`` when it has one) or
else by ``FILE:LINE``, the line its record starts on. '-' reads one article from standard input. A
``.md`` or ``.markdown`` file is read as Markdown (``articles.markdown``), an ``.html`` or ``.htm``
file as HTML (``articles.html_input``); ``markdown`` or ``html`` reads every other article so.

Texts are read as they are (no newline translation), so passage offsets index the file's text;
only a leading byte-order mark is dropped. Every problem is a ``UserError`` naming the fix, found
before any model loads.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Iterator

from textclf.articles.html_input import HTML_SUFFIXES, looks_like_a_page, page_text
from textclf.articles.tag import Article, chosen_form
from textclf.errors import TextclfWarning, UserError
from textclf.records import DEFAULT_ID_COLUMN, csv_rows, json_text, jsonl_objects, refuse_binary, table_kind, utf8

ARTICLE_TABLES = ("csv", "jsonl")  # files of one article a record (records.TABLE_KINDS)
MARKDOWN_SUFFIXES = (".md", ".markdown")


def read_articles(sources: list[str], text_column: str = "text", id_column: str | None = None,
                  markdown: bool = False, html: bool = False) -> list[Article]:
    """Every article of ``sources``, in order. Raises ``UserError`` for a missing or unreadable
    file, a missing column, an empty article or an id used twice."""
    otherwise = chosen_form(markdown, html, ("--markdown", "--html-articles"))
    articles, seen = [], {}
    for source in sources:
        found = len(articles)
        form = _form(source, otherwise)
        for article, where in _articles(source, form, text_column, id_column):
            if not article.text.strip():
                named = f"article {article.id!r}" + ("" if where == str(article.id) else f" ({where})")
                raise UserError(f"{named} is empty. Fix: give it some text, or leave it out")
            if form == "text" and looks_like_a_page(article.text):
                warnings.warn(f"article {article.id!r} ({where}) looks like an HTML page, and is read as plain text: "
                              "its tags, styles and scripts go to the model. Fix: pass --html-articles (or name "
                              "the file .html)", TextclfWarning, stacklevel=2)
            if article.id in seen:
                raise UserError(f"article id {article.id!r} is used twice ({seen[article.id]} and {where}). "
                                "Fix: give each article its own id (--article-id-column NAME)")
            seen[article.id] = where
            articles.append(article)
        if len(articles) == found:
            raise UserError(f"no articles in {source}. Fix: give it one record per article, or leave it out")
    return articles


def _form(source: str, otherwise: str) -> str:
    """How the articles of ``source`` are written: by the file's name, else ``otherwise``."""
    if source.lower().endswith(MARKDOWN_SUFFIXES):
        return "markdown"
    return "html" if source.lower().endswith(HTML_SUFFIXES) else otherwise


def _articles(source: str, form: str, text_column: str, id_column: str | None) -> Iterator[tuple[Article, str]]:
    """The articles of ``source``, written in ``form``, and where each is."""
    if source == "-":
        if id_column is not None:
            raise UserError("--article-id-column needs a CSV or JSONL file, and standard input is one plain-text "
                            "article. Fix: drop --article-id-column")
        yield Article("-", utf8(sys.stdin.buffer.read(), "standard input").removeprefix("\ufeff"), form), "standard input"
        return
    path = Path(source)
    if path.is_dir():
        raise UserError(f"{path} is a folder, and --article reads files. Fix: pass its files, e.g. {path}/*.txt")
    if not path.exists():  # (a named pipe is read like a file: <(zcat a.txt.gz), no extension, as plain text)
        raise UserError(f"article file not found: {path}. Fix: pass an existing text, Markdown, HTML, JSONL or CSV file")
    kind = table_kind(path)
    if kind not in ARTICLE_TABLES:
        if id_column is not None:
            raise UserError(f"--article-id-column needs a CSV or JSONL file, and {path} is one plain-text article. "
                            "Fix: drop --article-id-column (the article is named by its path)")
        if form != "html":  # (a page's own charset is read by page_text)
            refuse_binary(path, "text, Markdown, HTML, JSONL or CSV", named=f"article file {path}")
        decoded = (page_text if form == "html" else utf8)(path.read_bytes(), str(path))
        yield Article(source, decoded.removeprefix("\ufeff"), form), str(path)
    elif kind == "csv":
        yield from _csv_articles(path, form, text_column, id_column)
    else:
        yield from _json_articles(path, form, text_column, id_column)


def _json_articles(path: Path, form: str, text_column: str, id_column: str | None) -> Iterator[tuple[Article, str]]:
    example = f'{{"{DEFAULT_ID_COLUMN}": "a-1", "{text_column}": "..."}}'
    for number, record in jsonl_objects(path, example):
        where = f"{path} line {number}"
        _field(record, text_column, where, "--text-column")
        text = json_text(record, text_column, path, number)  # its offsets index this string: no list's spelling
        key = _field(record, id_column, where, "--article-id-column") if id_column else record.get(DEFAULT_ID_COLUMN)
        if not (key is None or isinstance(key, (str, int, float))) or isinstance(key, bool):
            raise UserError(f"{where}: its id {json.dumps(key)[:80]} is not a string or a number. Fix: give each "
                            "article a string or number id, or name another field with --article-id-column NAME")
        yield Article(f"{path}:{number}" if key is None else key, text, form), where


def _csv_articles(path: Path, form: str, text_column: str, id_column: str | None) -> Iterator[tuple[Article, str]]:
    rows = csv_rows(path, fix="Fix: pass UTF-8 CSV")
    _, header = next(rows)
    for number, cells in rows:
        if any(cells):  # a blank line is a row of empty cells
            record, where = dict(zip(header, cells)), f"{path} line {number}"
            text = _field(record, text_column, where, "--text-column")
            key = (_field(record, id_column, where, "--article-id-column") if id_column
                   else record.get(DEFAULT_ID_COLUMN) or None)
            yield Article(f"{path}:{number}" if key is None else key, text, form), where


def _field(record: dict, column: str, where: str, flag: str):
    if column not in record:
        raise UserError(f"{where} has no column {column!r} (columns: {list(record)}). Fix: pass {flag} NAME")
    return record[column]
