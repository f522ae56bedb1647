"""What Markdown markup costs a model that reads it, and what reading passages without it gives
back (textclf.articles.markdown). Results: experiments/articles.md.

    python benchmarks/markdown_passages.py [--model-uri models:/diplomacy-topics@champion] [--tracking-uri URI]

The seed corpus's test passages, each given Markdown as an article written in it would have: a
link around five of its words (to a news address), one word in bold, and every third passage a
heading's ``## ``. The model tags each passage three ways: without markup, as written, and as
textclf reads a Markdown article. Seeded: the same markup every run.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pandas as pd

import textclf
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/diplomacy-topics@champion")
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (SEEDS / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    plain, gold = [row["text"] for row in rows], [row["labels"][0] for row in rows]
    rng = random.Random(0)
    written = [with_markdown(text, index, rng) for index, text in enumerate(plain)]
    model = textclf.load_model(args.model_uri, args.tracking_uri)
    print(f"{args.model_uri}: {len(rows)} test passages of {SEEDS}\n")
    print("| the model reads | accuracy | passages whose label changed |\n|---|---|---|")
    baseline = None
    for name, texts in (("the passage without markup", plain), ("Markdown as written", written),
                        ("Markdown read by textclf (articles.markdown)", [readable(t).text for t in written])):
        labels = list(model.predict(pd.DataFrame({"text": texts}))["label"])
        baseline = labels if baseline is None else baseline
        accuracy = sum(label == truth for label, truth in zip(labels, gold)) / len(gold)
        changed = sum(label != before for label, before in zip(labels, baseline))
        print(f"| {name} | {accuracy:.4f} | {changed} |")


if __name__ == "__main__":
    main()
