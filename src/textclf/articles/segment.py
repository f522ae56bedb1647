"""Split an article into passages, each with the character offsets of its text in the article.

Three units: ``paragraph`` (blocks between blank lines), ``line`` and ``sentence``. Sentences are
found line by line, so a headline without final punctuation stays a passage of its own, by
sentencex (Wikimedia's rule-based segmenter; why this one: experiments/articles.md). Broadcast
transcripts add two rules of their own on top, whatever the unit:

- a **marker** (``[Anchor]``, ``[Reporter]``, ``[Phone]``: a bracket of at most three words, no
  colon, no final punctuation) is never a passage by itself: it starts the passage that follows
  it, on its line or the next one (the last passage of an article, when nothing follows it);
- a **bracketed block** that starts a passage and is not a marker (a sound bite such as
  ``[Minister: We came to listen. Nothing has changed.]``, a copyright notice) is one passage,
  however many sentences it holds: the speaker's name stays with all of their words, as in the
  seed corpus, whose passages keep a sound bite whole. Text after its closing bracket starts a
  new passage. A bracket inside a sentence (``He [the minister] said``) is left to the segmenter,
  and so, in Markdown, is a link's text (``[the ministry said](https://...) that``, ``[text][1]``):
  the bracket runs on into its target, and the sentence goes on after it.

A **list marker** that opens a line (``1.``, ``2)``, ``-``, ``*``, ``\u2022``, as in a numbered
list of points or a Markdown list), or follows a transcript marker or bracketed block there
(``[Anchor] 1. Tariffs fall.``), is never a passage by itself either: it stays with the item
it numbers. So do the markers of a numbered list within a line, after a sentence's end or a
colon (``... three steps: 1) Tariffs fall. 2) Visas ease.``, an article whose newlines were lost),
and a number that follows a list item as a passage of its own (``1. Tariffs fall. 2. Visas
ease.``: the ``2.`` starts the passage after it),
each of which also starts a passage: sentencex read such a ``1)`` as opening a parenthesis and ran
its sentence on to the next marker. A lone number there is text (``on Jan. 5. Both sides``).

Offsets are Python string indexes (code points) into the text as given: ``text[start:end]`` is
the passage, with no whitespace at either end.
"""

from __future__ import annotations

import re

import sentencex

UNITS = ("sentence", "line", "paragraph")
MARKER_MAX_WORDS = 3
SENTENCE_END = ".!?\"'\u201d\u2019"
# sentencex cuts "Korea-U.S. talks" after "Korea-U." (a hyphen before an abbreviation); it reads
# "Korea U.S. talks" right. A dash never ends a sentence, so the segmenter sees spaces in their
# place, in a copy of the same length: offsets are unchanged.
DASHES = str.maketrans({"-": " ", "\u2010": " ", "\u2011": " ", "\u2012": " ", "\u2013": " ", "\u2014": " "})
BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# sentencex cuts "1. Joint drills resume." after "1."; the segmenter sees spaces in its place.
MARKER_AND_SPACE = r"(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+"
ITEM_OPENING = re.compile(MARKER_AND_SPACE)  # at a passage's start (re.match at an offset: no ^)
# Brackets at a line's or a passage's start, before what it says ("[Anchor] 1. Tariffs")
LEADING_BRACKETS = re.compile(r"[ \t]*(?:\[[^\[\]\n]*\][ \t]*)*")
# Within a line: a number marker after a sentence's end or a colon (group 1: the marker, group 2:
# its number). Only a run of them counting 1, 2, ... is a list (``_list_items``): one alone is a
# date, a rank or a score ("on Jan. 5. Both", "the No. 2. Her", "won 3: 1. The").
ITEM_MARKER = re.compile(r"[.!?:;][\"'\u201d\u2019)\]]?[ \t]+((\d{1,3})[.)])(?=[ \t])")
# A passage that is only a number ("2." after "1. Tariffs fall."): in a list, it starts the next.
LONE_NUMBER = re.compile(r"\d{1,3}[.)]")
SPACES = re.compile(r"\s*")
# what follows a Markdown link's ``[text]`` at once: its ``(url)`` or its ``[reference]``
MARKDOWN_LINK_TARGET = ("(", "[")


