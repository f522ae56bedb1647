"""Tagging with the MiniLM models: fp32 in torch (before: today's path) against int8 in ONNX Runtime.

Each minilm_* model is trained from its own config on the seed corpus (seeds/diplomacy, train
split) with `inference=fp32` and with `inference=int8`, saved as textclf saves it (the data-only
state inside an MLflow pyfunc model), and measured through `mlflow.pyfunc.load_model(...).predict`,
what `textclf predict` and `mlflow models serve` call, each in a fresh process:
  * passages/s: the whole test split in one `predict` (median of --repeats);
  * latency: median of one-text `predict` calls on the first 50 test texts;
  * load: seconds of `mlflow.pyfunc.load_model` in a fresh process (median of --repeats), and
    seconds from that process's start to the model loaded;
  * test macro-F1, and how many one-text labels differ from the same texts' labels in the batch.
minilm_finetune is fine-tuned once (with int8): its weights do not depend on `inference`, so its
"before" is the same saved model read as fp32 (the state's "inference" switched, nothing else).
Prints one table with after/before ratios; never asserts timings.
    python benchmarks/tagging.py [--models minilm_logreg,minilm_zeroshot] [--repeats 3] [--json OUT]
                                 [--work DIR (keeps the trained models: a rerun only measures)]
                                 [--per-label K --encoder DIR (a smoke run)]
Needs `pip install -e '.[bench]'`.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("minilm_logreg", "minilm_zeroshot", "minilm_finetune")
SETTING = {"minilm_logreg": "model.embedder.inference", "minilm_zeroshot": "model.estimator.inference",
           "minilm_finetune": "model.estimator.inference"}
QUIET = {"minilm_logreg": ["model.embedder.cache_dir=null"], "minilm_finetune": ["model.estimator.progress=false"]}
LATENCY_TEXTS = 50
ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
               "TRANSFORMERS_VERBOSITY": "error"}


def compose_config(model: str, inference: str, per_label: int | None = None, encoder: str | None = None):
    from hydra import compose, initialize_config_dir

    overrides = [f"model={model}", f"{SETTING[model]}={inference}", f"paths.root_dir={ROOT}", *QUIET.get(model, []),
                 *([f"data.per_label={per_label}"] if per_label else []),
                 *([f"model.encoder='{encoder}'"] if encoder else [])]
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=overrides)


def train_and_save(model: str, inference: str, folder: Path, per_label: int | None = None,
                   encoder: str | None = None) -> float:
    """Fit ``model`` on the seed train split (``per_label`` texts per label, if given) as
    ``train.py`` builds it (with ``encoder`` in place of MiniLM, if given); save it as an MLflow model."""
    from textclf.config import build
    from textclf.serving.decision import ArgmaxDecision
    from textclf.serving.writer import save_state
    from textclf.training import seed_everything

    cfg = compose_config(model, inference, per_label, encoder)
    seed_everything(cfg.seed)
    dataset, task = build(cfg.data, "data"), build(cfg.task, "task")
    estimator = task.prepare(build(cfg.model.estimator, "model"), dataset.label_names)
    started = time.perf_counter()
    estimator.fit(list(dataset.train.texts), task.targets(dataset.train, dataset.label_names))
    seconds = time.perf_counter() - started
    decision = ArgmaxDecision(tuple(str(c) for c in estimator.classes_))
    packages = save_state(estimator, decision, folder / "state")
    save_pyfunc(folder / "state", packages, folder / "mlflow", dataset.validation.texts[:3], estimator, decision)
    return seconds


def save_pyfunc(state: Path, packages: list[str], folder: Path, example_texts, estimator, decision) -> None:
    """The MLflow model textclf's tracker logs (``Tracker.log_model``), written to a folder."""
    import mlflow
    import pandas as pd

    from textclf import serving
    from textclf.serving.tagging import tag_texts
    from textclf.tracking.requirements import requirements
    from textclf.tracking.tracker import SERVING_PACKAGE

    example = pd.DataFrame({"text": list(example_texts)})
    signature = mlflow.models.infer_signature(example, tag_texts(estimator, decision, list(example_texts)))
    with tempfile.TemporaryDirectory() as staging:
        code = shutil.copytree(Path(serving.__file__).parent, Path(staging) / SERVING_PACKAGE,
                               ignore=shutil.ignore_patterns("__pycache__"))
        mlflow.pyfunc.save_model(str(folder), python_model=str(Path(serving.__file__).parent / "mlflow_entry.py"),
                                 code_paths=[str(code)], artifacts={"state": str(state)}, signature=signature,
                                 pip_requirements=requirements(packages))


