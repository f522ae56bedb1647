"""``textclf suggest POOL --model-uri URI -n N``: the unlabeled texts worth labeling next, with the
model's guess and the reason for each pick, as CSV (or JSONL) ready to label and append to a
training file."""

from __future__ import annotations

import sys

import pandas as pd

from textclf.cli.output import check_output, chosen_format, opened_output, write_predictions
from textclf.cli.predict import keyed_rows, shaped_predictions
from textclf.cli.predict_input import read_batches
from textclf.errors import UserError
from textclf.predicting import PROBABILITY_PREFIX, load_for_predicting

TOP_SHOWN = 3  # the model's most probable labels written per pick
ADDED_COLUMNS = ("uncertainty", "reason")  # after the model's: why each text was picked


def suggest(args) -> None:
    from textclf.audit.suggest import pick_for_labeling
    from textclf.tracking.discovery import find_tracking_uri

    if args.n < 1:
        raise UserError(f"-n must be 1 or more, got {args.n}. Fix: pass e.g. -n 40")
    output_format = chosen_format(args.output, args.format)
    check_output(args.output)
    batches = list(read_batches(args.input, args.text_column, args.id_column))
    labeled = _labeled_texts(args.labeled, args.labeled_text_column or args.text_column)
    keys = [key for batch in batches for key in batch.keys]
    texts = [text for batch in batches for text in batch.texts]
    model = load_for_predicting(args.model_uri, find_tracking_uri(args.tracking_uri), verify=True)
    predictions = model.predict(pd.DataFrame({"text": texts}))
    columns = [c for c in predictions.columns if c.startswith(PROBABILITY_PREFIX)]
    if len(columns) < 2:
        raise UserError("the model returns no prob_<class> columns, which suggest ranks by. Fix: use a model "
                        "trained by textclf")
    classes = [c.removeprefix(PROBABILITY_PREFIX) for c in columns]
    picks = pick_for_labeling(texts, predictions[columns].to_numpy(dtype=float), classes, args.n, labeled_texts=labeled,
                              strategy=args.strategy, multilabel="labels" in predictions.columns,
                              near_duplicate_similarity=args.near_duplicate_similarity)
    rows = [pick.row for pick in picks]
    chosen = shaped_predictions(predictions.iloc[rows].reset_index(drop=True), top_k=min(TOP_SHOWN, len(classes)))
    chosen = keyed_rows(chosen, batches[0].key_column, [keys[row] for row in rows], [texts[row] for row in rows],
                        added=ADDED_COLUMNS)
    chosen["uncertainty"] = [pick.uncertainty for pick in picks]
    chosen["reason"] = [pick.reason for pick in picks]
    with opened_output(args.output) as handle:
        write_predictions(chosen, handle, output_format, header=True)
    if len(picks) < args.n:  # a short (or header-only) file is not a failure, but say why
        print(_why_fewer(len(picks), args.n, len(texts), args.near_duplicate_similarity), file=sys.stderr)


def _labeled_texts(source: str | None, text_column: str) -> list[str]:
    """The texts of the ``--labeled`` file (no pick is a near-copy of one of them)."""
    if source is None:
        return []
    return [text for batch in read_batches(source, text_column, text_flag="--labeled-text-column")
            for text in batch.texts]


def _why_fewer(picked: int, asked: int, pool: int, similarity: float) -> str:
    reasons = [f"the pool has {pool} texts"] if pool < asked else []
    if picked < min(asked, pool):  # texts were passed over
        reasons.append(f"the pool's other texts are near-copies of the labeled data or of a pick "
                       f"(--near-duplicate-similarity {similarity})")
    return f"{picked} of the {asked} picks asked for: {'; '.join(reasons)}"
