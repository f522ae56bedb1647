"""What a model reads of a Markdown article: its words, without the markup around them.

A link's target (``[the ministry said](https://...)``), emphasis (``**``, ``_``), a heading's
``#``, a quote's ``>``, code's backticks, HTML tags and comments are syntax, not text: left in,
they are words and character n-grams the model never saw in training. On the seed corpus's test
passages with a link and an emphasised word in each, the default model's accuracy fell from 0.868
to 0.829; read without the markup, 0.868 again (experiments/articles.md).

The whole article is read at once, so markup that spans passages (an italic credit line of two
sentences, a link wrapped onto the next line) is found; each passage then reads its part
(``Readable.within``). Every character kept remembers where it stands in the article, so what the
model says about a passage (an explanation's word offsets) points back into the text as written.
A removed HTML tag leaves one space (``Seoul<br>Tokyo`` reads as two words), which stands where
the tag began.

Every pattern is bounded (``LONGEST``): a line of 20,000 stars or backticks costs milliseconds.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

LONGEST = 300  # characters that emphasis, a code span or a link's text may hold
# any character, a line break too, but not a blank line (a paragraph ends there)
INLINE = r"(?:[^\n]|\n(?![ \t]*\n))"

# Found first; their text is kept as it is (no emphasis in `__init__` or in http://x.org/_a_/).
CODE_SPAN = re.compile(rf"(?<!`)(`{{1,3}})(?!`)[^`]{{1,{LONGEST}}}?(?<!`)(\1)(?!`)")
FENCE = re.compile(r"^([ \t]{0,3}(?:`{3,}|~{3,})[^\n]*)$", re.MULTILINE)  # ```python: not prose
BARE_URL = re.compile(r"https?://[^\s<>()\[\]]+")

# Each pattern's groups are the syntax to leave out; what lies between them is text.
# [text](target "title"), ![alt](<target>): the "!", the "[", and "](target)"; a link's text holds no
# bracket, so a link inside a sound bite ([Minister: ... [text](target) ...]) is found as itself.
TARGET = r"\(\s*(?:<[^<>\n]*>|(?:[^()\s]|\([^()\s]*\))*)(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"
INLINE_LINK = re.compile(rf"(!?\[)(?=[^\[\]]{{0,{LONGEST}}}\]\()[^\[\]]*(\]{TARGET})")
REFERENCE_LINK = re.compile(rf"(!?\[)(?=[^\[\]]{{0,{LONGEST}}}\]\[)[^\[\]]*(\]\[[^\[\]\n]*\])")  # [text][ref]
FOOTNOTE_MARK = re.compile(r"(\[\^[^\[\]\s]+\]:?)")  # [^1], and [^1]: opening its note
# <https://...>, <name@example.org>: an address, not words; <!-- ... -->: not shown to a reader
ADDRESS = re.compile(r"(<(?:(?:https?|ftp|mailto):[^<>\s]*|[^<>\s@]+@[^<>\s]+)>)")
COMMENT = re.compile(rf"(<!--[\s\S]{{0,{4 * LONGEST}}}?-->)")
# a whole line "[1]: https://... "title"": where a reference link points ("[Reporter]: Officials
# said ..." is not one: words follow the first)
LINK_DEFINITION = re.compile(r"^([ \t]{0,3}\[[^\]\n]+\]:[ \t]*\S+(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?"
                             r"[ \t]*)$", re.MULTILINE)
# *, **, *** (and _, ~~) around text that neither starts nor ends with a space, not within a word
# (snake_case, 2*3 stay), as CommonMark reads "_"
EMPHASIS = re.compile(rf"(?<![\w*\\])(\*{{1,3}})(?=[^\s*])(?:{INLINE}){{1,{LONGEST}}}?(?<=[^\s*\\])(\1)(?![\w*])"
                      rf"|(?<![\w_\\])(_{{1,3}})(?=[^\s_])(?:{INLINE}){{1,{LONGEST}}}?(?<=[^\s_\\])(\3)(?![\w_])"
                      rf"|(~~)(?=\S)(?:{INLINE}){{1,{LONGEST}}}?(?<=\S)(~~)")
HEADING = re.compile(r"^([ \t]{0,3}#{1,6}(?:[ \t]+|$))(?:[^\n]*?([ \t]+#+[ \t]*)$|[^\n]*)", re.MULTILINE)
QUOTE = re.compile(r"^([ \t]{0,3}(?:>[ \t]?)+)", re.MULTILINE)
# a rule (---, * * *, ___) or a heading's underline (===): a line of one mark
RULE = re.compile(r"^([ \t]{0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|=+[ \t]*))$", re.MULTILINE)
ESCAPE = re.compile(r"(\\)[!-/:-@\[-`{-~]")
# In two rounds: links, addresses and whole lines first; then, with the addresses left in (bare
# ones, not a link's target) kept whole, the marks within text.
LEFT_OUT_FIRST = (FENCE, RULE, COMMENT, INLINE_LINK, REFERENCE_LINK, FOOTNOTE_MARK, ADDRESS, LINK_DEFINITION)
LEFT_OUT_THEN = (EMPHASIS, HEADING, QUOTE, ESCAPE)
HTML_TAG = re.compile(rf"(</?[A-Za-z][A-Za-z0-9-]{{0,30}}(?:\s[^<>]{{0,{LONGEST}}})?/?>)")  # left out, a space kept

KEPT, LEFT, SPACE = 0, 1, 2  # what becomes of a character of the article


@dataclass(frozen=True)
class Readable:
    """A text without its markup. ``origin[i]``: where ``text[i]`` stands in the text as written,
    in order: ``text[i]`` is that character, or what markup left in its place (a space where a
    Markdown HTML tag began; an HTML page's break where its tag begins, a reference's character
    where the reference begins). ``ends[i]``: where what ``text[i]`` was read from ends (a whole
    reference such as ``&amp;``); empty when every character was read from one (``origin[i] + 1``)."""

    text: str
    origin: tuple[int, ...]
    ends: tuple[int, ...] = ()

    def end(self, i: int) -> int:
        """Where what ``text[i]`` was read from ends in the text as written."""
        return self.ends[i] if self.ends else self.origin[i] + 1

    def within(self, start: int, end: int) -> Readable:
        """What is read of ``written[start:end]``, its ``origin`` counted from ``start``."""
        first, last = bisect_left(self.origin, start), bisect_left(self.origin, end)
        return Readable(self.text[first:last], tuple(at - start for at in self.origin[first:last]),
                        tuple(at - start for at in self.ends[first:last]))

    def has_words(self) -> bool:
        """Whether anything is left to read (a rule ``---`` or a link definition leaves nothing)."""
        return any(char.isalnum() for char in self.text)

    def in_passage(self, start: int, end: int) -> tuple[int, int]:
        """``text[start:end]``'s span in the text as written (markup inside it included)."""
        if start >= end:
            at = self.origin[start] if start < len(self.origin) else (self.end(len(self.origin) - 1) if self.origin else 0)
            return at, at
        return self.origin[start], self.end(end - 1)


