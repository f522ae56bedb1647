"""textclf end to end against the script a user would write instead, in one invocation.

    python benchmarks/run.py --train ../shared/data/20newsgroups/train.csv \
        --test ../shared/data/20newsgroups/test.csv --json results-20ng.json
    python benchmarks/run.py --train ../shared/data/reuters21578/modapte_train.jsonl \
        --test ../shared/data/reuters21578/modapte_test.jsonl --multilabel --text-fields title,text \
        --models tfidf_logreg --baseline bare --features tfidf_word

Inputs are CSV or JSONL with a text field (or several, joined) and a label field (one label, or a
list). Both contenders read the same prepared files: train minus a seeded, stratified 15%
validation part (textclf's threshold tuning and champion rule need one; the baseline simply does
not use it), and the test file. The baseline is either ``script`` (``benchmarks/script.py``: the
ten lines a user would write, TF-IDF word 1-2-grams + LinearSVC; textclf runs with its defaults)
or ``bare`` (``benchmarks/bare.py``: the same estimator settings as the textclf model, for
``tfidf_logreg``). Prints a table of wall time, memory and scores with textclf/baseline ratios,
plus the costs users feel every day (start-up, a fresh ``textclf predict`` against the time to
import what the model needs, a fresh process loading the model through MLflow, loaded-model
throughput). Benchmarks are not tests: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
from sklearn.model_selection import train_test_split

from textclf.data.duplicates import normalised_text

ROOT = Path(__file__).resolve().parents[1]
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def measure(command: list[str], env: dict | None = None) -> dict:
    """Wall seconds of one child process, with its stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env=env)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{stderr[-3000:]}")
    return {"wall_seconds": wall, "stdout": stdout, "stderr": stderr}


