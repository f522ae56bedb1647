"""What a model reads of an HTML article (a page saved from a news site): its words, as a browser
shows them, and where each one stands in the file.

Tags, comments and character references (``&amp;``, ``&#8217;``) are how HTML is written, not
text; the contents of ``<head>``, ``<title>`` (the browser's tab, not the article), ``<script>``,
``<style>``, ``<template>``, ``<noscript>``, ``<iframe>``, ``<noembed>`` and ``<noframes>`` are not
shown at all. Left in, they are words and character n-grams the model never saw in training. What
is kept is read as a browser lays it out: a run of spaces and line breaks in the source is one
space (in ``<pre>``, a line break stays one), a block (a paragraph, a heading, a list item, a table
cell...) starts a paragraph of its own and ``<br>`` starts a line, so passages are found in the
page's paragraphs, not in its source lines. A head left open ends, as in a browser, where the
body's content begins; a comment left open hides the rest of the page.

The result is a ``Readable`` like a Markdown article's (``articles.markdown``): every character
remembers where it was read from in the file (a reference's character: the whole reference; a
break: where its tag begins), so passages and explanations point into the file as written.
Python's own ``html.parser`` reads the page, fetching nothing. On Python before 3.13.4 (and
3.12.11, 3.11.13) it takes quadratic time over ``<``s that no ``>`` follows; the parser is given
the page up to the first of them, and the rest is read here as text, as written (360,000
characters of ``<a `` took 116 s, now milliseconds).
"""

from __future__ import annotations

import codecs
import re
from html import unescape
from html.parser import HTMLParser

from textclf.articles.markdown import Readable
from textclf.errors import UserError
from textclf.records import utf8

HTML_SUFFIXES = (".html", ".htm")
NOT_SHOWN = frozenset({"head", "title", "script", "style", "template", "noscript", "iframe", "noembed", "noframes"})
# What a <head> may hold: any other start tag, or text, is the body's (a browser ends the head there).
HEAD_CONTENT = frozenset({"base", "link", "meta", "noscript", "script", "style", "template", "title"})
# Tags whose start or end breaks the flow of text into a new paragraph (as a browser's block boxes).
BLOCKS = frozenset({"address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div", "dl",
                    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
                    "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
                    "td", "th", "tr", "ul"})
LINE, PARAGRAPH = "\n", "\n\n"
COMMENT_OPEN, COMMENT_CLOSE = "<!--", "-->"
# <meta charset="windows-1252">, <meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">:
# where a browser looks for it, in the page's first bytes
DECLARED_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]{1,40})", re.I)
CHARSET_WITHIN = 4096
# what a page read as text may be: its first tag (after a byte-order mark and spaces)
PAGE_START = re.compile(r"\A\ufeff?\s*<(?:!doctype\s+html|html[\s>])", re.I)


