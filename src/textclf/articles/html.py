"""``textclf predict --article ... --html OUT.html``: one self-contained page for a run.

Each article's text is shown whole, its passages coloured by label (probabilities on hover), after
a bar chart of its topic shares; with ``--explain``, the words that pushed a passage towards its
label are marked (and those that pulled it away struck through), the rest of the explanation on
hover; in a Markdown or HTML article, the markup the model did not read is grey (a long run of it,
such as a page's scripts and styles, shortened to its ends). Several articles get an
index. The page needs nothing from the network: styles and charts are inline (CSS and SVG), and it
runs no script.
"""

from __future__ import annotations

from bisect import bisect_right
from html import escape

from textclf.articles.tag import Passage, TaggedArticle

# Tableau 10, without its grey: told apart by most readers, also when printed.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
BOILERPLATE_COLOUR = "#bab0ac"
# Per passage, the words of its explanation that are marked: the strongest few for its label, and
# against it only a word as strong as the strongest for. More marks read as noise.
MARKED_FOR = 3
MARKED_AGAINST = 1
BAR_WIDTH = 260
# A run of markup longer than this (an HTML page's head, scripts, styles) shows only its ends.
LONGEST_MARKUP_SHOWN = 200
MARKUP_ENDS_SHOWN = (60, 30)

STYLE = """
body { font: 15px/1.55 system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2.5em; border-top: 1px solid #ddd; padding-top: 1em; }
.legend span { display: inline-block; margin: 0 .8em .3em 0; }
.swatch { display: inline-block; width: .9em; height: .9em; border-radius: 2px; vertical-align: -.1em;
          margin-right: .3em; }
.text { white-space: pre-wrap; background: #fcfcfc; border: 1px solid #eee; padding: 1em; border-radius: 4px; }
.passage { border-radius: 3px; padding: 1px 0; }
.passage:hover { outline: 2px solid #333; }
mark.for { background: none; font-weight: 650; text-decoration: underline 2px; }
mark.against { background: none; color: #777; text-decoration: line-through; }
.index li { margin: .2em 0; } .note { color: #666; font-size: .9em; }
.markup { color: #aaa; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
"""


def render_page(tagged: list[TaggedArticle], classes: list[str], model_uri: str, run_id: str | None,
                boilerplate_label: str | None) -> str:
    """The whole page, as a string. ``run_id``: the run that logged the model, named beside
    ``model_uri`` because an alias (``@champion``) moves on to other models while the page is kept."""
    colours = label_colours(classes, boilerplate_label)
    explained = any(p.explanation for article in tagged for p in article.passages)
    title = escape(f"{len(tagged)} article{'s' if len(tagged) != 1 else ''} tagged by topic")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{title}</title><style>{STYLE}</style></head><body>", f"<h1>{title}</h1>",
             f'<p class="note">Tagged by <code>{escape(model_uri)}</code>'
             + (f" (logged by run <code>{escape(run_id)}</code>)" if run_id else "")
             + ". Hover a passage for its probabilities"
             + ("; marked words pushed it towards its label, struck-through words pulled it away." if explained
                else ".") + (" Markup in grey: the model reads the words without it."
                             if any(article.markup for article in tagged) else "") + "</p>",
             _legend(classes, colours)]
    if len(tagged) > 1:
        parts.append(_index(tagged))
    parts.extend(_article(number, article, colours) for number, article in enumerate(tagged))
    parts.append("</body></html>")
    return "\n".join(parts)


def label_colours(classes: list[str], boilerplate_label: str | None) -> dict[str, str]:
    """A colour for each label, in the model's order of classes; boilerplate is grey."""
    content = [label for label in classes if label != boilerplate_label]
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(content)}
    if boilerplate_label in classes:
        colours[boilerplate_label] = BOILERPLATE_COLOUR
    return colours


def _legend(classes: list[str], colours: dict[str, str]) -> str:
    items = "".join(f'<span><i class="swatch" style="background:{colours[label]}"></i>{escape(label)}</span>'
                    for label in classes)
    return f'<p class="legend">{items}</p>'


def _index(tagged: list[TaggedArticle]) -> str:
    rows = []
    for number, article in enumerate(tagged):
        top = ", ".join(f"{escape(t.label)} {t.share:.0%}" for t in article.topics[:2]) or "no topic"
        rows.append(f'<li><a href="#article-{number}">{escape(str(article.id))}</a> '
                    f'<span class="note">({len(article.passages)} passages: {top})</span></li>')
    return f'<h2>Articles</h2><ol class="index">{"".join(rows)}</ol>'


def _article(number: int, article: TaggedArticle, colours: dict[str, str]) -> str:
    return (f'<section class="article" id="article-{number}"><h2>{escape(str(article.id))}</h2>'
            f"{_topic_chart(article, colours)}<div class=\"text\">{_article_text(article, colours)}</div></section>")


