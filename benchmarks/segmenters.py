"""Which sentence segmenter `textclf predict --article` uses: sentencex, pysbd and spaCy's
rule-based sentencizer on transcript-style lines, and textclf's own passages (sentencex plus the
transcript rules of textclf.articles.segment). Results: experiments/articles.md.

    pip install pysbd spacy      # best in a scratch venv: spaCy brings ~200 MB; missing ones are skipped
    python benchmarks/segmenters.py

Each case is one line (textclf cuts at line breaks first), written for this script, with the
passages a reader expects. Speed: the cases joined into one ~95,000-character text.
"""

from __future__ import annotations

import importlib.util
import time

CASES = [
    ("abbreviations", "The U.S. envoy met Gen. Park at 9 a.m. on Jan. 5 in Seoul. Talks ran late.",
     ["The U.S. envoy met Gen. Park at 9 a.m. on Jan. 5 in Seoul.", "Talks ran late."]),
    ("marker opening a line", "[Anchor] The minister flew to Tokyo today. She will stay two days.",
     ["[Anchor] The minister flew to Tokyo today.", "She will stay two days."]),
    ("marker mid-line", "That is the latest from the capital. [Reporter] Officials here say the trip was planned.",
     ["That is the latest from the capital.", "[Reporter] Officials here say the trip was planned."]),
    ("sound bite, then text", "Aides called it routine. [Deputy Minister Lee: We came to listen. Nothing about our "
     "commitments has changed.] The talks resume Friday.",
     ["Aides called it routine.", "[Deputy Minister Lee: We came to listen. Nothing about our commitments has "
      "changed.]", "The talks resume Friday."]),
    ("sound bite holding a parenthesis", "[Minister Ortiz: Thank you (and welcome). We stay.] Talks began.",
     ["[Minister Ortiz: Thank you (and welcome). We stay.]", "Talks began."]),
    ("marker, then sound bite", "[Reporter] The vice minister arrived. [Vice Minister Oh: We will explain "
     "everything. We hide nothing.]",
     ["[Reporter] The vice minister arrived.", "[Vice Minister Oh: We will explain everything. We hide nothing.]"]),
    ("quote of two sentences", 'He told reporters, "We are not worried. The institutions worked." Then he left.',
     ['He told reporters, "We are not worried. The institutions worked."', "Then he left."]),
    ("curly quotes and dashes", "Seoul\u2019s envoy \u2014 a veteran of the talks \u2014 arrived Monday. "
     "\u201cIt went well. Very well,\u201d he said.",
     ["Seoul\u2019s envoy \u2014 a veteran of the talks \u2014 arrived Monday.",
      "\u201cIt went well. Very well,\u201d he said."]),
    ("decimals", "Growth slowed to 1.5 percent. The won fell 2.3% against the dollar.",
     ["Growth slowed to 1.5 percent.", "The won fell 2.3% against the dollar."]),
    ("tip line", "Send us your tips. Call 02-555-0147 or write to desk@example-news.kr any time.",
     ["Send us your tips.", "Call 02-555-0147 or write to desk@example-news.kr any time."]),
    ("copyright opening with (c)", "(c) Example Broadcasting. All rights reserved. Reproduction is prohibited.",
     ["(c) Example Broadcasting.", "All rights reserved.", "Reproduction is prohibited."]),
    ("ellipsis", "The answer was... unclear. Nobody followed up.",
     ["The answer was... unclear.", "Nobody followed up."]),
    ("question, exclamation", "Will the visit calm nerves? Analysts are not sure!",
     ["Will the visit calm nerves?", "Analysts are not sure!"]),
    ("names with hyphens", "Vice Minister Kim Min-jae said so. This is Park Ji-won, Example News.",
     ["Vice Minister Kim Min-jae said so.", "This is Park Ji-won, Example News."]),
    ("No. 2", "He ranks No. 2 in the ministry. Mr. Cho spoke next.", ["He ranks No. 2 in the ministry.",
                                                                     "Mr. Cho spoke next."]),
    ("Korea-U.S.", "Both sides praised the Korea-U.S. defense talks held in Hawaii. More rounds follow.",
     ["Both sides praised the Korea-U.S. defense talks held in Hawaii.", "More rounds follow."]),
    ("U.S.-Japan", "The U.S.-Japan summit ended early. Officials blamed weather.",
     ["The U.S.-Japan summit ended early.", "Officials blamed weather."]),
    ("U.S. ending a sentence", "The envoy left for the U.S. He returns next week.",
     ["The envoy left for the U.S.", "He returns next week."]),
    ("(LEAD) tag", "(LEAD) Seoul sends envoy to Washington. The trip lasts three days.",
     ["(LEAD) Seoul sends envoy to Washington.", "The trip lasts three days."]),
    ("dateline", "SEOUL, Dec. 20 (Example) -- The ministry confirmed the trip. It gave no details.",
     ["SEOUL, Dec. 20 (Example) -- The ministry confirmed the trip.", "It gave no details."]),
    ("initials", "Analyst J. K. Moon disagreed. He called it premature.",
     ["Analyst J. K. Moon disagreed.", "He called it premature."]),
    ("URL", "Details are at www.example.kr/news. Watch at 9 p.m. tonight.",
     ["Details are at www.example.kr/news.", "Watch at 9 p.m. tonight."]),
]


def sentencex_spans():
    import sentencex

    return lambda text: [(b["start_index"], b["end_index"]) for b in sentencex.get_sentence_boundaries("en", text)]


def pysbd_spans():
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    return lambda text: [(span.start, span.end) for span in segmenter.segment(text)]


def spacy_spans():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return lambda text: [(sentence.start_char, sentence.end_char) for sentence in nlp(text).sents]


def textclf_spans():
    from textclf.articles.segment import segment

    return segment


SEGMENTERS = {"sentencex": ("sentencex", sentencex_spans), "pysbd": ("pysbd", pysbd_spans),
              "spaCy sentencizer": ("spacy", spacy_spans),
              "textclf (sentencex + transcript rules)": ("textclf", textclf_spans)}


def main() -> None:
    print("| segmenter | cases right | wrong on | load, ms | 95k characters, ms |\n|---|---|---|---|---|")
    for name, (package, make) in SEGMENTERS.items():
        if importlib.util.find_spec(package) is None:
            print(f"| {name} | not installed | | | |")
            continue
        started = time.perf_counter()
        spans_of = make()
        load = time.perf_counter() - started
        wrong = []
        for case, text, expected in CASES:
            found = [text[start:end].strip() for start, end in spans_of(text)]
            if [passage for passage in found if passage] != expected:
                wrong.append(case)
        big = " ".join([text for _, text, _ in CASES] * 50)
        started = time.perf_counter()
        spans_of(big)
        elapsed = time.perf_counter() - started
        print(f"| {name} | {len(CASES) - len(wrong)}/{len(CASES)} | {', '.join(wrong) or '-'} | {load * 1000:.0f} "
              f"| {elapsed * 1000:.0f} |")


if __name__ == "__main__":
    main()
