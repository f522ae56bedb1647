"""Readers of labeled texts: CSV, JSONL and Parquet files (Hugging Face datasets: ``hf.py``).

These are what ``configs/data/*.yaml`` point at with ``_target_``; each returns a ``Dataset``
whose problems (missing file or column, empty text, unknown label...) have already been raised as
``UserError`` before any training starts.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from textclf.data.checks import (check_dataset, check_unique_ids, missing_rows, normalise_texts, parse_labels,
                                 say_if_labels_look_joined)
from textclf.data.dataset import Dataset, MissingRow, Split
from textclf.data.splitting import carve_missing_splits, drop_overlap, keep_per_label, not_carved
from textclf.errors import UserError
from textclf.records import TABLE_KINDS, not_comma_separated, other_separator, refuse_binary, table_kind


def load_files(
    name: str,
    train: str,
    validation: str | None = None,
    test: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
    group_column: str | None = None,
    label_separator: str | None = None,
    validation_size: float = 0.15,
    test_size: float = 0.15,
    split_seed: int = 0,
    overlap: str = "error",
    per_label: int | None = None,
    missing: str = "error",
    for_audit: bool = False,
) -> Dataset:
    """Read labeled texts from CSV, JSONL or Parquet files.

    Parameters
    ----------
    name : str
        Dataset name, used for the MLflow experiment and registered model.
    train, validation, test : str
        Paths. A missing validation or test split is carved out of train with a split stratified
        by primary label and seeded by ``split_seed``.
    text_column, label_column, id_column, group_column : str
        Column names. The label column holds a string, a list of strings (JSONL, Parquet), or a
        string of labels joined by ``label_separator`` for multi-label data. The group column
        (optional) says which texts belong together, e.g. passages of one article:
        cross-validation keeps a group inside one fold (``cv.group_column``).
    overlap : {"error", "drop", "keep"}
        What to do with validation or test texts that train also holds: refuse them, drop those
        rows (and report how many), or keep them (``textclf audit`` reports them).
    per_label : int or None
        Keep this many training texts per primary label, drawn at random (seeded by
        ``split_seed``), after the splits are made; validation and test stay whole.
    missing : {"error", "drop"}
        What to do with rows that have no text or no label: refuse them, or leave them out (and
        report how many; ``textclf audit`` lists them).
    for_audit : bool
        Read as ``textclf audit`` does (not a config key: only the audit passes it): carve
        nothing (a split not given is empty: the audit pools every split and names rows where
        they are in the files read), and take the label set from every split, leaving a label
        train lacks for the audit to report.
    """
    frames = {"train": _read_table(train, "train")}
    for split_name, path in (("validation", validation), ("test", test)):
        if path is not None:
            frames[split_name] = _read_table(path, split_name)
    read = {
        split_name: to_split(split_name, frame, source, text_column, label_column, id_column, group_column,
                              label_separator, missing)
        for split_name, (frame, source) in frames.items()
    }
    splits = {split_name: split for split_name, (split, _) in read.items()}
    return finish_dataset(name, splits, sum((rows for _, rows in read.values()), ()), validation_size=validation_size,
                          test_size=test_size, split_seed=split_seed, overlap=overlap, per_label=per_label,
                          for_audit=for_audit)


def _read_table(path: str, split_name: str) -> tuple[pd.DataFrame, str]:
    file = Path(path).expanduser()
    if file.is_dir():
        raise UserError(f"{split_name} file {file} is a folder. Fix: pass a CSV, JSONL or Parquet file with "
                        f"data.{split_name}=PATH (a Hugging Face dataset folder: data=hf data.path={path})")
    if not file.is_file():
        raise UserError(f"{split_name} file not found: {file}. Fix: pass an existing file with data.{split_name}=PATH")
    kind = table_kind(file)
    if kind is None:
        raise UserError(
            f"{split_name} file {file} has an unsupported extension {file.suffix!r}. "
            f"Fix: use one of {', '.join(sorted(TABLE_KINDS))}"
        )
    frame = read_table(file, split_name, parse_fix=PARSE_FIXES[kind])
    if frame.empty:
        raise UserError(f"{split_name} file {file} has no rows. Fix: pass a file with labeled texts")
    return frame, str(file.resolve())


# What to check when a file of each kind does not parse.
PARSE_FIXES = {"csv": "Fix: separate cells with commas (not semicolons or tabs) and quote cells that hold one",
               "jsonl": "Fix: write one JSON object per line", "parquet": "Fix: re-save it as Parquet"}


def read_table(file: Path, role: str, parse_fix: str) -> pd.DataFrame:
    """The whole of a CSV, JSONL or Parquet file (its kind from its name: ``records.table_kind``), every CSV cell a
    string. A file that is not UTF-8 or does not parse is a ``UserError`` naming the ``role`` the
    file plays (``train``, ``unlabeled``...) and, for a parse error, ending in ``parse_fix``."""
    kind = table_kind(file)
    if kind != "parquet":
        refuse_binary(file, "CSV, JSONL or Parquet", named=f"{role} file {file}")
    try:
        if kind == "csv":
            with warnings.catch_warnings():
                # Rows wider than the header: pandas would take their first cells as the index and
                # shift the rest into the wrong columns (or, told not to, drop the extra cells).
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8",
                                   index_col=False)
        if kind == "jsonl":
            return pd.read_json(file, lines=True, dtype=False, encoding="utf-8-sig")  # -sig: a BOM is no text
        return pd.read_parquet(file)
    except UnicodeDecodeError:
        raise UserError(f"{role} file {file} is not valid UTF-8 ({_first_non_utf8(file)}). Fix: re-save it as UTF-8, "
                        "e.g. iconv -f cp1252 -t utf-8 (Windows text; for ISO-8859-1 use -f latin1)") \
            from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{role} file {file} is empty. Fix: pass a file with a header row and texts") from None
    except pd.errors.ParserWarning:
        raise UserError(f"{role} file {file} has rows with more cells than its header. "
                        "Fix: quote cells that hold a comma") from None
    except (ValueError, pd.errors.ParserError, OSError) as error:
        detail = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
        if kind == "jsonl":  # pandas says where in the whole file ("position 2775"): say which line
            detail = _first_bad_json_line(file) or detail
        raise UserError(f"could not parse {role} file {file} as {kind}: {detail}. {parse_fix}") from None


def _first_non_utf8(file: Path) -> str:
    """Where the first byte that is not UTF-8 is, as a person finds it: line, and the byte."""
    with file.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                column = len(line[:error.start].decode("utf-8")) + 1  # in characters, as an editor counts
                return f"line {number}, byte 0x{line[error.start]:02x} at column {column}"
    return "no invalid byte found line by line"


def _first_bad_json_line(file: Path) -> str | None:
    """The first non-blank line of a JSONL file that is not JSON, and why (None: each line is)."""
    with file.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as error:
                return f"line {number} is not JSON ({error.msg}, column {error.colno})"
    return None


def _check_comma_separated(name, frame, source) -> None:
    """A CSV read as one column named "id;text;label" is said as written with another separator,
    not as missing the text column."""
    if str(source).lower().endswith(".csv") and other_separator(frame.columns) is not None:
        raise UserError(not_comma_separated(f"{name} data ({source})", frame.columns))


# The group column is chosen where it is used, by cross-validation (configs/cv/kfold.yaml copies
# it into data.group_column).
SETTING_OF_COLUMN = {"group": "cv.group_column"}


def to_split(name, frame, source, text_column, label_column, id_column, group_column, label_separator,
             missing) -> tuple[Split, tuple[MissingRow, ...]]:
    """One split, and the rows ``missing="drop"`` left out of it."""
    _check_comma_separated(name, frame, source)
    for role, column in (("text", text_column), ("label", label_column), ("id", id_column), ("group", group_column)):
        if column is not None and column not in frame.columns:
            raise UserError(
                f"{name} data ({source}) has no {role} column {column!r}; its columns are "
                f"{list(map(str, frame.columns))}. Fix: set {SETTING_OF_COLUMN.get(role, f'data.{role}_column')}=NAME"
            )
    raw_texts, raw_labels = frame[text_column].tolist(), frame[label_column].tolist()
    all_ids = [str(value) for value in frame[id_column]] if id_column is not None else \
        [f"{name}-{row}" for row in range(len(frame))]
    label_rows = parse_labels(raw_labels, name, source, label_separator)
    left_out = missing_rows(name, source, raw_texts, label_rows, all_ids, missing)
    skip = frozenset(row.row for row in left_out)
    texts = normalise_texts(raw_texts, name, source, skip)
    labels = tuple(row for i, row in enumerate(label_rows) if i not in skip)
    if label_separator is None and name == "train":  # (validation's and test's labels are train's, or refused)
        say_if_labels_look_joined(labels, name, source)
    ids = tuple(ident for row, ident in enumerate(all_ids) if row not in skip)
    check_unique_ids(ids, name, source)
    groups = ()
    if group_column is not None:
        ungrouped = [row for row in frame[group_column].isna().to_numpy().nonzero()[0] if row not in skip]
        if ungrouped:
            raise UserError(f"{name} data ({source}) has no {group_column!r} group in row {ungrouped[0] + 1} "
                            f"({len(ungrouped)} row(s) in all). "
                            "Fix: fill the group column, or unset cv.group_column")
        groups = tuple(str(value) for row, value in enumerate(frame[group_column]) if row not in skip)
    return Split(name=name, texts=texts, labels=labels, ids=ids, source=source, groups=groups), left_out


def finish_dataset(name: str, splits: dict, left_out: tuple[MissingRow, ...], *, validation_size: float,
                   test_size: float, split_seed: int, overlap: str, per_label: int | None, for_audit: bool) -> Dataset:
    """The ``Dataset`` of the splits read (``{name: Split}``; ``left_out``: the rows ``data.missing=drop``
    left out of them), as every reader makes it: the splits not given carved from train (not for the
    audit), overlap and ``per_label`` applied, the label set taken, and the cross-split checks."""
    splits = not_carved(splits) if for_audit else carve_missing_splits(splits, validation_size, test_size, split_seed)
    splits, dropped = drop_overlap(splits, overlap)
    splits["train"] = keep_per_label(splits["train"], per_label, split_seed)
    labelled = splits.values() if for_audit else [splits["train"]]
    label_names = tuple(sorted({label for split in labelled for row in split.labels for label in row}))
    dataset = Dataset(
        name=name,
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        label_names=label_names,
        dropped_overlap=tuple(dropped.items()),
        dropped_missing=left_out,
    )
    check_dataset(dataset, leakage=overlap != "keep", labels_in_train=not for_audit)
    return dataset
