"""``textclf predict``: read texts, tag them with a registered model, write the predictions.

Texts stream through in batches (``cli.predict_input`` reads them): read, tag, write, next, so
memory stays flat however many texts come in. Output goes to a hidden file beside the destination, renamed into
place once every text is tagged: a failure part way leaves no half-written file behind.

Each output row starts with what names its text in the input: the input's id column, or the line
the text starts on. Blank texts are skipped, so counting output rows would not find them again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from textclf.cli.predict_input import Batch, read_batches
from textclf.errors import UserError
from textclf.safe_csv import write_rows

PROBABILITY_PREFIX = "prob_"  # a model's one column per class (serving.tagging)
EXPLANATION_COLUMN = "explanation"  # with params {"explain": true} (serving.explain)


def check_output(destination: str, flag: str = "-o") -> None:
    """Refuse, before any model loads, an output file that could not be written: its folder
    missing (it was a traceback once the texts were tagged), or a folder in its place."""
    if destination == "-" or destination.startswith("/dev/"):
        return
    path = Path(destination)
    if path.is_dir():
        raise UserError(f"{flag} {destination} is a folder. Fix: pass a file name, e.g. {flag} {path / 'tags.csv'}")
    if not path.parent.is_dir():
        raise UserError(f"{flag} {destination}: folder {path.parent} does not exist. Fix: create it "
                        f"(mkdir -p {path.parent}) or write somewhere else")


@contextlib.contextmanager
def opened_output(destination: str):
    """stdout, or a file that appears under its name only once it is complete."""
    if destination == "-":
        yield sys.stdout
        return
    path = Path(destination)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def shaped_predictions(predictions: pd.DataFrame, top_k: int | None = None,
                       min_confidence: float | None = None) -> pd.DataFrame:
    """A model's ``label``/``labels`` and ``prob_<class>`` columns, with the ``prob_`` columns
    replaced by ``top1``, ``top1_prob``, ... (``top_k``), and ``confidence`` and ``uncertain``
    (``confidence`` below ``min_confidence``) added."""
    if top_k is None and min_confidence is None:
        return predictions
    probability_columns = [c for c in predictions.columns if c.startswith(PROBABILITY_PREFIX)]
    if not probability_columns:
        raise UserError("the model returns no prob_<class> columns, which --top-k and --min-confidence read. "
                        "Fix: drop those flags, or use a model trained by textclf")
    classes = np.array([c.removeprefix(PROBABILITY_PREFIX) for c in probability_columns], dtype=object)
    probabilities = predictions[probability_columns].to_numpy(dtype=float)
    shaped = predictions.drop(columns=probability_columns) if top_k else predictions
    if top_k:
        if top_k > len(classes):
            raise UserError(f"--top-k {top_k} asks for more labels than the model's {len(classes)} classes. "
                            f"Fix: pass --top-k {len(classes)} or less")
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
        for rank in range(top_k):
            shaped[f"top{rank + 1}"] = classes[ranked[:, rank]]
            shaped[f"top{rank + 1}_prob"] = np.take_along_axis(probabilities, ranked[:, rank:rank + 1], axis=1)[:, 0]
    if min_confidence is not None:
        shaped["confidence"] = _confidence(predictions, list(classes), probabilities)
        shaped["uncertain"] = shaped["confidence"] < min_confidence
    return shaped


def _confidence(predictions: pd.DataFrame, classes: list[str], probabilities: np.ndarray) -> np.ndarray:
    """The predicted label's probability; multi-label: the lowest among the predicted labels, or,
    when none is predicted, one minus the highest (how sure the model is that none applies)."""
    column = {name: j for j, name in enumerate(classes)}
    if "label" in predictions.columns:
        return np.array([probabilities[i, column[label]] for i, label in enumerate(predictions["label"])])
    if "labels" in predictions.columns:
        return np.array([min(probabilities[i, column[label]] for label in labels) if len(labels)
                         else 1 - probabilities[i].max() for i, labels in enumerate(predictions["labels"])])
    raise UserError("the model returns no label or labels column, which --min-confidence reads. "
                    "Fix: drop --min-confidence, or use a model trained by textclf")


def chosen_format(output: str, given: str | None) -> str:
    """``--format``, else what ``--output``'s extension says: ``.jsonl`` or ``.json`` JSON lines;
    ``.csv``, ``.txt``, no extension, stdout or a device (``/dev/stdout``) CSV. Another extension is
    refused: a CSV named ``.xlsx`` would not open as one."""
    if given is not None:
        return given
    suffix = Path(output).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if output == "-" or suffix in (".csv", ".txt", "") or output.startswith("/dev/"):
        return "csv"
    raise UserError(f"cannot tell which format to write {output} in from its extension. Fix: name it .csv or "
                    ".jsonl, or pass --format csv or --format jsonl")


def write_predictions(predictions: pd.DataFrame, handle, output_format: str, header: bool) -> None:
    """One batch as CSV (list-valued ``labels`` as ``a|b``, cells safe for spreadsheets) or JSONL."""
    if output_format == "jsonl":
        for record in predictions.to_dict(orient="records"):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    columns = list(predictions.columns)
    rows = ([_cell(column, value) for column, value in zip(columns, row)]
            for row in predictions.itertuples(index=False))
    write_rows(handle, chain([columns] if header else [], rows))


def _cell(column: str, value):
    """A CSV cell: labels as ``a|b``, probabilities to 4 decimals, an explanation as JSON."""
    if column == EXPLANATION_COLUMN:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "|".join(value)
    return f"{value:.4f}" if isinstance(value, float) else value


def model_answer(model, texts: list[str], explain: bool = False) -> pd.DataFrame:
    """A loaded model's predictions for ``texts`` (and, with ``explain``, their explanations,
    asked for as MLflow passes params). A model saved before explanations existed is refused."""
    frame = pd.DataFrame({"text": texts})
    if not explain:
        return model.predict(frame)
    answer = model.predict(frame, params={"explain": True})
    if EXPLANATION_COLUMN not in answer.columns:
        raise UserError("the model gives no explanations: it was saved by a textclf older than --explain. "
                        "Fix: train it again, or drop --explain")
    return answer


def tagged_batch(model, batch: Batch, top_k: int | None, min_confidence: float | None,
                 explain: bool = False) -> pd.DataFrame:
    """The rows written for ``batch``: its keys, its texts, then the model's predictions (and,
    with ``explain``, their explanations)."""
    predictions = shaped_predictions(model_answer(model, batch.texts, explain), top_k, min_confidence)
    if batch.key_column in predictions.columns or batch.key_column == "text":
        raise UserError(f"the input's id column {batch.key_column!r} has the name of an output column. "
                        "Fix: rename that column in the input, or pass --id-column with another one")
    predictions.insert(0, "text", batch.texts)
    predictions.insert(0, batch.key_column, batch.keys)
    return predictions


def load_for_predicting(model_uri: str, tracking_uri: str, verify: bool):
    """The model at ``model_uri``. A registered version in a local sqlite store loads without
    importing MLflow (the cold start users feel); anything else, or anything unusual about it,
    takes MLflow's path."""
    from textclf.tracking.local_registry import load_registered_locally

    model = load_registered_locally(model_uri, tracking_uri) if verify else None
    if model is None:
        from textclf.tracking.runs import load_model

        model = load_model(model_uri, tracking_uri, verify=verify)
    return model


def predict(args) -> None:
    from textclf.tracking.discovery import find_tracking_uri

    output_format = chosen_format(args.output, args.format)
    check_output(args.output)
    batches = read_batches(args.input, args.text_column, args.id_column)
    first = next(batches)  # bad input is reported before the store is looked for and the model loaded
    model = load_for_predicting(args.model_uri, find_tracking_uri(args.tracking_uri), verify=not args.no_verify)
    from textclf.cli.progress import tagging_progress

    with opened_output(args.output) as handle, tagging_progress(args.output) as progress:
        for i, batch in enumerate(chain([first], batches)):
            rows = tagged_batch(model, batch, args.top_k, args.min_confidence, args.explain)
            write_predictions(rows, handle, output_format, header=i == 0)
            progress.update(len(batch.texts))
