"""Where the commands write (``textclf predict``, its ``--article`` files, ``textclf suggest``):
a destination checked before any model loads, and a file that appears under its name only once
it is complete, so a failure part way leaves nothing half-written. Standard output, a device
(``/dev/stdout``) or a named pipe is written to as it goes."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from itertools import chain
from pathlib import Path

import pandas as pd

from textclf.errors import UserError
from textclf.predicting import EXPLANATION_COLUMN
from textclf.safe_csv import write_rows

STANDARD_STREAMS = {"-": "stdout", "/dev/stdout": "stdout", "/dev/stderr": "stderr"}


def is_stream(destination: str) -> bool:
    """Standard output or error, a device or a named pipe: nothing to replace once complete."""
    if destination in STANDARD_STREAMS or destination.startswith("/dev/"):
        return True
    path = Path(destination)
    return path.exists() and not path.is_file() and not path.is_dir()


def check_output(destination: str, flag: str = "-o") -> None:
    """Refuse, before any model loads, a destination that could not be written: a folder, a
    missing folder (it was a traceback once the texts were tagged), or a folder this user cannot
    write in (tried with an empty file, removed at once)."""
    if destination in STANDARD_STREAMS:
        return
    path = Path(destination)
    if path.is_dir():
        raise UserError(f"{flag} {destination} is a folder. Fix: pass a file name, e.g. {flag} {path / 'tags.csv'}")
    if is_stream(destination):
        if not os.access(path, os.W_OK):
            raise UserError(f"{flag} {destination} cannot be written by this user. Fix: write to a file instead")
        return
    if not path.parent.is_dir():
        raise UserError(f"{flag} {destination}: folder {path.parent} does not exist. Fix: create it "
                        f"(mkdir -p {path.parent}) or write somewhere else")
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".partial"):
            pass
    except OSError as error:
        raise UserError(f"{flag} {destination}: cannot write in folder {path.parent} ({error.strerror}). "
                        "Fix: write somewhere else") from None


@contextlib.contextmanager
def opened_output(destination: str):
    """A text handle on ``destination``. A file is written under a hidden name of its own (two
    commands writing one destination never share it) and renamed into place once complete."""
    if destination in STANDARD_STREAMS:
        yield getattr(sys, STANDARD_STREAMS[destination])
        return
    if is_stream(destination):
        with open(destination, "w", encoding="utf-8", newline="") as handle:
            yield handle
        return
    path = Path(destination)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.chmod(partial, _mode_for(path))  # mkstemp's file is private to its owner
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    """The permissions ``path`` has, or a new file's (what the umask leaves of rw-rw-rw-)."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
    """One batch as CSV (list-valued ``labels`` as ``a|b``, cells safe for spreadsheets) or JSONL.
    Values JSON has no type for (a Parquet input's dates, decimals) are written as their text."""
    if output_format == "jsonl":
        for record in predictions.to_dict(orient="records"):
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        return
    columns = list(predictions.columns)
    rows = ([_cell(column, value) for column, value in zip(columns, row)]
            for row in predictions.itertuples(index=False))
    write_rows(handle, chain([columns] if header else [], rows))


def _cell(column: str, value):
    """A CSV cell: labels as ``a|b``, probabilities to 4 decimals, an explanation as JSON."""
    if column == EXPLANATION_COLUMN:
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list):
        return "|".join(map(str, value))
    return f"{value:.4f}" if isinstance(value, float) else value
