"""Build train/validation/test.jsonl from the per-label files in raw/.

Each raw/<label>.jsonl holds passages written for that primary label. This script gives every
passage a content-derived id, checks the corpus rules (labels, lengths, unique openings, no
near-duplicates), and splits 70/15/15 stratified by primary label with a fixed seed, so the
splits are reproducible: `python seeds/diplomacy/build_splits.py`.
"""

import hashlib
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).parent
LABELS = [
    "alliance_reassurance", "domestic_crisis_explanation", "trust_restoration", "high_level_engagement",
    "north_korea_security", "regional_cooperation", "leadership_transition", "broadcast_boilerplate",
]
SHARES = {"train": 0.70, "validation": 0.15, "test": 0.15}
SEED = 20241219
NEAR_DUPLICATE_JACCARD = 0.5


def words(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def opening(text: str) -> str:
    return " ".join(words(text)[:5])


def shingles(text: str) -> set:
    tokens = words(text)
    return set(zip(tokens, tokens[1:], tokens[2:]))


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def read_raw() -> list[dict]:
    passages = []
    for label in LABELS:
        for line in (HERE / "raw" / f"{label}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert row["labels"][0] == label, row
            assert set(row["labels"]) <= set(LABELS) and len(set(row["labels"])) == len(row["labels"]), row
            text = " ".join(row["text"].split())
            digest = hashlib.sha1(text.encode()).hexdigest()[:10]
            passages.append({"id": f"dip-{digest}", "text": text, "labels": row["labels"]})
    return passages


def check(passages: list[dict]) -> None:
    ids = [p["id"] for p in passages]
    assert len(set(ids)) == len(ids), "duplicate texts"
    openings = [opening(p["text"]) for p in passages]
    clashes = {o for o in openings if openings.count(o) > 1}
    assert not clashes, f"repeated openings: {sorted(clashes)[:5]}"
    sets = [shingles(p["text"]) for p in passages]
    for i in range(len(passages)):
        for j in range(i + 1, len(passages)):
            assert jaccard(sets[i], sets[j]) < NEAR_DUPLICATE_JACCARD, (passages[i]["id"], passages[j]["id"])


def split(passages: list[dict]) -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    splits = {name: [] for name in SHARES}
    for label in LABELS:
        group = [p for p in passages if p["labels"][0] == label]
        rng.shuffle(group)
        n_validation = round(len(group) * SHARES["validation"])
        n_test = round(len(group) * SHARES["test"])
        splits["validation"] += group[:n_validation]
        splits["test"] += group[n_validation:n_validation + n_test]
        splits["train"] += group[n_validation + n_test:]
    for rows in splits.values():
        rng.shuffle(rows)
    return splits


def main() -> None:
    passages = read_raw()
    check(passages)
    for name, rows in split(passages).items():
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} passages")


if __name__ == "__main__":
    main()
