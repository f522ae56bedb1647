"""``textclf predict``: read texts, tag them with a registered model, write the predictions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from textclf.errors import UserError


def read_texts(source: str, text_column: str) -> list[str]:
    """Texts from a CSV or JSONL file (``text_column``), a text file (one a line), or stdin ('-')."""
    if source == "-":
        texts = [line.rstrip("\n") for line in sys.stdin]
        origin = "standard input"
    else:
        path = Path(source)
        if not path.is_file():
            raise UserError(f"input file not found: {path}. Fix: pass an existing CSV, JSONL or text file")
        origin = str(path)
        suffix = path.suffix.lower()
        try:
            if suffix in (".csv", ".jsonl", ".json"):
                frame = (pd.read_csv(path, dtype=str, keep_default_na=False) if suffix == ".csv"
                         else pd.read_json(path, lines=True, dtype=False))
                if text_column not in frame.columns:
                    raise UserError(f"{path} has no column {text_column!r} (columns: {list(frame.columns)}). "
                                    "Fix: pass --text-column NAME")
                texts = ["" if value is None else str(value) for value in frame[text_column]]
            else:
                texts = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, ValueError) as error:  # a UserError above is neither: it passes
            raise UserError(f"could not read {path}: {str(error).splitlines()[0]}. Fix: pass UTF-8 CSV, JSONL or text") from None
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise UserError(f"no texts to tag in {origin}. Fix: give at least one non-empty text")
    return texts


def write_predictions(predictions: pd.DataFrame, destination: str, output_format: str | None) -> None:
    """Write CSV or JSONL to a file or stdout; list-valued ``labels`` become ``a|b`` in CSV."""
    if output_format is None:
        output_format = "jsonl" if destination.endswith(".jsonl") else "csv"
    handle = sys.stdout if destination == "-" else open(destination, "w", encoding="utf-8", newline="")
    try:
        if output_format == "jsonl":
            for record in predictions.to_dict(orient="records"):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            frame = predictions.copy()
            if "labels" in frame.columns:
                frame["labels"] = frame["labels"].map("|".join)
            frame.to_csv(handle, index=False, float_format="%.4f")
    finally:
        if handle is not sys.stdout:
            handle.close()


def predict(args, default_tracking_uri: str) -> None:
    texts = read_texts(args.input, args.text_column)
    from textclf.tracking.runs import load_model

    model = load_model(args.model_uri, args.tracking_uri or default_tracking_uri, verify=not args.no_verify)
    predictions = model.predict(pd.DataFrame({"text": texts}))
    predictions.insert(0, "text", texts)
    write_predictions(predictions, args.output, args.format)
