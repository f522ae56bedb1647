"""What a model reads of a Markdown passage: its words without the syntax around them, each
character traced back to where it stands in the passage."""

import pytest

from textclf.articles.markdown import explanation_in_passage, readable


@pytest.mark.parametrize("passage, read", [
    ("## Seoul and Tokyo agree ##", "Seoul and Tokyo agree"),
    ("### Seoul and Tokyo agree", "Seoul and Tokyo agree"),
    ("#hashtag and issue #5 stay", "#hashtag and issue #5 stay"),
    ('[The ministry said on Monday](https://example.org/a_b.html "Ministry") that drills resume.',
     "The ministry said on Monday that drills resume."),
    ("See [the map](https://en.wikipedia.org/wiki/Sea_(disambiguation)) and ![a chart](c.png).", "See the map and a chart."),
    ("[Officials in Seoul][1] agreed.", "Officials in Seoul agreed."),
    ("[Minister: We [stay the course](https://x.org) here.]", "[Minister: We stay the course here.]"),
    ("> Both **navies** and __air forces__ ~~never~~ joined.", "Both navies and air forces never joined."),
    ("The *first* and _second_ `steps` <b>held</b>, see <https://x.org>.", "The first and second steps  held , see ."),
    (r"Not emphasis: \*stars\*, snake_case, 2*3*4, a * b * c.", "Not emphasis: *stars*, snake_case, 2*3*4, a * b * c."),
    ("[Anchor] North Korea fired a missile.", "[Anchor] North Korea fired a missile."),  # a transcript marker is text
    ("[Reporter]: Officials said so.", "[Reporter]: Officials said so."),  # not a link definition: words follow
    ("***Both*** sides, [one](https://x.org 'T'), [two](<https://x.org/a b>) and [three](https://x.org (T)).",
     "Both sides, one, two and three."),
    ("Code `__init__` and `*x*`, an address http://x.org/_draft_/ and mail <a@b.org>.",
     "Code __init__ and *x*, an address http://x.org/_draft_/ and mail ."),
    ("Seoul<br>Tokyo <!-- an editor's note --> agreed[^1].", "Seoul Tokyo  agreed."),
    ("*Reporting by Kim. Editing by Lee.*\n**joint naval\ndrills** resume", "Reporting by Kim. Editing by Lee.\njoint naval\ndrills resume"),
    ("*not\n\nacross a blank line*", "*not\n\nacross a blank line*"),
    ("[The ministry said\non Monday](https://x.org/a) that", "The ministry said\non Monday that"),  # a wrapped link
    ("Talks resumed.\n[1]: https://x.org/a \"Ministry\"\nBoth sides agreed.", "Talks resumed.\n\nBoth sides agreed."),
])
def test_markup_is_left_out_and_every_kept_character_points_back(passage, read):
    reading = readable(passage)
    assert reading.text == read
    # each character is the one it came from, or the space an HTML tag left
    assert all(passage[at] == char or passage[at] == "<" and char == " "
               for at, char in zip(reading.origin, reading.text, strict=True))
    assert list(reading.origin) == sorted(set(reading.origin))


@pytest.mark.parametrize("passage", ["---", "***", "[1]: https://example.org/story", "  [a]: <https://x.org> 'A'",
                                     "![](chart.png)", "======", "```python", "<!-- draft -->"])
def test_a_rule_a_link_definition_or_a_bare_image_leave_nothing_to_read(passage):
    assert not readable(passage).has_words()
    assert readable(passage).text == ""  # and all of it shows as markup


def test_explanation_offsets_move_from_what_was_read_to_the_passage():
    passage = "[Pyongyang fired](https://x.org/a) a **ballistic** missile."
    reading = readable(passage)
    start = reading.text.index("ballistic")
    explanation = ({"label": "north_korea_security", "method": "linear", "intercept": -1.0,
                    "terms": [{"text": "ballistic", "start": start, "end": start + 9, "weight": 2.0},
                              {"text": "Pyongyang fired", "start": 0, "end": 15, "weight": 1.0}]},)
    [moved] = explanation_in_passage(explanation, reading)
    assert [passage[t["start"]:t["end"]] for t in moved["terms"]] == ["ballistic", "Pyongyang fired"]
    assert moved["intercept"] == -1.0 and [t["weight"] for t in moved["terms"]] == [2.0, 1.0]


def test_a_passage_reads_its_part_of_the_article_read_whole():
    # the italics open in one sentence and close in the next: each passage reads its words only
    article = "Talks resumed. *Reporting by Kim. Editing by Lee.* [Read more](https://x.org/a)"
    reading = readable(article)
    start = article.index("Editing")
    part = reading.within(start, len(article))
    assert part.text == "Editing by Lee. Read more"
    assert all(article[start + at] == char for at, char in zip(part.origin, part.text))
    assert readable(article).within(0, article.index(" *")).text == "Talks resumed."
