"""``textclf predict``: read texts, tag them with a registered model, write the predictions.

Texts stream through in batches (``cli.predict_input`` reads them): read, tag, write, next, so
memory stays flat however many texts come in. Output goes to a hidden file beside the destination,
renamed into place once every text is tagged (``cli.output``): a failure part way leaves no
half-written file behind.

Each output row starts with what names its text in the input: the input's id column, or the line
the text starts on. Blank texts are skipped, so counting output rows would not find them again.
"""

from __future__ import annotations

from itertools import chain

import numpy as np
import pandas as pd

from textclf.cli.output import check_output, chosen_format, opened_output, write_predictions
from textclf.cli.predict_input import Batch, read_batches, stdin_is_a_terminal
from textclf.errors import UserError
from textclf.predicting import PROBABILITY_PREFIX, load_for_predicting, model_answer


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


def tagged_batch(model, batch: Batch, top_k: int | None, min_confidence: float | None,
                 explain: bool = False) -> pd.DataFrame:
    """The rows written for ``batch``: its keys, its texts, then the model's predictions (and,
    with ``explain``, their explanations)."""
    predictions = shaped_predictions(model_answer(model, batch.texts, explain), top_k, min_confidence)
    return keyed_rows(predictions, batch.key_column, batch.keys, batch.texts)


def keyed_rows(predictions: pd.DataFrame, key_column: str, keys: list, texts: list[str],
               added: tuple[str, ...] = ()) -> pd.DataFrame:
    """``predictions`` with the input's keys and texts in front. An id column named like an output
    column (or like one of ``added``, those the caller writes after) is refused: one would hide
    the other."""
    if key_column in predictions.columns or key_column in ("text", *added):
        raise UserError(f"the input's id column {key_column!r} has the name of an output column. "
                        "Fix: rename that column in the input, or pass --id-column with another one")
    predictions.insert(0, "text", texts)
    predictions.insert(0, key_column, keys)
    return predictions


def predict(args) -> None:
    from textclf.tracking.discovery import find_tracking_uri

    output_format = chosen_format(args.output, args.format)
    check_output(args.output)
    batches = read_batches(args.input, args.text_column, args.id_column, article_flag=True)
    if args.input in (None, "-") and stdin_is_a_terminal():  # texts typed once the model is found, not before its error
        model = load_for_predicting(args.model_uri, find_tracking_uri(args.tracking_uri), verify=not args.no_verify)
        first = next(batches)
    else:
        first = next(batches)  # bad input is reported before the store is looked for and the model loaded
        model = load_for_predicting(args.model_uri, find_tracking_uri(args.tracking_uri), verify=not args.no_verify)
    from textclf.cli.progress import tagging_progress

    with opened_output(args.output) as handle, tagging_progress(args.output) as progress:
        for i, batch in enumerate(chain([first], batches)):
            rows = tagged_batch(model, batch, args.top_k, args.min_confidence, args.explain)
            write_predictions(rows, handle, output_format, header=i == 0)
            progress.update(len(batch.texts))
