"""The keyword-rule baseline a trained model must clearly beat.

Each label gets the obvious words an analyst would search for; a passage takes the label with
the most keyword hits (ties go to the earlier label in KEYWORDS, no hit to the most common
training label). Prints macro-F1 on the primary label for validation and test:
`python seeds/diplomacy/keyword_baseline.py`.
"""

import json
import re
from collections import Counter
from pathlib import Path

HERE = Path(__file__).parent
KEYWORDS = {
    "broadcast_boilerplate": ["copyright", "reporter", "reports", "subscribe", "phone", "mail", "tip", "channel", "reproduction", "@"],
    "north_korea_security": ["north korea", "pyongyang", "missile", "nuclear", "provocation", "launch", "dprk"],
    "alliance_reassurance": ["alliance", "ironclad", "unwavering", "deterrence", "commitment", "defense treaty"],
    "domestic_crisis_explanation": ["impeachment", "martial law", "protest", "court", "crisis", "turmoil", "snap election"],
    "trust_restoration": ["trust", "credibility", "confidence", "restore", "continuity", "rebuild"],
    "leadership_transition": ["incoming", "transition", "successor", "president-elect", "inauguration", "new administration"],
    "regional_cooperation": ["trilateral", "japan", "regional", "cooperation", "asean", "neighbor", "neighbour"],
    "high_level_engagement": ["visit", "meeting", "summit", "talks", "phone call", "trip", "met"],
}


def read(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def predict(text: str, fallback: str) -> str:
    lowered = text.lower()
    hits = {label: sum(len(re.findall(r"(?<!\w)" + re.escape(word), lowered)) for word in words)
            for label, words in KEYWORDS.items()}
    best = max(hits, key=hits.get)
    return best if hits[best] > 0 else fallback


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    scores = []
    for label in sorted(set(truth)):
        tp = sum(t == p == label for t, p in zip(truth, predicted))
        fp = sum(p == label != t for t, p in zip(truth, predicted))
        fn = sum(t == label != p for t, p in zip(truth, predicted))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def evaluate(split: str) -> float:
    fallback = Counter(row["labels"][0] for row in read("train")).most_common(1)[0][0]
    rows = read(split)
    return macro_f1([row["labels"][0] for row in rows], [predict(row["text"], fallback) for row in rows])


if __name__ == "__main__":
    for split in ("validation", "test"):
        print(f"{split} macro-F1: {evaluate(split):.3f}")
