"""What Markdown and HTML markup cost a model that reads it, and what reading passages without it
gives back (textclf.articles.markdown, textclf.articles.html_input). Results: experiments/articles.md.

    python benchmarks/markup_passages.py [--model-uri models:/diplomacy-topics@champion] [--tracking-uri URI]

The seed corpus's test passages, each given the markup an article written in it would have. In
Markdown: a link around five of its words (to a news address), one word in bold, and every third
passage a heading's ``## ``. In HTML, as a news page's paragraph: the same link and bold word as
tags, the passage in a ``<p>`` (every third in an ``<h2>``), its quotes, apostrophes and
ampersands as character references, and a line break in the source every twelve words. The model
tags each passage five ways: without markup, and each markup as written and as textclf reads it.
Seeded: the same markup every run.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pandas as pd

import textclf
from textclf.articles.html_input import readable_html
from textclf.articles.markdown import readable

SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "diplomacy"


def with_markdown(text: str, index: int, rng: random.Random) -> str:
    words = text.split()
    plain = [at for at, word in enumerate(words) if not any(char in word for char in "[]")]  # not [Anchor], [Minister:
    windows = [at for at in plain if all(at + k in plain for k in range(5))]
    if windows:
        at = rng.choice(windows)
        words[at] = "[" + words[at]
        words[at + 4] += f"](https://news.example.org/{rng.randrange(2015, 2026)}/{rng.randrange(10**6)}/story.html)"
    if plain:
        bold = rng.choice(plain)
        words[bold] = f"**{words[bold]}**"
    return ("## " if index % 3 == 0 else "") + " ".join(words)


def with_html(text: str, index: int, rng: random.Random) -> str:
    words = [word.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#39;") for word in text.split()]
    if len(words) >= 5:
        at = rng.randrange(len(words) - 4)
        words[at] = f'<a href="https://news.example.org/{rng.randrange(2015, 2026)}/{rng.randrange(10**6)}">' + words[at]
        words[at + 4] += "</a>"
    bold = rng.randrange(len(words))
    words[bold] = f"<b>{words[bold]}</b>"
    lines = [" ".join(words[at:at + 12]) for at in range(0, len(words), 12)]
    tag = "h2" if index % 3 == 0 else "p"
    return f'<{tag} class="story">' + "\n  ".join(lines) + f"</{tag}>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/diplomacy-topics@champion")
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (SEEDS / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    plain, gold = [row["text"] for row in rows], [row["labels"][0] for row in rows]
    rng = random.Random(0)
    written = [with_markdown(text, index, rng) for index, text in enumerate(plain)]
    pages = [with_html(text, index, rng) for index, text in enumerate(plain)]
    model = textclf.load_model(args.model_uri, args.tracking_uri)
    print(f"{args.model_uri}: {len(rows)} test passages of {SEEDS}\n")
    print("| the model reads | accuracy | passages whose label changed |\n|---|---|---|")
    baseline = None
    for name, texts in (("the passage without markup", plain), ("Markdown as written", written),
                        ("Markdown read by textclf (articles.markdown)", [readable(t).text for t in written]),
                        ("HTML as written", pages),
                        ("HTML read by textclf (articles.html_input)", [readable_html(t).text for t in pages])):
        labels = list(model.predict(pd.DataFrame({"text": texts}))["label"])
        baseline = labels if baseline is None else baseline
        accuracy = sum(label == truth for label, truth in zip(labels, gold)) / len(gold)
        changed = sum(label != before for label, before in zip(labels, baseline))
        print(f"| {name} | {accuracy:.4f} | {changed} |")


if __name__ == "__main__":
    main()
