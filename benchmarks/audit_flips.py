"""Does `textclf audit` find wrong labels? Flip a share of the seed corpus's training labels at
random (seeded), audit the result with each model, and count how many flips it reports (recall)
and how many of its reports are flips (precision).

    python benchmarks/audit_flips.py [--share 0.05] [--seeds 0,1,2] [--models tfidf_linearsvc,tfidf_linearsvc+minilm_logreg]

Prints one row per model and seed and the mean per model; experiments/audit.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds" / "diplomacy"


def flipped_copy(folder: Path, share: float, seed: int) -> set[str]:
    """Train with ``share`` of its primary labels changed to another label; the flipped ids."""
    rows = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    labels = sorted({label for row in rows for label in row["labels"]})
    rng = random.Random(seed)
    flipped = set()
    for row in rng.sample(rows, round(share * len(rows))):
        row["labels"] = [rng.choice([label for label in labels if label not in row["labels"]])]
        flipped.add(row["id"])
    with (folder / "train.jsonl").open("w") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return flipped


def audit(folder: Path, models: str, seed: int):
    from textclf.audit.run import run_audit
    from textclf.project import compose_config

    overrides = ["data=files", "data.name=flips", f"data.train={folder / 'train.jsonl'}",
                 f"data.validation={SEEDS / 'validation.jsonl'}", f"data.test={SEEDS / 'test.jsonl'}",
                 "data.label_column=labels", "data.id_column=id", f"seed={seed}"]
    cfg = compose_config(overrides, ROOT, "audit")
    return run_audit(cfg, {name: compose_config([*overrides, f"model={name}"], ROOT, "audit").model
                           for name in models.split("+")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default="tfidf_linearsvc,minilm_logreg,tfidf_linearsvc+minilm_logreg",
                        help="comma-separated; NAME+NAME averages those models' probabilities (audit.models)")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    print(f"{'model':<30}{'seed':>5}{'flips':>7}{'reported':>10}{'in train':>10}{'recall':>8}"
          f"{'precision':>11}{'(train)':>9}{'seconds':>9}")
    for seed in map(int, args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            flipped = flipped_copy(Path(scratch), args.share, seed)
            for model in args.models.split(","):
                started = time.perf_counter()
                report = audit(Path(scratch), model, seed)
                seconds = time.perf_counter() - started
                reported = [report.pool.ids[issue.row] for issue in report.label_issues]
                in_train = [issue for issue in report.label_issues if report.origins[issue.row][0] == "train"]
                found = len(flipped & set(reported))
                recall, precision = found / len(flipped), found / max(len(reported), 1)
                precision_train = found / max(len(in_train), 1)
                results.setdefault(model, []).append((recall, precision, precision_train, seconds))
                print(f"{model:<30}{seed:>5}{len(flipped):>7}{len(reported):>10}{len(in_train):>10}{recall:>8.3f}"
                      f"{precision:>11.3f}{precision_train:>9.3f}{seconds:>9.1f}", flush=True)
    print("\nmean over seeds")
    for model, rows in results.items():
        means = [statistics.mean(column) for column in zip(*rows)]
        print(f"{model:<30} recall {means[0]:.3f}  precision {means[1]:.3f} (among train reports {means[2]:.3f})  "
              f"{means[3]:.1f} s")


if __name__ == "__main__":
    main()
