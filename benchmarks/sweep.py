"""A sweep of quick runs: one ``python train.py -m`` against the loop of ``python train.py`` a user
would otherwise write, on the seed corpus.

    python benchmarks/sweep.py --jobs 8 --repeats 2
    python benchmarks/sweep.py --jobs 8 --also-src /tmp/older-checkout/src   # another textclf, side by side

In one process, a sweep's jobs share their imports, and from the second job on each tracking
worker is a fork of the fork server (textclf.tracking.fork_server), which imported MLflow once; each process
of the loop imports all of it again. ``--also-src``: the same sweep run with another checkout's
``src`` first on the path (for example the commit before a change), as a third contender. Prints
wall seconds, seconds per job and peak PSS of all processes, with ratios to the loop, medians of
``--repeats`` alternating runs. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from run import ROOT, measured

QUICK = ["features=tfidf_word", "model=tfidf_nb"]  # a fit of 0.1 s: what is left is each run's overhead


def store(folder: Path) -> list[str]:
    folder.mkdir(parents=True)
    return [f"tracking.uri=sqlite:///{folder}/mlflow.db", f"tracking.artifact_location={folder}/mlruns",
            f"hydra.run.dir={folder}/outputs/${{now:%H-%M-%S-%f}}", f"hydra.sweep.dir={folder}/multirun"]


def loop_command(jobs: int, folder: Path) -> list[str]:
    """``for seed in 1..N; do python train.py ... seed=$seed; done``, as one command to measure."""
    runs = " && ".join(f'"$0" {ROOT / "train.py"} {" ".join(QUICK)} seed={seed} ' + " ".join(f"'{o}'" for o in store(folder / str(seed)))
                       for seed in range(1, jobs + 1))
    return ["bash", "-c", runs, sys.executable]


def sweep_command(jobs: int, folder: Path) -> list[str]:
    seeds = ",".join(str(seed) for seed in range(1, jobs + 1))
    return [sys.executable, str(ROOT / "train.py"), "-m", *QUICK, f"seed={seeds}", *store(folder)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each contender; medians")
    parser.add_argument("--also-src", default=None, help="another checkout's src/, swept as a third contender")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    contenders = {"loop of train.py": (loop_command, None), "train.py -m": (sweep_command, None)}
    if args.also_src:
        contenders[f"train.py -m, {args.also_src}"] = (sweep_command, {**os.environ, "PYTHONPATH": args.also_src})
    walls = {name: [] for name in contenders}
    pss = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as work:
        for repeat in range(args.repeats):
            for number, (name, (command, env)) in enumerate(contenders.items()):
                result = measured(command(args.jobs, Path(work) / f"{repeat}-{number}"), env=env)
                walls[name].append(result["wall_seconds"])
                pss[name].append(result["peak_tree_pss_mb"])
    baseline = statistics.median(walls["loop of train.py"])
    print(f"{args.jobs} quick runs on the seed corpus ({' '.join(QUICK)}), median of {args.repeats}; "
          f"{os.cpu_count()} cores")
    print(f"{'':48} {'wall s':>8} {'s/job':>7} {'ratio':>7} {'peak PSS MB':>12}")
    results = {}
    for name in contenders:
        wall = statistics.median(walls[name])
        results[name] = {"wall_seconds": wall, "seconds_per_job": wall / args.jobs,
                         "ratio_to_loop": wall / baseline, "peak_tree_pss_mb": statistics.median(pss[name]),
                         "runs": walls[name]}
        print(f"{name:48} {wall:8.1f} {wall / args.jobs:7.2f} {wall / baseline:7.3f} "
              f"{results[name]['peak_tree_pss_mb']:12.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"jobs": args.jobs, "machine": {"cores": os.cpu_count()},
                                               "results": results}, indent=2))


if __name__ == "__main__":
    main()
