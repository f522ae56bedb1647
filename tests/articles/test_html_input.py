"""What the model reads of an HTML article: the text a browser shows, each character pointing
back to where it stands in the file."""

import pytest

from textclf.articles.html_input import readable_html

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Wire | Seoul</title>
<style>p { color: red }</style>
<script>var teaser = "<p>not shown</p>";</script>
<body>
<h1>Seoul &amp; Tokyo   pledge
   new talks</h1>
<!-- ad slot: <p>not shown</p> -->
<p>The minister said on <b>Mon</b>day that &ldquo;nothing has changed&#8221;.<br>Both sides
agreed.</p>
<p>Officials will meet&nbsp;again in <a href="https://example.org/march">March</a>.</p><p>  </p>
<noscript><p>Enable scripts.</p></noscript>
</body></html>
"""


def test_a_page_reads_as_a_browser_shows_it():
    reading = readable_html(PAGE)
    # the head (left open: the body closes it), scripts, styles, comments and tags are not read;
    # references are their characters; source line breaks and space runs are one space; blocks
    # are paragraphs and <br> a line
    assert reading.text == ("Seoul & Tokyo pledge new talks\n\n"
                            "The minister said on Monday that \u201cnothing has changed\u201d.\nBoth sides agreed.\n\n"
                            "Officials will meet again in March.")


def test_every_character_read_points_into_the_page_as_written():
    reading = readable_html(PAGE)
    assert list(reading.origin) == sorted(set(reading.origin))  # in order, one place each
    for char, at in zip(reading.text, reading.origin):
        if char.isalnum():
            assert PAGE[at] == char
        elif char in "&\u201c\u201d":  # from a reference: where it begins
            assert PAGE[at] == "&"
    # a passage of what is read spans its words in the page, inline markup inside it
    start = reading.text.index("The minister")
    end = reading.text.index("changed") + len("changed")
    first, last = reading.in_passage(start, end)
    assert PAGE[first:last] == "The minister said on <b>Mon</b>day that &ldquo;nothing has changed"
    assert reading.within(first, last).text == "The minister said on Monday that \u201cnothing has changed"


@pytest.mark.parametrize("written, read", [
    ("Seoul<br>Tokyo", "Seoul\nTokyo"),
    ("<div>One</div><div>Two</div>", "One\n\nTwo"),
    ("<p>unclosed <b>bold <i>and italic", "unclosed bold and italic"),  # malformed: read anyway
    ("<ul><li>Drills resume.</li><li>Visas ease.</li></ul>", "Drills resume.\n\nVisas ease."),
    ("AT&T &unknown; 5 &lt; 6", "AT&T &unknown; 5 < 6"),  # not a reference: as written
    ("<p>Line one<br><br><br>Line two</p>", "Line one\nLine two"),
    ("<script>1</script><style>p{}</style><template><p>x</p></template>", ""),
    ("<br/><p/>Text<hr/>More", "Text\n\nMore"),
])
def test_small_pages(written, read):
    reading = readable_html(written)
    assert reading.text == read
    assert all(written[at] == char for char, at in zip(reading.text, reading.origin) if char.isalnum())


@pytest.mark.parametrize("written, read", [
    ("<table><tr><td>Seoul</td><td>Tokyo</td></tr></table>", "Seoul\n\nTokyo"),  # a cell is a paragraph
    ("<head><title>Wire</title><p>Story</p>", "Story"),  # no <body>: the head ends where content begins
    ("<head><meta charset=utf-8>Story", "Story"),
    ("<p>Shown.</p><!-- <p>old version</p>", "Shown."),  # a comment never closed hides the rest
    ("<script>document.write('<!--')</script><p>Shown.</p>", "Shown."),  # that is no comment
    ("<pre>line one\nline two</pre>after", "line one\nline two\n\nafter"),
    ("<iframe><p>fallback</p></iframe>shown", "shown"),
])
def test_what_a_browser_shows_of_unusual_pages(written, read):
    assert readable_html(written).text == read


def test_a_reference_is_read_from_whole_and_what_follows_it_from_itself():
    written = "<p>He said &ldquo;No.&rdquo; &copy2026 Wire &#65;&#66;</p>"
    reading = readable_html(written)
    assert reading.text == "He said \u201cNo.\u201d \u00a92026 Wire AB"
    # a passage that ends on a reference's character ends after the whole reference
    assert written[slice(*reading.in_passage(0, reading.text.index("\u201d") + 1))] == "He said &ldquo;No.&rdquo;"
    # the digits after &copy (written without ';') are read from themselves
    digits = reading.text.index("2026")
    assert written[slice(*reading.in_passage(digits, digits + 4))] == "2026"
    assert written[slice(*reading.in_passage(reading.text.index("AB"), len(reading.text)))] == "&#65;&#66;"


@pytest.mark.timeout(60)
def test_a_page_of_unclosed_tags_is_read_in_linear_time():
    """Python's parser (before 3.11.13) searched to the end of the page for each '<' with no '>'
    after it: 360,000 characters of '<a ' took 116 s. Read in linear time, it takes milliseconds:
    the 60 s limit fails only if the quadratic search comes back."""
    reading = readable_html("<p>Start.</p>" + "<a " * 120_000)
    assert reading.text.startswith("Start.\n\n<a <a ")


def test_the_markup_is_what_no_character_read_comes_from():
    from textclf.articles.markdown import markup_spans

    written = "<p>Seoul &amp; <b>Tokyo</b></p>"
    grey = [written[start:end] for start, end in markup_spans(written, readable_html(written))]
    assert grey == ["<p>", "<b>", "</b></p>"]  # "&amp;" shows as "&": not markup
