"""What a model reads of an HTML article (a page saved from a news site): its words, as a browser
shows them, and where each one stands in the file.

Tags, comments and character references (``&amp;``, ``&#8217;``) are how HTML is written, not
text; the contents of ``<script>``, ``<style>``, ``<head>`` and ``<title>`` (the browser's tab,
not the article), ``<template>`` and ``<noscript>`` are not shown at all (a ``<body>`` ends a
``<head>`` left open). Left in, they are words and
character n-grams the model never saw in training. What is kept is read as a browser lays it out:
a run of spaces and line breaks in the source is one space, a block (a paragraph, a heading, a list
item, a table cell...) starts a paragraph of its own and ``<br>`` starts a line, so passages are
found in the page's paragraphs, not in its source lines.

The result is a ``Readable`` like a Markdown article's (``articles.markdown``): every character
remembers where it stands in the file (a reference's character: where the reference begins; a
break: where its tag begins), so passages and explanations point into the file as written.
Python's own ``html.parser`` reads the page: it accepts any page, however malformed, without
fetching anything.
"""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

from textclf.articles.markdown import Readable

HTML_SUFFIXES = (".html", ".htm")
NOT_SHOWN = frozenset({"script", "style", "head", "title", "template", "noscript"})
# Tags whose start or end breaks the flow of text into a new paragraph (as a browser's block boxes).
BLOCKS = frozenset({"address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div", "dl",
                    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
                    "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
                    "td", "th", "tr", "ul"})
LINE_BREAK = "br"
PARAGRAPH = "\n\n"


def readable_html(written: str) -> Readable:
    """``written`` (an HTML page or fragment) as a browser shows its text, and where each character
    kept stands in it."""
    reader = _Reader(written)
    reader.feed(written)
    reader.close()
    return reader.reading()


class _Reader(HTMLParser):
    """Collects the shown characters with their offsets in the page, one event at a time."""

    def __init__(self, written: str):
        super().__init__(convert_charrefs=False)  # references come one by one, each at its own offset
        self.written = written
        self.line_starts = [0, *(at + 1 for at, char in enumerate(written) if char == "\n")]
        self.chars: list[str] = []
        self.origin: list[int] = []
        self.hidden: list[str] = []  # the open NOT_SHOWN elements, innermost last

    def handle_starttag(self, tag, attrs):
        if tag == "body" and "head" in self.hidden:  # a <head> left open ends where the body begins
            self._close("head")
        self._tag(tag, opening=True)

    def handle_startendtag(self, tag, attrs):  # <br/>, <p/>
        self._tag(tag, opening=False)

    def handle_endtag(self, tag):
        if tag in NOT_SHOWN:
            if tag in self.hidden:
                self._close(tag)
            return
        self._tag(tag, opening=False)

    def handle_data(self, data):
        if self.hidden:
            return
        at = self._offset()
        for i, char in enumerate(data):
            self._add(" " if char.isspace() else char, at + i)

    def handle_entityref(self, name):
        self._reference(f"&{name}")

    def handle_charref(self, name):
        self._reference(f"&#{name}")

    def _close(self, tag: str) -> None:
        """Close the innermost open ``tag`` of ``hidden``, and whatever was left open inside it."""
        del self.hidden[len(self.hidden) - 1 - self.hidden[::-1].index(tag):]

    def _tag(self, tag: str, opening: bool) -> None:
        if opening and tag in NOT_SHOWN:
            self.hidden.append(tag)
        elif self.hidden:
            return
        elif tag == LINE_BREAK:
            self._break("\n")
        elif tag in BLOCKS:
            self._break(PARAGRAPH)

    def _reference(self, reference: str) -> None:
        """``reference`` (``&amp``, ``&#8221``) and the ``;`` after it, if it was written."""
        if self.hidden:
            return
        at = self._offset()
        if self.written.startswith(";", at + len(reference)):
            reference += ";"
        text = unescape(reference)  # an unknown name stays as written, as a browser shows it
        for i, char in enumerate(text[:len(reference)]):  # one offset per character, never past the reference
            self._add(" " if char.isspace() else char, at + i)  # &nbsp; too: a space to read

    def _break(self, kind: str) -> None:
        """A line or paragraph break where the current tag begins (a tag is at least 3 characters
        long: room for both characters of a paragraph break). Spaces before it are dropped, and
        breaks in a row are one, the stronger."""
        while self.chars and self.chars[-1] == " ":
            self.chars.pop()
            self.origin.pop()
        if not self.chars or self.chars[-1] == "\n" and (kind == "\n" or self._ends_with(PARAGRAPH)):
            return
        if self.chars[-1] == "\n":  # a line break followed by a paragraph break: one paragraph break
            self.chars.pop()
            self.origin.pop()
        at = self._offset()
        for i, char in enumerate(kind):
            self.chars.append(char)
            self.origin.append(at + i)

    def _add(self, char: str, at: int) -> None:
        if char == " " and (not self.chars or self.chars[-1] in " \n"):
            return  # a run of spaces is one, and none opens a line
        self.chars.append(char)
        self.origin.append(at)

    def _ends_with(self, text: str) -> bool:
        return "".join(self.chars[-len(text):]) == text

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def reading(self) -> Readable:
        while self.chars and self.chars[-1] in " \n":
            self.chars.pop()
            self.origin.pop()
        return Readable("".join(self.chars), tuple(self.origin))


def is_html(source: str) -> bool:
    """Whether the file ``source`` is read as HTML: by its name."""
    return source.lower().endswith(HTML_SUFFIXES)