def measured(command: list[str], env: dict | None = None) -> dict:
    """Run ``command`` and report its wall time and memory.

    ``peak_rss_mb`` is the largest single process's peak (``ru_maxrss``, exact, read by a tiny
    wrapper that runs nothing else). textclf runs MLflow in a second process, and both count:
    ``peak_tree_pss_mb`` is the peak of the summed PSS of every process the command starts
    (pages two processes share count half to each, so the sum is what the machine spends), and
    ``peak_tree_rss_mb`` the same for RSS (shared pages counted in full by each process, so it
    errs high).
    """
    wrapper = ("import json, os, resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "w = time.perf_counter() - t; r = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "sys.stderr.write(p.stderr[-3000:] if p.returncode else ''); "
               "print(json.dumps({'rc': p.returncode, 'wall_seconds': w, 'peak_rss_mb': r.ru_maxrss / 1024, "
               "'stdout': p.stdout}))")
    process = subprocess.Popen([sys.executable, "-c", wrapper, *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    if not Path("/proc/self/smaps_rollup").exists():
        raise SystemExit("error: benchmarks/run.py reads memory from /proc/PID/smaps_rollup (Linux 4.14 or "
                         "later). Fix: run it on Linux")
    peak_tree = {"rss": 0, "pss": 0}
    sampler = threading.Thread(target=_sample_tree_memory, args=(process, peak_tree), daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.join()
    report = json.loads(stdout.strip().splitlines()[-1])
    if report["rc"] != 0:
        raise RuntimeError(f"{command[:3]} exited {report['rc']}:\n{stderr}")
    report["peak_tree_rss_mb"] = peak_tree["rss"] / 2**20
    report["peak_tree_pss_mb"] = peak_tree["pss"] / 2**20
    report["memory_sampler_cpu_seconds"] = peak_tree["sampler_cpu_seconds"]
    return report


PSS_EVERY = 4  # samples: PSS is read every 200 ms, RSS every 50 ms


def _sample_tree_memory(process: subprocess.Popen, peak: dict[str, float]) -> None:
    """Track the peak summed RSS (read every 50 ms) and the peak summed PSS (every 200 ms) of the
    command's processes, and this sampler's own CPU seconds.

    RSS comes from ``/proc/PID/statm`` (a counter: microseconds), PSS from
    ``/proc/PID/smaps_rollup``, which walks the process's page tables: about 1 ms for a 700 MB
    array, up to 14 ms for a 760 MB Python heap, so reading it every 50 ms would take a good share
    of a core from the run it measures. An earlier version read PSS only at new highs of the RSS
    sum; a forked child counts its parent's pages in full in its RSS, so the RSS high came during
    textclf's two-core count and its later PSS peak was never read (761 MB reported while the
    training process alone had reached 783 MB).
    """
    wrapper = psutil.Process(process.pid)
    started, tick = time.thread_time(), 0
    while process.poll() is None:
        try:
            pids = [child.pid for child in wrapper.children(recursive=True)]
        except psutil.Error:
            pids = []
        peak["rss"] = max(peak["rss"], sum(_rss(pid) for pid in pids))
        if tick % PSS_EVERY == 0:
            peak["pss"] = max(peak["pss"], sum(_pss(pid) for pid in pids))
        tick += 1
        time.sleep(0.05)
    peak["sampler_cpu_seconds"] = time.thread_time() - started


def _rss(pid: int) -> int:
    """Resident bytes of ``pid``; 0 once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):  # it just exited
        return 0


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):  # it just exited
        pass
    return 0


def prepare(args, folder: Path) -> dict[str, Path]:
    """Write train/validation/test JSONL with `text` and `labels` (a list) for both contenders."""
    def read(path: str) -> pd.DataFrame:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False) if path.endswith(".csv") else pd.read_json(path, lines=True)
        fields = args.text_fields.split(",")
        text = frame[fields].astype(str).agg("\n".join, axis=1).str.strip()
        labels = frame[args.label_field].map(lambda v: list(v) if isinstance(v, list) else [str(v)])
        prepared = pd.DataFrame({"text": text, "labels": labels})
        prepared = prepared[(prepared["text"] != "") & (prepared["labels"].map(len) > 0)]
        return prepared.head(args.limit) if args.limit else prepared

    train, test = read(args.train), read(args.test)
    primary = train["labels"].str[0]
    rare = primary.map(primary.value_counts()) < 2  # a stratified split needs two of each
    keep, hold = train_test_split(train.index[~rare], test_size=0.15, random_state=0, stratify=primary[~rare])
    parts = {"train": train.loc[sorted(keep) + list(train.index[rare])], "validation": train.loc[sorted(hold)],
             "test": test}
    # textclf refuses validation and test texts that also appear in train, and test texts that
    # appear in validation (Reuters has such duplicates): both contenders get the splits without them.
    seen = {normalised_text(text) for text in parts["train"]["text"]}
    for name in ("validation", "test"):
        part = parts[name]
        parts[name] = part[~part["text"].map(lambda text: normalised_text(text) in seen)]
        seen |= {normalised_text(text) for text in parts[name]["text"]}
    if args.multilabel:  # textclf needs two training examples of a label to learn and score it
        counts = pd.Series([label for row in parts["train"]["labels"] for label in row]).value_counts()
        known = set(counts[counts >= 2].index)
        for name in ("train", "validation", "test"):
            part = parts[name].assign(labels=parts[name]["labels"].map(lambda row: [l for l in row if l in known]))
            parts[name] = part[part["labels"].map(len) > 0]
    paths = {}
    for name, part in parts.items():
        paths[name] = folder / f"{name}.jsonl"
        part.to_json(paths[name], orient="records", lines=True, force_ascii=False)
    return paths


def run_textclf(model: str, paths: dict, args, folder: Path, repeat: int = 0) -> dict:
    store = folder / f"{model}-{repeat}"
    command = [sys.executable, str(ROOT / "train.py"), "data=files", f"data.name=bench-{model}",
               f"data.train={paths['train']}", f"data.validation={paths['validation']}", f"data.test={paths['test']}",
               "data.label_column=labels", f"model={model}", *([f"features={args.features}"] if args.features else []),
               f"task={'multilabel' if args.multilabel else 'multiclass'}", *args.overrides,
               f"tracking.uri=sqlite:///{store}/mlflow.db", f"tracking.artifact_location={store}/mlruns",
               f"hydra.run.dir={store}/outputs"]
    store.mkdir()
    result = measured(command)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    (run,) = mlflow.search_runs(experiment_names=[f"bench-{model}"], output_format="list")
    metrics = run.data.metrics
    result.update({key: metrics[f"test/{key}"] for key in ("macro_f1", "micro_f1")})
    # bare.py's accuracy is scikit-learn's accuracy_score: subset accuracy on multi-label data
    result["accuracy"] = metrics["test/subset_accuracy" if args.multilabel else "test/accuracy"]
    result["startup_seconds"] = metrics.get("startup_seconds")
    result["fit_seconds"] = metrics["fit_seconds"]
    result["model_uri"] = f"models:/bench-{model}-topics{'-multilabel' if args.multilabel else ''}@champion"
    result["tracking_uri"] = f"sqlite:///{store}/mlflow.db"
    return result


LOAD_AND_TAG = """
import sys, time
started = time.perf_counter()
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
model.predict(pd.DataFrame({"text": ["The ministers will meet in Jakarta next week."]}))
print(time.perf_counter() - started)
"""

THROUGHPUT = """
import sys, time
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
texts = pd.read_json(sys.argv[3], lines=True)[["text"]]
started = time.perf_counter()
model.predict(texts)
print(len(texts) / (time.perf_counter() - started))
"""


# What a TF-IDF model needs to tag a text, imported in a fresh process: the floor for a cold start.
IMPORT_FLOOR = "import numpy, scipy.sparse, sklearn.feature_extraction.text, pandas"


def everyday_costs(textclf: dict, paths: dict, repeats: int = 3) -> dict:
    """Medians of ``repeats`` fresh processes each, alternating, so drift hits all alike."""
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    one_text = Path(paths["test"]).with_name("one-text.txt")
    one_text.write_text("The ministers will meet in Jakarta next week.\n", encoding="utf-8")
    commands = {
        "help_seconds": [sys.executable, str(ROOT / "train.py"), "--help"],
        "import_floor_seconds": [sys.executable, "-c", IMPORT_FLOOR],
        "textclf_predict_one_text_seconds": [sys.executable, "-m", "textclf.cli", "predict", str(one_text),
                                             "--tracking-uri", textclf["tracking_uri"], "--model-uri",
                                             textclf["model_uri"]],
        "fresh_load_and_tag_seconds": [sys.executable, "-c", LOAD_AND_TAG, textclf["tracking_uri"],
                                       textclf["model_uri"]],
    }
    walls = {key: [] for key in commands}
    for _ in range(repeats):
        for key, command in commands.items():
            walls[key].append(measure(command, env=env)["wall_seconds"])
    throughput = float(measure([sys.executable, "-c", THROUGHPUT, textclf["tracking_uri"], textclf["model_uri"],
                                str(paths["test"])], env=env)["stdout"].strip().splitlines()[-1])
    return {**{key: statistics.median(values) for key, values in walls.items()},
            "loaded_model_texts_per_second": throughput}


def median_run(runs: list[dict]) -> dict:
    """Each numeric measurement's median over the repeats (scores are the same in every run)."""
    merged = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[key] = statistics.median(run[key] for run in runs)
    return merged


def table(baseline: str, rows: list[tuple[str, float, float]]) -> str:
    lines = [f"{'':34} {baseline:>12} {'textclf':>12} {'ratio':>8}"]
    for name, bare, ours in rows:
        ratio = ours / bare if bare else float("nan")
        lines.append(f"{name:34} {bare:12.4g} {ours:12.4g} {ratio:8.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--multilabel", action="store_true")
    parser.add_argument("--models", default="tfidf_linearsvc", help="textclf models, comma-separated")
    parser.add_argument("--baseline", choices=("script", "bare"), default="script",
                        help="script: the ten-line script a user would write; bare: the model's own settings")
    parser.add_argument("--features", default=None,
                        help="textclf features option (default: textclf's; bare.py mirrors tfidf_word)")
    parser.add_argument("--override", dest="overrides", action="append", default=[],
                        help="another train.py override for textclf (repeatable)")
    parser.add_argument("--text-fields", default="text", help="comma-separated fields joined into the text")
    parser.add_argument("--label-field", default=None, help="default: labels for --multilabel, else label")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N rows of each file (smoke runs)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender; medians are reported")
    parser.add_argument("--json", default=None, help="write all measurements here")
    args = parser.parse_args()
    args.label_field = args.label_field or ("labels" if args.multilabel else "label")

    results = {"machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]}, "models": {}}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        paths = prepare(args, folder)
        print(f"train {sum(1 for _ in open(paths['train']))}, validation {sum(1 for _ in open(paths['validation']))}, "
              f"test {sum(1 for _ in open(paths['test']))} texts")
        for model in args.models.split(","):
            if args.baseline == "script":
                baseline_command = [sys.executable, str(ROOT / "benchmarks" / "script.py"), "--train",
                                    str(paths["train"]), "--test", str(paths["test"])]
            else:
                baseline_command = [sys.executable, str(ROOT / "benchmarks" / "bare.py"), "--train",
                                    str(paths["train"]), "--test", str(paths["test"]), "--model", model,
                                    *(["--multilabel"] if args.multilabel else [])]
            baseline_runs, our_runs = [], []
            for repeat in range(args.repeats):  # alternate, so drift in the machine hits both alike
                baseline = measured(baseline_command)
                baseline.update(json.loads(baseline.pop("stdout").strip().splitlines()[-1]))
                baseline_runs.append(baseline)
                ours = run_textclf(model, paths, args, folder, repeat)
                ours.pop("stdout")
                our_runs.append(ours)
            baseline, ours = median_run(baseline_runs), median_run(our_runs)
            ours.update(everyday_costs(our_runs[-1], paths, args.repeats))
            score = "micro_f1" if args.multilabel else "accuracy"
            print(f"\n{model} ({'multilabel' if args.multilabel else 'multiclass'}) against the {args.baseline} "
                  f"baseline; median of {args.repeats} runs each")
            print(table(args.baseline, [
                ("wall seconds (end to end)", baseline["wall_seconds"], ours["wall_seconds"]),
                ("peak PSS MB, all processes", baseline["peak_tree_pss_mb"], ours["peak_tree_pss_mb"]),
                ("peak RSS MB, all processes", baseline["peak_tree_rss_mb"], ours["peak_tree_rss_mb"]),
                ("peak RSS MB, largest process", baseline["peak_rss_mb"], ours["peak_rss_mb"]),
                ("fit seconds", baseline["fit_seconds"], ours["fit_seconds"]),
                (f"test {score}", baseline[score], ours[score]),
                ("test macro-F1", baseline["macro_f1"], ours["macro_f1"]),
                ("predict texts/s (loaded model)", baseline["predict_texts_per_second"], ours["loaded_model_texts_per_second"]),
            ]))
            floor = ours["import_floor_seconds"]
            print(f"  start-up to first training step {ours['startup_seconds']:.2f} s; `train.py --help` "
                  f"{ours['help_seconds']:.2f} s\n"
                  f"  a fresh process tagging one text: importing what the model needs ({IMPORT_FLOOR[7:]}) "
                  f"{floor:.2f} s;\n    `textclf predict` {ours['textclf_predict_one_text_seconds']:.2f} s "
                  f"({ours['textclf_predict_one_text_seconds'] / floor:.2f}x that); a script calling "
                  f"mlflow.pyfunc.load_model {ours['fresh_load_and_tag_seconds']:.2f} s")
            results["models"][model] = {"baseline_name": args.baseline, "baseline": baseline, "textclf": ours,
                                        "baseline_runs": baseline_runs, "textclf_runs": our_runs}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