def read_as_fp32(folder: Path, target: Path) -> None:
    """A copy of a saved model whose transformer parts run as fp32 (their float weights, in torch)."""
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("model.int8.onnx"))
    for state_file in target.rglob("state.json"):
        document = json.loads(state_file.read_text())
        switch_inference(document, "fp32")
        state_file.write_text(json.dumps(document))


def switch_inference(node, inference: str) -> None:
    if isinstance(node, dict):
        if "inference" in node:
            node["inference"] = inference
        for value in node.values():
            switch_inference(value, inference)
    elif isinstance(node, list):
        for value in node:
            switch_inference(value, inference)


def measure(folder: str, repeats: int, texts_file: str) -> dict:
    """In this fresh process: load the MLflow model, then time tagging (``--measure``)."""
    started = time.perf_counter()
    import mlflow
    import pandas as pd
    import psutil

    imported = time.perf_counter()
    model = mlflow.pyfunc.load_model(folder)
    loaded = time.perf_counter()
    since_start = time.time() - psutil.Process().create_time()
    texts = json.loads(Path(texts_file).read_text())
    model.predict(pd.DataFrame({"text": texts[:16]}))  # first call: lazy set-up, caches
    batch_seconds = []
    for _ in range(repeats):
        begun = time.perf_counter()
        frame = model.predict(pd.DataFrame({"text": texts}))
        batch_seconds.append(time.perf_counter() - begun)
    single_seconds, single_labels = [], []
    for text in texts[:LATENCY_TEXTS]:
        begun = time.perf_counter()
        single_labels.append(model.predict(pd.DataFrame({"text": [text]}))["label"].iloc[0])
        single_seconds.append(time.perf_counter() - begun)
    return {"import_mlflow_seconds": imported - started, "load_seconds": loaded - imported,
            "process_start_to_loaded_seconds": since_start,
            "passages_per_second": len(texts) / statistics.median(batch_seconds),
            "latency_ms": 1000 * statistics.median(single_seconds),
            "labels": frame["label"].tolist(), "probabilities": frame.filter(like="prob_").to_numpy().tolist(),
            "single_text_label_changes": sum(a != b for a, b in zip(single_labels, frame["label"]))}


