"""Reading articles: a text or Markdown file is one article named by its path, a JSONL or CSV file
one article a record named by its id column or FILE:LINE; bad input is one UserError naming the fix."""

import io
import json
import os
import sys
import threading
import warnings

import pandas as pd
import pytest

from textclf.articles.sources import read_articles
from textclf.errors import TextclfWarning, UserError


def test_text_markdown_and_html_files_are_one_article_each_read_as_they_are(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbfHeadline\r\nFirst line.\r\n")
    (tmp_path / "b.md").write_text("# Title\n\nA paragraph.\n", encoding="utf-8")
    articles = read_articles([str(tmp_path / "a.txt"), str(tmp_path / "b.md")])
    assert [(a.id, a.text) for a in articles] == [(str(tmp_path / "a.txt"), "Headline\r\nFirst line.\r\n"),
                                                  (str(tmp_path / "b.md"), "# Title\n\nA paragraph.\n")]
    assert [a.form for a in articles] == ["text", "markdown"]  # the model reads b.md without its markup
    assert [a.form for a in read_articles([str(tmp_path / "a.txt")], markdown=True)] == ["markdown"]
    (tmp_path / "c.HTML").write_text("<p>A page.</p>\n", encoding="utf-8")
    (tmp_path / "d.htm").write_text("<p>Another.</p>\n", encoding="utf-8")
    pages = read_articles([str(tmp_path / "c.HTML"), str(tmp_path / "d.htm"), str(tmp_path / "a.txt")], html=True)
    assert [(a.form, a.text) for a in pages] == [("html", "<p>A page.</p>\n"), ("html", "<p>Another.</p>\n"),
                                                 ("html", "Headline\r\nFirst line.\r\n")]
    # a file's name says how it is written, whatever the flag says of the others
    assert [a.form for a in read_articles([str(tmp_path / "b.md"), str(tmp_path / "c.HTML")], markdown=True)] == [
        "markdown", "html"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"From stdin. Two sentences.\n")))
    assert [(a.id, a.text) for a in read_articles(["-"])] == [("-", "From stdin. Two sentences.\n")]


def test_a_named_pipe_is_read_as_an_article_file(tmp_path):
    """As the shell's ``<(zcat article.txt.gz)`` gives one: it was refused as not found."""
    pipe = tmp_path / "article"
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_text("Talks resumed in Seoul."))
    writer.start()
    (article,) = read_articles([str(pipe)])
    writer.join(timeout=10)
    assert (article.id, article.text, article.form) == (str(pipe), "Talks resumed in Seoul.", "text")


def test_a_saved_page_is_read_in_the_charset_it_declares(tmp_path):
    """Pages saved from older sites are windows-1252 or ISO-8859-1, as their <meta> says: read so,
    as a browser reads them (UTF-8 first, whatever the page declares)."""
    words = "The minister\u2019s caf\u00e9 talks \u2014 in Seoul."
    for name, charset, meta in (("a.html", "cp1252", '<meta charset="windows-1252">'),
                                ("b.htm", "latin-1", '<meta http-equiv="Content-Type" content="text/html; '
                                                     'charset=ISO-8859-1">'),
                                ("c.html", "utf-8", '<meta charset="windows-1252">')):
        shown = words if charset != "latin-1" else words.replace("\u2019", "'").replace("\u2014", "-")
        (tmp_path / name).write_bytes(f"<html><head>{meta}</head><body><p>{shown}</p></body></html>".encode(charset))
        (article,) = read_articles([str(tmp_path / name)])
        assert article.form == "html" and article.reading.text == shown


