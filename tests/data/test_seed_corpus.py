"""The bundled seed corpus keeps the rules its data card promises (seeds/diplomacy/README.md)."""

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "seeds" / "diplomacy"
LABELS = {
    "alliance_reassurance", "domestic_crisis_explanation", "trust_restoration", "high_level_engagement",
    "north_korea_security", "regional_cooperation", "leadership_transition", "broadcast_boilerplate",
}
SPLITS = ("train", "validation", "test")


def words(text):
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


@pytest.fixture(scope="module")
def splits():
    return {name: [json.loads(line) for line in (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
            for name in SPLITS}


@pytest.fixture(scope="module")
def passages(splits):
    return [row for rows in splits.values() for row in rows]


def test_every_row_has_the_schema(passages):
    for row in passages:
        assert set(row) == {"id", "text", "labels"}, row
        assert isinstance(row["id"], str) and row["id"].startswith("dip-")
        assert isinstance(row["text"], str) and row["text"].strip() == row["text"] and row["text"]
        assert isinstance(row["labels"], list) and 1 <= len(row["labels"]) <= 3
        assert set(row["labels"]) <= LABELS, row["labels"]
        assert len(set(row["labels"])) == len(row["labels"]), row


def test_ids_are_unique(passages):
    ids = Counter(row["id"] for row in passages)
    assert [i for i, n in ids.items() if n > 1] == []


def test_counts_per_label_and_split_shares(splits, passages):
    assert len(passages) >= 1600
    primary = Counter(row["labels"][0] for row in passages)
    assert set(primary) == LABELS
    assert min(primary.values()) >= 200, primary
    for name, share in (("train", 0.70), ("validation", 0.15), ("test", 0.15)):
        assert abs(len(splits[name]) / len(passages) - share) < 0.02, name
        # stratified: every label's share of the split is within 2 points of its corpus share
        split_primary = Counter(row["labels"][0] for row in splits[name])
        for label in LABELS:
            assert abs(split_primary[label] / len(splits[name]) - primary[label] / len(passages)) < 0.02


def test_multi_label_share(passages):
    share = sum(len(row["labels"]) > 1 for row in passages) / len(passages)
    assert 0.20 <= share <= 0.30, share
    assert sum(len(row["labels"]) > 2 for row in passages) / len(passages) < 0.02


def test_passage_lengths(passages):
    for row in passages:
        n = len(row["text"].split())
        low = 3 if row["labels"][0] == "broadcast_boilerplate" else 8
        assert low <= n <= 70, (n, row["id"])


def test_no_two_passages_open_with_the_same_five_words(passages):
    openings = Counter(" ".join(words(row["text"])[:5]) for row in passages)
    assert [o for o, n in openings.items() if n > 1] == []


def test_splits_share_no_exact_or_near_duplicate(splits):
    def normal(text):
        return " ".join(words(text))

    def shingles(text):
        w = words(text)
        return set(zip(w, w[1:], w[2:]))

    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not {normal(r["text"]) for r in splits[a]} & {normal(r["text"]) for r in splits[b]}
        left = [shingles(r["text"]) for r in splits[a]]
        for row in splits[b]:
            right = shingles(row["text"])
            worst = max(len(right & s) / len(right | s) for s in left if s or right)
            assert worst < 0.5, (a, b, row["id"], worst)


def test_no_stock_phrase_repeats_across_dozens(passages):
    counts = Counter()
    for row in passages:
        w = words(row["text"])
        counts.update({" ".join(g) for g in zip(w, w[1:], w[2:], w[3:], w[4:], w[5:])})
    # six-word phrases; institution names ("the ministry of foreign affairs said") stay under this
    assert counts.most_common(1)[0][1] < 24, counts.most_common(3)


def test_keyword_baseline_is_well_below_a_trained_model():
    sys.path.insert(0, str(CORPUS))
    try:
        import keyword_baseline
    finally:
        sys.path.pop(0)
    score = keyword_baseline.evaluate("test")
    assert 0.2 < score < 0.6, score  # the data card quotes it; a trained model reaches ~0.85