def in_fresh_process(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                            env={**os.environ, **ENVIRONMENT}, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def load_seconds(folder: Path) -> dict:
    """Only the load, in a fresh process (``--load``)."""
    return in_fresh_process("--load", str(folder))


def benchmark(model: str, work: Path, repeats: int, texts_file: Path, per_label: int | None = None,
              encoder: str | None = None) -> dict:
    variants = {"fp32": work / model / "fp32", "int8": work / model / "int8"}
    fit_seconds = {}
    if not (variants["int8"] / "mlflow").exists():
        fit_seconds["int8"] = train_and_save(model, "int8", variants["int8"], per_label, encoder)
    if not (variants["fp32"] / "mlflow").exists():
        if model == "minilm_finetune":  # the same fine-tuned weights, read as fp32
            read_as_fp32(variants["int8"], variants["fp32"])
        else:
            fit_seconds["fp32"] = train_and_save(model, "fp32", variants["fp32"], per_label, encoder)
    results = {}
    for variant, folder in variants.items():
        measured = in_fresh_process("--measure", str(folder / "mlflow"), "--repeats", str(repeats),
                                    "--texts", str(texts_file))
        loads = [load_seconds(folder / "mlflow") for _ in range(repeats - 1)]  # with the one above: repeats
        measured["load_seconds"] = statistics.median([measured["load_seconds"], *(x["load_seconds"] for x in loads)])
        measured["process_start_to_loaded_seconds"] = statistics.median(
            [measured["process_start_to_loaded_seconds"], *(x["process_start_to_loaded_seconds"] for x in loads)])
        measured["model_megabytes"] = sum(p.stat().st_size for p in (folder / "state").rglob("*") if p.is_file()) / 1e6
        measured["fit_seconds"] = fit_seconds.get(variant)
        results[variant] = measured
    return results


def score(results: dict) -> None:
    """Test macro-F1 of each variant's batch labels, as ``train.py`` scores the test split."""
    import numpy as np

    from textclf.config import build
    from textclf.serving.decision import ArgmaxDecision

    cfg = compose_config(MODELS[0], "fp32")  # the data and task every model was trained on
    dataset, task = build(cfg.data, "data"), build(cfg.task, "task")
    decision = ArgmaxDecision(tuple(sorted(dataset.label_names)))
    classes = list(decision.classes)
    truth = np.array([classes.index(label) for label in dataset.test.primary_labels])
    for model in results.values():
        before = model["fp32"]["labels"]
        for measured in model.values():
            probabilities = np.asarray(measured.pop("probabilities"))
            labels = measured.pop("labels")
            predicted = [(label,) for label in labels]
            measured["test_macro_f1"] = task.score(dataset.test, predicted, probabilities, decision)["macro_f1"]
            measured["test_labels_changed_from_fp32"] = sum(a != b for a, b in zip(labels, before))
            measured["test_macro_f1_change_95"] = f1_change_interval(
                truth, np.array([classes.index(x) for x in before]), np.array([classes.index(x) for x in labels]),
                len(classes))


def f1_change_interval(truth, before, after, n_classes: int, resamples: int = 2000) -> list[float]:
    """Paired bootstrap 95% interval of macro-F1(after) - macro-F1(before) over test texts: how
    far the change is from what resampling the same 280 texts gives."""
    import numpy as np

    def macro_f1(rows, predicted):
        hits = np.bincount(truth[rows][predicted[rows] == truth[rows]], minlength=n_classes)
        counted = np.bincount(predicted[rows], minlength=n_classes) + np.bincount(truth[rows], minlength=n_classes)
        return float(np.mean(np.where(counted > 0, 2 * hits / np.maximum(counted, 1), 0.0)))

    rng = np.random.default_rng(0)
    samples = [rng.integers(0, len(truth), len(truth)) for _ in range(resamples)]
    changes = [macro_f1(rows, after) - macro_f1(rows, before) for rows in samples]
    return [float(x) for x in np.percentile(changes, [2.5, 97.5])]


ROWS = [("passages / second", "passages_per_second", "{:.1f}"),
        ("one-text latency, ms (median)", "latency_ms", "{:.2f}"),
        ("load_model, s (fresh process)", "load_seconds", "{:.2f}"),
        ("process start to loaded, s", "process_start_to_loaded_seconds", "{:.2f}"),
        ("test macro-F1", "test_macro_f1", "{:.4f}"),
        ("test labels changed from fp32", "test_labels_changed_from_fp32", "{}"),
        ("one-text labels != batch labels", "single_text_label_changes", "{}"),
        ("saved state, MB", "model_megabytes", "{:.1f}")]


def print_table(results: dict) -> None:
    print(f"{'':32} {'model':16} {'fp32':>9} {'int8':>9} {'int8/fp32':>10}")
    for title, key, style in ROWS:
        for model, variants in results.items():
            before, after = variants["fp32"][key], variants["int8"][key]
            if key == "test_macro_f1":
                ratio = f"{after - before:+10.4f}"
            else:
                ratio = f"{after / before:10.3f}" if before else ""
            print(f"{title:32} {model:16} {style.format(before):>9} {style.format(after):>9} {ratio}")
    for model, variants in results.items():
        low, high = variants["int8"]["test_macro_f1_change_95"]
        print(f"{model}: int8 - fp32 test macro-F1, paired bootstrap 95% interval [{low:+.4f}, {high:+.4f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--work", default=None, help="folder for the trained models, kept between runs")
    parser.add_argument("--per-label", type=int, default=None,
                        help="train on this many texts per label (smoke runs; the test split stays whole)")
    parser.add_argument("--encoder", default=None,
                        help="a sentence-transformers folder in place of MiniLM (smoke runs: a tiny model)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeats, args.texts)))
        return
    if args.load:
        print(json.dumps(measure_load(args.load)))
        return
    os.environ.update(ENVIRONMENT)
    work = Path(args.work or tempfile.mkdtemp(prefix="tagging-"))
    texts_file = work / "test_texts.json"
    texts_file.parent.mkdir(parents=True, exist_ok=True)
    texts_file.write_text(json.dumps([json.loads(line)["text"] for line in
                                      (ROOT / "seeds/diplomacy/test.jsonl").read_text().splitlines()]))
    results = {model: benchmark(model, work, args.repeats, texts_file, args.per_label, args.encoder)
               for model in args.models.split(",")}
    score(results)
    print_table(results)
    if args.json:
        from importlib.metadata import version

        machine = {"cpus": os.cpu_count(), "processor": cpu_name(),
                   "python": platform.python_version(),
                   **{package: version(package) for package in ("torch", "transformers", "onnxruntime", "mlflow")}}
        Path(args.json).write_text(json.dumps({"machine": machine, "repeats": args.repeats, "results": results},
                                              indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    return names[0] if names else platform.machine()


def measure_load(folder: str) -> dict:
    started = time.perf_counter()
    import mlflow
    import psutil

    imported = time.perf_counter()
    mlflow.pyfunc.load_model(folder)
    return {"load_seconds": time.perf_counter() - imported, "import_mlflow_seconds": imported - started,
            "process_start_to_loaded_seconds": time.time() - psutil.Process().create_time()}


if __name__ == "__main__":
    main()