def page_text(data: bytes, origin: str) -> str:
    """A saved page's text: UTF-8, or else in the charset its ``<meta>`` declares (pages saved
    from older sites: windows-1252, iso-8859-1...), as a browser reads it. Raises ``UserError``
    when it is neither."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = DECLARED_CHARSET.search(data[:CHARSET_WITHIN])
    if declared is not None:
        charset = declared.group(1).decode("ascii")
        try:
            return data.decode(codecs.lookup(charset).name)
        except LookupError:
            raise UserError(f"{origin} declares charset {charset!r}, which Python does not know. "
                            "Fix: convert it to UTF-8, e.g. iconv -f ENCODING -t utf-8") from None
        except UnicodeDecodeError as error:
            raise UserError(f"{origin} is not {charset} as it declares (byte {data[error.start]:#04x} at "
                            f"{error.start}). Fix: convert it to UTF-8, e.g. iconv -f ENCODING -t utf-8") from None
    return utf8(data, origin)  # its error: the line that is not UTF-8, and the fix


def looks_like_a_page(text: str) -> bool:
    """Whether ``text`` begins as an HTML page does (``<!DOCTYPE html>``, ``<html>``)."""
    return PAGE_START.match(text) is not None


def readable_html(written: str) -> Readable:
    """``written`` (an HTML page or fragment) as a browser shows its text, and where each character
    kept was read from in it."""
    shown = _before_an_open_comment(written)
    # from the first '<' that no '>' follows, the parser would search to the end for each '<'
    unclosed = shown.find("<", shown.rfind(">") + 1)
    parsed = len(shown) if unclosed < 0 else unclosed
    reader = _Reader(written)
    reader.feed(shown[:parsed])
    reader.close()
    reader.text(shown[parsed:], parsed)  # text as written (no tag can end in it)
    return reader.reading()


def _before_an_open_comment(written: str) -> str:
    """``written`` up to the comment that is never closed, if one is: the rest is that comment.
    (Not a ``<!--`` in a script or style, whose end tag follows: that is the script's text.)"""
    at = written.find(COMMENT_OPEN)
    while at >= 0:
        end = written.find(COMMENT_CLOSE, at + len(COMMENT_OPEN))
        if end < 0:
            rest = written[at:].lower()
            return written if "</script" in rest or "</style" in rest else written[:at]
        at = written.find(COMMENT_OPEN, end + len(COMMENT_CLOSE))
    return written


class _Reader(HTMLParser):
    """Collects the shown characters with where each was read from, one parser event at a time."""

    def __init__(self, written: str):
        super().__init__(convert_charrefs=False)  # references come one by one, each at its own offset
        self.written = written
        self.line_starts = [0, *(newline.end() for newline in re.finditer("\n", written))]
        self.chars: list[str] = []
        self.origin: list[int] = []
        self.ends: list[int] = []
        self.hidden: list[str] = []  # the open NOT_SHOWN elements, innermost last
        self.preformatted = 0  # open <pre> elements: their line breaks are shown

    def handle_starttag(self, tag, attrs):
        if self.hidden == ["head"] and tag not in HEAD_CONTENT:
            self._close("head")
        if tag in NOT_SHOWN:
            self.hidden.append(tag)
        if tag == "pre":
            self.preformatted += 1
        self._break_at(tag)

    def handle_startendtag(self, tag, attrs):
        """``<br/>``, ``<p/>``: an element that ends where it starts (so is ``<script/>``, as
        Python's parser reads it: it hides nothing after it)."""
        self._break_at(tag)

    def handle_endtag(self, tag):
        if tag in NOT_SHOWN:
            if tag in self.hidden:
                self._close(tag)
            return
        if tag == "pre" and self.preformatted:
            self.preformatted -= 1
        self._break_at(tag)

    def handle_data(self, data):
        self.text(data, self._offset())

    def text(self, data: str, at: int) -> None:
        """``data``, text that starts at ``at`` in the page."""
        if self.hidden == ["head"] and data.strip():
            self._close("head")
        if self.hidden:
            return
        for i, char in enumerate(data):
            if char == "\n" and self.preformatted:
                self._break(LINE, at + i)
            else:
                self._add(" " if char.isspace() else char, at + i, at + i + 1)

    def handle_entityref(self, name):
        self._reference(f"&{name}")

    def handle_charref(self, name):
        self._reference(f"&#{name}")

    def _reference(self, reference: str) -> None:
        """``reference`` (``&amp``, ``&#8221``, and the ``;`` after it when written) as shown: its
        characters read from the whole reference, and what it leaves as written (``&copy2026``:
        ``©`` and then ``2026``) from its own characters."""
        if self.hidden:
            return
        at = self._offset()
        if self.written.startswith(";", at + len(reference)):
            reference += ";"
        text = unescape(reference)  # an unknown name stays as written, as a browser shows it
        kept = _common_suffix(text, reference)
        literal_at = at + len(reference) - kept
        for i, char in enumerate(text[:len(text) - kept][:literal_at - at]):
            self._add(" " if char.isspace() else char, at + i, literal_at)  # &nbsp; too: a space to read
        for i, char in enumerate(text[len(text) - kept:]):
            self._add(char, literal_at + i, literal_at + i + 1)

    def _close(self, tag: str) -> None:
        """Close the innermost open ``tag`` of ``hidden``, and whatever was left open inside it."""
        del self.hidden[len(self.hidden) - 1 - self.hidden[::-1].index(tag):]

    def _break_at(self, tag: str) -> None:
        if self.hidden:
            return
        if tag == "br":
            self._break(LINE, self._offset())
        elif tag in BLOCKS:
            self._break(PARAGRAPH, self._offset())

    def _break(self, kind: str, at: int) -> None:
        """A line or paragraph break read from ``at`` (a tag is at least 3 characters long: room
        for both characters of a paragraph break). Spaces before it are dropped, and breaks in a
        row are one, the stronger."""
        self._drop_trailing(" ")
        already = "".join(self.chars[-2:]).count("\n")
        if not self.chars or already >= len(kind):
            return
        self._drop_trailing("\n")  # a line break, then a paragraph break: one paragraph break
        for i, char in enumerate(kind):
            self._add(char, at + i, at + i + 1)

    def _add(self, char: str, at: int, end: int) -> None:
        if char == " " and (not self.chars or self.chars[-1] in " \n"):
            return  # a run of spaces is one, and none opens a line
        self.chars.append(char)
        self.origin.append(at)
        self.ends.append(end)

    def _drop_trailing(self, char: str) -> None:
        while self.chars and self.chars[-1] == char:
            del self.chars[-1], self.origin[-1], self.ends[-1]

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def reading(self) -> Readable:
        self._drop_trailing(" ")
        self._drop_trailing("\n")
        return Readable("".join(self.chars), tuple(self.origin), tuple(self.ends))


def _common_suffix(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` end with alike."""
    count = 0
    while count < min(len(a), len(b)) and a[-1 - count] == b[-1 - count]:
        count += 1
    return count
