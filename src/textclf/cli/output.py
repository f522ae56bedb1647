"""Where the commands write (``textclf predict``, its ``--article`` files, ``textclf suggest``):
a destination checked before any model loads, and a file that appears under its name only once
it is complete, so a failure part way leaves nothing half-written. Standard output, a device
(``/dev/stdout``) or a named pipe is written to as it goes."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import sys
from itertools import chain
from pathlib import Path

import pandas as pd

from textclf.errors import UserError
from textclf.predicting import EXPLANATION_COLUMN
from textclf.safe_csv import write_rows

STANDARD_STREAMS = ("-", "/dev/stdout", "/dev/stderr")  # written to as this process's own streams


def standard_stream(destination: str):
    """This process's stdout or stderr, for a destination that names one."""
    return sys.stderr if destination == "/dev/stderr" else sys.stdout


def is_stream(destination: str) -> bool:
    """Standard output or error, or an existing device, named pipe or socket: written to as it
    goes, with nothing to replace once complete. (A file under /dev/shm is a file.)"""
    if destination in STANDARD_STREAMS:
        return True
    try:
        mode = os.stat(destination).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


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
    path = Path(os.path.realpath(path))  # a link's target is what gets written
    if not path.parent.is_dir():
        raise UserError(f"{flag} {destination}: folder {path.parent} does not exist. Fix: create it "
                        f"(mkdir -p {path.parent}) or write somewhere else")
    try:
        partial, descriptor = _partial_file(path)
        os.close(descriptor)
        partial.unlink()
    except OSError as error:
        raise UserError(f"{flag} {destination}: cannot write in folder {path.parent} ({error.strerror}). "
                        "Fix: write somewhere else") from None


@contextlib.contextmanager
def opened_output(destination: str):
    """A text handle on ``destination``. A file (a link's target) is written under a hidden name
    of its own, so two commands writing one destination never share it, and renamed into place
    once complete: a new file gets the permissions the umask gives, a replaced one keeps its own."""
    if destination in STANDARD_STREAMS:
        yield standard_stream(destination)
        return
    if is_stream(destination):
        with open(destination, "w", encoding="utf-8", newline="") as handle:
            yield handle
        return
    path = Path(os.path.realpath(destination))
    partial, descriptor = _partial_file(path)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
        with contextlib.suppress(FileNotFoundError):  # (gone meanwhile: then it is new)
            os.chmod(partial, stat.S_IMODE(path.stat().st_mode))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _partial_file(path: Path) -> tuple[Path, int]:
    """A new hidden file beside ``path`` and its open descriptor, made as a new file is (mode
    rw-rw-rw- less the umask), under a name no other process has."""
    while True:
        partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
        try:
            return partial, os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue


def chosen_format(output: str, given: str | None) -> str:
    """``--format``, else what ``--output``'s extension says: ``.jsonl`` or ``.json`` JSON lines;
    ``.csv``, ``.txt``, no extension, stdout or a device (``/dev/stdout``) CSV. Another extension is
    refused: a CSV named ``.xlsx`` would not open as one."""
    if given is not None:
        return given
    suffix = Path(output).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt", "") or is_stream(output):
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