def _topic_chart(article: TaggedArticle, colours: dict[str, str]) -> str:
    """Horizontal bars: each topic's share of the article's passages (boilerplate left out)."""
    if not article.topics:
        return '<p class="note">No topic: every passage is boilerplate.</p>'
    row, label_width = 22, 210
    bars = []
    for i, topic in enumerate(article.topics):
        y, width = i * row, max(1.0, topic.share * BAR_WIDTH)
        bars.append(f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">{escape(topic.label)}</text>'
                    f'<rect class="bar" x="{label_width}" y="{y + 4}" width="{width:.1f}" height="{row - 8}" '
                    f'fill="{colours.get(topic.label, "#888")}"><title>{escape(topic.label)}: {topic.share:.0%} of '
                    f'passages, mean probability {topic.mean_prob:.2f}</title></rect>'
                    f'<text x="{label_width + width + 6:.1f}" y="{y + 15}">{topic.share:.0%}</text>')
    height = row * len(article.topics)
    return (f'<svg class="topics" role="img" aria-label="topic shares" width="{label_width + BAR_WIDTH + 50}" '
            f'height="{height}" viewBox="0 0 {label_width + BAR_WIDTH + 50} {height}">{"".join(bars)}</svg>')


def _article_text(article: TaggedArticle, colours: dict[str, str]) -> str:
    """The article as written: its passages coloured in place, what lies between them (markers,
    line breaks) as is."""
    pieces, at = [], 0
    for passage in article.passages:
        pieces.append(_shown(article, at, passage.start))
        pieces.append(_passage(article, passage, colours))
        at = passage.end
    pieces.append(_shown(article, at, len(article.text)))
    return "".join(pieces)


def _shown(article: TaggedArticle, start: int, end: int) -> str:
    """``article.text[start:end]``, escaped, the markup the model did not read in grey."""
    pieces, at = [], start
    first = bisect_right(article.markup, start, key=lambda span: span[1])  # the spans are in order
    for number in range(first, len(article.markup)):
        markup_start, markup_end = article.markup[number]
        if markup_start >= end:
            break
        markup_start, markup_end = max(markup_start, at), min(markup_end, end)
        if markup_start < markup_end:
            pieces += [escape(article.text[at:markup_start]),
                       f'<span class="markup">{_markup_shown(article.text[markup_start:markup_end])}</span>']
            at = markup_end
    pieces.append(escape(article.text[at:end]))
    return "".join(pieces)


def _markup_shown(markup: str) -> str:
    """``markup``, escaped; a long run only its ends, and how much lies between them."""
    if len(markup) <= LONGEST_MARKUP_SHOWN:
        return escape(markup)
    head, tail = MARKUP_ENDS_SHOWN
    return f"{escape(markup[:head])} \u2026 {len(markup) - head - tail:,} characters \u2026 {escape(markup[-tail:])}"


def _passage(article: TaggedArticle, passage: Passage, colours: dict[str, str]) -> str:
    colour = colours.get(passage.labels[0], "#888") if passage.labels else "#888"
    ranked = sorted(passage.probabilities.items(), key=lambda item: -item[1])
    lines = [f"{' + '.join(passage.labels) or 'no label'}"] + [f"{label}: {prob:.2f}" for label, prob in ranked[:4]]
    explanation = passage.explanation[0] if passage.explanation else None
    if explanation:  # the strongest terms, words and phrases, with their weights
        lines.append(f"why {explanation['label']} ({explanation['method'].replace('_', ' ')}):")
        lines += [f"  {t['text']!r} {t['weight']:+.3f}" for t in explanation["terms"][:5]]
    body = _marked(article, passage, explanation) if explanation else _shown(article, passage.start, passage.end)
    label = escape(passage.labels[0] if passage.labels else "")
    return (f'<span class="passage" data-index="{passage.index}" data-label="{label}" '
            f'style="background:{colour}33;box-shadow:inset 0 -2px {colour}" title="{escape(chr(10).join(lines))}">'
            f"{body}</span>")


def _marked(article: TaggedArticle, passage: Passage, explanation: dict) -> str:
    """The passage's text with its strongest single words marked: for (positive) or against."""
    words = [t for t in explanation["terms"] if not any(c.isspace() for c in t["text"])]  # phrases span words
    pushing = [t for t in words if t["weight"] > 0][:MARKED_FOR]
    strongest = pushing[0]["weight"] if pushing else 0.0
    pulling = [t for t in words if t["weight"] < 0 and -t["weight"] >= strongest][:MARKED_AGAINST]
    words = pushing + pulling
    words.sort(key=lambda t: t["start"])
    pieces, at = [], 0
    for term in words:
        if term["start"] < at:
            continue
        pieces.append(_shown(article, passage.start + at, passage.start + term["start"]))
        kind = "for" if term["weight"] > 0 else "against"
        word = _shown(article, passage.start + term["start"], passage.start + term["end"])
        pieces.append(f'<mark class="{kind}" title="{term["weight"]:+.3f}">{word}</mark>')
        at = term["end"]
    pieces.append(_shown(article, passage.start + at, passage.end))
    return "".join(pieces)