def test_an_html_page_read_as_plain_text_is_pointed_out(tmp_path):
    page = "<!DOCTYPE html>\n<html><body><p>The ministers met.</p></body></html>"
    (tmp_path / "feed.jsonl").write_text(json.dumps({"id": "p", "text": page}) + "\n"
                                         + json.dumps({"id": "q", "text": "A text about <b>talks</b>."}) + "\n")
    with pytest.warns(TextclfWarning, match=r"article 'p' \(.*feed.jsonl line 1\) looks like an HTML page.*"
                                            r"Fix: pass --html-articles"):
        read_articles([str(tmp_path / "feed.jsonl")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read as HTML, or a text with a tag in it: no warning
        read_articles([str(tmp_path / "feed.jsonl")], html=True)
        (tmp_path / "q.jsonl").write_text(json.dumps({"text": "A text about <b>talks</b>."}) + "\n")
        read_articles([str(tmp_path / "q.jsonl")])


def test_jsonl_and_csv_hold_one_article_a_record_named_by_id_or_line(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": 7, "body": "One.\nTwo."}) + "\n\n"
                                      + json.dumps({"id": "x", "body": "Three."}) + "\n")
    assert [(a.id, a.text) for a in read_articles([str(tmp_path / "a.jsonl")], "body")] == [(7, "One.\nTwo."),
                                                                                            ("x", "Three.")]
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "Four."}) + "\n" + json.dumps({"text": "Five."}) + "\n")
    assert [a.id for a in read_articles([str(tmp_path / "b.jsonl")])] == [f"{tmp_path / 'b.jsonl'}:1",
                                                                          f"{tmp_path / 'b.jsonl'}:2"]
    pd.DataFrame({"slug": ["s-1", "s-2"], "text": ["Line one.\nLine two.", "Other."]}).to_csv(tmp_path / "c.csv",
                                                                                             index=False)
    articles = read_articles([str(tmp_path / "c.csv")], id_column="slug")
    assert [(a.id, a.text) for a in articles] == [("s-1", "Line one.\nLine two."), ("s-2", "Other.")]
    assert [a.id for a in read_articles([str(tmp_path / "c.csv")])] == [f"{tmp_path / 'c.csv'}:2",
                                                                        f"{tmp_path / 'c.csv'}:4"]  # a cell spans 2


@pytest.mark.parametrize("content, call, message", [
    (None, dict(sources=["missing.txt"]), "article file not found: .*missing.txt. Fix: pass an existing"),
    ("  \n\n", dict(sources=["a.txt"]), "article '[^']*a.txt' is empty. Fix: give it some text"),  # named once
    ('{"text": "One."}\n{"text": ""}\n', dict(sources=["a.jsonl"]), r"a.jsonl:2' \(.*line 2\) is empty"),
    ('{"body": "One."}\n', dict(sources=["a.jsonl"]), "has no column 'text' .* Fix: pass --text-column NAME"),
    ('{"text": "One."}\n', dict(sources=["a.jsonl"], id_column="slug"), "Fix: pass --article-id-column NAME"),
    ("text\nOne.\n", dict(sources=["a.csv"], text_column="body"), "has no column 'body'.*--text-column"),
    ("Some text.", dict(sources=["a.txt"], id_column="id"), "--article-id-column needs a CSV or JSONL file"),
    ('{"id": 1, "text": "A."}\n{"id": 1, "text": "B."}\n', dict(sources=["a.jsonl"]), "article id 1 is used twice"),
    # was a traceback (unhashable type: 'list')
    ('{"id": ["a"], "text": "A."}\n', dict(sources=["a.jsonl"]), r'a.jsonl line 1: its id \["a"\] is not a string or a number'),
    ('{"id": true, "text": "A."}\n', dict(sources=["a.jsonl"]), r'a.jsonl line 1: its id true is not a string or a number'),
    ("[1, 2]\n", dict(sources=["a.jsonl"]), "line 1 is not a JSON object"),
    ("\n\n", dict(sources=["a.jsonl"]), "no articles in .*a.jsonl. Fix:"),
    ("id,text\n", dict(sources=["a.csv"]), "no articles in .*a.csv. Fix:"),
    (b"caf\xe9\n", dict(sources=["a.txt"]), "line 1 is not UTF-8"),
    # not text at all: what it is, not iconv's fix
    ("%PDF-1.7\n".encode() + bytes(8), dict(sources=["a.txt"]), "article file .*a.txt is not UTF-8 text: it looks like a PDF"),
    (b"<p>caf\xe9</p>\n", dict(sources=["a.html"]), "line 1 is not UTF-8.*Fix: convert"),  # no charset declared
    (b'<meta charset="klingon"><p>caf\xe9</p>', dict(sources=["a.html"]), "declares charset 'klingon', which Python"),
    (b'<meta charset="ascii"><p>caf\xe9</p>', dict(sources=["a.html"]), "is not ascii as it declares .*Fix: convert"),
    # a list was tagged as its Python spelling, and its offsets indexed that spelling
    ('{"text": "One."}\n{"text": ["a", "b"]}\n', dict(sources=["a.jsonl"]),
     r"a.jsonl line 2 field 'text' holds a list, not text: \[\"a\", \"b\"\]. Fix: write the text as a JSON string"),
    ("", dict(sources=["folder"]), "folder is a folder, and --article reads files. Fix: pass its files"),
])
def test_bad_input_is_one_user_error_naming_the_fix(tmp_path, content, call, message):
    if content == "":
        (tmp_path / call["sources"][0]).mkdir()
    elif content is not None:
        path = tmp_path / call["sources"][0]
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    call = {**call, "sources": [str(tmp_path / name) for name in call["sources"]]}
    with pytest.raises(UserError, match=message):
        read_articles(**call)