def readable(written: str) -> Readable:
    """``written`` (Markdown) without its syntax, and where each character kept stands in it."""
    fate = [KEPT] * len(written)
    as_is = [False] * len(written)  # inside code or a bare address: no markup is read there
    for match in CODE_SPAN.finditer(written):
        _leave_out(fate, as_is, match)
        as_is[match.end(1):match.start(2)] = [True] * (match.start(2) - match.end(1))
    for pattern in LEFT_OUT_FIRST:
        for match in pattern.finditer(written):
            _leave_out(fate, as_is, match)
    for url in BARE_URL.finditer(written):
        if fate[url.start()] == KEPT:
            as_is[url.start():url.end()] = [True] * (url.end() - url.start())
    for pattern in LEFT_OUT_THEN:
        for match in pattern.finditer(written):
            _leave_out(fate, as_is, match)
    for match in HTML_TAG.finditer(written):
        if _leave_out(fate, as_is, match):
            fate[match.start()] = SPACE
    origin = tuple(at for at, what in enumerate(fate) if what != LEFT)
    return Readable("".join(" " if fate[at] == SPACE else written[at] for at in origin), origin)


def markup_spans(written: str, reading: Readable) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` of each run of ``written`` that ``reading`` leaves out: its markup. What a
    character was read from is not markup: itself, unless markup put another in its place (a space
    for a tag, a break), or a whole reference (``&amp;`` shows as ``&``)."""
    as_written = [False] * len(written)
    for i, (at, char) in enumerate(zip(reading.origin, reading.text)):
        end = reading.end(i)
        if end - at > 1 or written[at] == char:
            as_written[at:end] = [True] * (end - at)
    spans, start = [], None
    for at, read in enumerate([*as_written, True]):
        if not read and start is None:
            start = at
        elif read and start is not None:
            spans.append((start, at))
            start = None
    return tuple(spans)


def _leave_out(fate: list[int], as_is: list[bool], match: re.Match) -> bool:
    """Mark ``match``'s groups left out, unless one falls where text is read as it is."""
    groups = [(match.start(g), match.end(g)) for g in range(1, len(match.groups()) + 1) if match.group(g) is not None]
    if any(as_is[at] for start, end in groups for at in range(start, end)):
        return False
    for start, end in groups:
        fate[start:end] = [LEFT] * (end - start)
    return True


def explanation_in_passage(explanation: tuple[dict, ...], reading: Readable) -> tuple[dict, ...]:
    """``explanation`` (``serving.explain``: terms with offsets into what the model read) with each
    term's ``start`` and ``end`` pointing into the passage as written."""
    def moved(term: dict) -> dict:
        start, end = reading.in_passage(term["start"], term["end"])
        return {**term, "start": start, "end": end}
    return tuple({**label, "terms": [moved(term) for term in label["terms"]]} for label in explanation)
