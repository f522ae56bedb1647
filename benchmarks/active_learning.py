"""Does `textclf suggest` save labels? A simulation on the seed corpus: start from a few labeled
passages per label, add a batch per round picked by `suggest`'s rule or at random from the rest of
train (their labels revealed), refit the default model each round, and score the test split.

    python benchmarks/active_learning.py [--start 8] [--batch 40] [--rounds 6] [--seeds 0,1,2] \
        [--plot experiments/active_learning.png]

Prints macro-F1 per round for both, and how many labels `suggest` needs to reach random's final
score; experiments/active_learning.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds" / "diplomacy"


def default_model(seed: int):
    from textclf.config import build
    from textclf.project import compose_config

    return build(compose_config([f"seed={seed}"], ROOT).model.estimator, "model")


def simulate(strategy: str, seed: int, args, train, test) -> list[tuple[int, float]]:
    """(labeled count, test macro-F1) after the start and after each round."""
    from textclf.audit.suggest import pick_for_labeling, uncertainty

    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for row, item in enumerate(train):
        by_label.setdefault(item["labels"][0], []).append(row)
    labeled = [row for rows in by_label.values() for row in rng.sample(rows, args.start)]
    curve = []
    for round_number in range(args.rounds + 1):
        model = clone(default_model(seed)).fit([train[r]["text"] for r in labeled], [train[r]["labels"][0] for r in labeled])
        predicted = model.predict([item["text"] for item in test])
        curve.append((len(labeled), f1_score([item["labels"][0] for item in test], predicted, average="macro")))
        if round_number == args.rounds:
            break
        pool = [row for row in range(len(train)) if row not in set(labeled)]
        if strategy == "random":
            labeled += rng.sample(pool, args.batch)
        elif strategy == "margin only":  # the ablation: uncertainty without clusters or near-copy checks
            scores = uncertainty(model.predict_proba([train[r]["text"] for r in pool]), "margin", False)
            labeled += [pool[i] for i in np.argsort(-scores, kind="stable")[: args.batch]]
        else:
            texts = [train[r]["text"] for r in pool]
            picks = pick_for_labeling(texts, model.predict_proba(texts), [str(c) for c in model.classes_], args.batch,
                                      labeled_texts=[train[r]["text"] for r in labeled], seed=seed)
            labeled += [pool[pick.row] for pick in picks]
    return curve


def labels_to_reach(curve: list[tuple[float, float]], target: float) -> float | None:
    """Labeled count at which ``curve`` first reaches ``target`` (linear between rounds)."""
    for (n0, f0), (n1, f1) in zip(curve, curve[1:]):
        if f1 >= target:
            return n0 + (n1 - n0) * (target - f0) / (f1 - f0) if f1 > f0 and f0 < target else (n1 if f0 < target else n0)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=8, help="labeled passages per label to start from")
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--plot", default=None, help="write the learning curves here (PNG)")
    args = parser.parse_args()
    train = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (SEEDS / "test.jsonl").read_text().splitlines()]
    warnings.simplefilter("ignore")  # calibration warnings on 8 examples per label
    curves = {strategy: [simulate(strategy, seed, args, train, test) for seed in map(int, args.seeds.split(","))]
              for strategy in ("random", "margin only", "suggest")}
    mean = {strategy: [(runs[0][i][0], statistics.mean(run[i][1] for run in runs)) for i in range(args.rounds + 1)]
            for strategy, runs in curves.items()}
    print(f"{'labeled':>8}{'random':>10}{'margin only':>13}{'suggest':>10}   (test macro-F1, mean of "
          f"{len(curves['random'])} seeds)")
    for (count, low), (_, plain), (_, high) in zip(mean["random"], mean["margin only"], mean["suggest"]):
        print(f"{count:>8}{low:>10.3f}{plain:>13.3f}{high:>10.3f}")
    target = mean["random"][-1][1]
    final = mean["random"][-1][0]
    for strategy in ("margin only", "suggest"):
        needed = labels_to_reach(mean[strategy], target)
        print(f"random's final score {target:.3f} at {final} labels; {strategy} reaches it at "
              + (f"{needed:.0f} labels ({final - needed:.0f} fewer, {1 - needed / final:.0%})" if needed else "no point measured"))
    per_seed = [labels_to_reach(s, r[-1][1]) for s, r in zip(curves["suggest"], curves["random"])]
    print("per seed (suggest's labels to reach that seed's random final score):",
          ", ".join(f"{n:.0f}" if n else "not reached" for n in per_seed))
    if args.plot:
        plot(curves, Path(args.plot))


def plot(curves, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for strategy, runs in curves.items():
        counts = [count for count, _ in runs[0]]
        scores = np.array([[score for _, score in run] for run in runs])
        axes.plot(counts, scores.mean(axis=0), marker="o", label=strategy)
        axes.fill_between(counts, scores.min(axis=0), scores.max(axis=0), alpha=0.2)
    axes.set_xlabel("labeled training passages")
    axes.set_ylabel("test macro-F1")
    axes.set_title("Labels picked by textclf suggest vs at random (seed corpus)")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