def segment(text: str, unit: str = "sentence", markdown: bool = False) -> list[tuple[int, int]]:
    """The passages of ``text`` (``markdown``: written in Markdown) as ``(start, end)`` offsets, in
    order, none empty or all whitespace. Raises ``ValueError`` for an unknown ``unit``."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}: expected one of {', '.join(UNITS)}")
    if unit == "paragraph":
        spans = _paragraphs(text)
    else:
        spans = [piece for line in _lines(text)
                 for piece in (_sentences(text, *line, markdown) if unit == "sentence" else [line])]
    return _attach_markers(text, [span for span in (_trimmed(text, *span) for span in spans) if span])


def _lines(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for line in text.splitlines(keepends=True):
        spans.append((start, start + len(line)))
        start += len(line)
    return spans


def _paragraphs(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for gap in BLANK_LINES.finditer(text):
        spans.append((start, gap.start()))
        start = gap.end()
    return [*spans, (start, len(text))]


def _sentences(text: str, start: int, end: int, markdown: bool) -> list[tuple[int, int]]:
    """One line's sentences: sentencex's cuts, none inside a bracketed block, one after a block
    that opens a passage (unless the block is a marker)."""
    line = text[start:end]
    items = _list_items(line)
    cuts = {boundary["start_index"] for boundary in
            sentencex.get_sentence_boundaries("en", _for_the_segmenter(line, items))}
    # an item starts a passage, its marker in it: no cut between the marker and its first word
    within = {cut for start, end in items for cut in range(start + 1, SPACES.match(line, end).end() + 1)}
    cuts = (cuts - within) | {start for start, _ in items}
    cuts.discard(0)
    for open_at, close_at in _bracket_blocks(line):
        cuts -= set(range(open_at + 1, close_at))  # sentencex cuts inside one that holds a parenthesis
        opens_a_passage = open_at in cuts or not line[:open_at].strip()
        is_a_link = markdown and line.startswith(MARKDOWN_LINK_TARGET, close_at)
        if opens_a_passage and not is_a_link and not is_marker(line[open_at:close_at]) and line[close_at:].strip():
            cuts.add(close_at)
    bounds = [0, *sorted(cuts), len(line)]
    return [(start + a, start + b) for a, b in zip(bounds, bounds[1:])]


def _list_items(line: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each within-line marker of a numbered list: runs of ``ITEM_MARKER``s
    counting 1, 2, ... (other numbers between them are text); a lone 1 starts no list."""
    items: list[tuple[int, int]] = []
    run: list[tuple[int, int]] = []
    for marker in ITEM_MARKER.finditer(line):
        number, span = int(marker.group(2)), marker.span(1)
        if number == len(run) + 1 and run:
            run.append(span)
        elif number == 1:
            items += run if len(run) >= 2 else []
            run = [span]
    return items + (run if len(run) >= 2 else [])


def _for_the_segmenter(line: str, items: list[tuple[int, int]]) -> str:
    """``line`` as sentencex should read it, in a copy of the same length (offsets unchanged):
    dashes, a list marker that opens the line (after any brackets there: a transcript marker
    joins the item, a bracketed block is a passage before it) and the list ``items`` within it
    become spaces."""
    marker = ITEM_OPENING.match(line, LEADING_BRACKETS.match(line).end())
    pieces, at = [], 0
    opening = [(marker.start(), marker.end())] if marker else []
    for start, end in sorted(opening + items):  # the opening marker may also be an item: overlaps
        start = max(start, at)
        if end > start:
            pieces += [line[at:start], " " * (end - start)]
            at = end
    return ("".join(pieces) + line[at:]).translate(DASHES)


def _bracket_blocks(line: str) -> list[tuple[int, int]]:
    """``(open, end)`` of every outermost ``[...]`` in ``line`` whose brackets balance (``end``
    just past the ``]``); an unbalanced bracket opens no block."""
    blocks, depth, open_at = [], 0, 0
    for i, char in enumerate(line):
        if char == "[":
            open_at = i if depth == 0 else open_at
            depth += 1
        elif char == "]" and depth:
            depth -= 1
            if depth == 0:
                blocks.append((open_at, i + 1))
    return blocks


def is_marker(passage: str) -> bool:
    """Whether ``passage`` is only transcript markers such as ``[Anchor]`` or ``[Kakao Talk]``."""
    blocks = _bracket_blocks(passage)
    rest = "".join(passage[a:b] for a, b in zip([0, *(end for _, end in blocks)],
                                                [*(start for start, _ in blocks), len(passage)]))
    return bool(blocks) and not rest.strip() and all(_one_marker(passage[a + 1:b - 1]) for a, b in blocks)


def _past_markers(text: str, at: int) -> int:
    """Where the text from ``at`` says something: past any transcript markers (``[Anchor]``) and
    spaces there; ``at`` itself if there are none, or a bracket there is not a marker."""
    leading = LEADING_BRACKETS.match(text, at)
    return leading.end() if is_marker(leading.group()) else at


def _one_marker(inside: str) -> bool:
    inside = inside.strip()
    return (bool(inside) and "[" not in inside and ":" not in inside
            and len(inside.split()) <= MARKER_MAX_WORDS and not inside.endswith(tuple(SENTENCE_END)))


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _attach_markers(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each marker-only passage, or one that is only a number right after a list item (``2.``
    after ``1. Tariffs fall.``), joined to the passage after it (the last: to the one before)."""
    joined: list[tuple[int, int]] = []
    pending = None  # the start of markers waiting for a passage
    number = None  # the start of a list number among them
    own_start = None  # where the last joined passage's own text starts: its number, after any [Anchor]
    for start, end in spans:
        in_a_list = own_start is not None and ITEM_OPENING.match(text, own_start) is not None
        is_number = in_a_list and LONE_NUMBER.fullmatch(text[start:end]) is not None
        if is_marker(text[start:end]) or is_number:
            pending = start if pending is None else pending
            number = start if is_number and number is None else number
            continue
        joined.append((start if pending is None else pending, end))
        own_start = _past_markers(text, start) if number is None else number
        pending = number = None
    if pending is not None:
        if joined:
            joined[-1] = (joined[-1][0], spans[-1][1])
        else:
            joined.append((pending, spans[-1][1]))  # an article of markers only
    return joined
