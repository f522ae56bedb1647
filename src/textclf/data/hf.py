"""Reading a Hugging Face dataset: a ``save_to_disk`` folder, files ``datasets`` reads, or a hub
name when the hub can be reached. Rows become a ``Dataset`` as ``readers.load_files`` makes one."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from textclf.data.dataset import Dataset
from textclf.data.readers import finish_dataset, to_split
from textclf.errors import UserError


def load_hf(
    name: str,
    path: str,
    config_name: str | None = None,
    train_split: str = "train",
    validation_split: str | None = "validation",
    test_split: str | None = "test",
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
    """Read a dataset folder saved with ``save_to_disk``, or one ``datasets.load_dataset`` reads (a
    local folder of files, or a hub name when online). A split named in config that the dataset
    lacks is refused, unless it is the default name (``validation``, ``test``): then it is carved
    from train. Integer ``ClassLabel`` labels (or lists of them) become their names. The other
    parameters are ``load_files``'s.
    """
    loaded = _hf_splits(path, config_name)
    wanted = {"train": train_split, "validation": validation_split, "test": test_split}
    _check_split_names(path, loaded, wanted)
    splits, rows_left_out = {}, ()
    for split_name, hf_split in wanted.items():
        if hf_split not in loaded:  # none asked for, or the default name missing (checked): carved from train
            continue
        frame = _frame_with_label_names(loaded[hf_split], label_column, f"split {hf_split!r} of dataset {path!r}",
                                        split_name)
        splits[split_name], left_out = to_split(
            split_name, frame, f"{path}:{hf_split}", text_column, label_column, id_column, group_column,
            label_separator, missing
        )
        rows_left_out += left_out
    return finish_dataset(name, splits, rows_left_out, validation_size=validation_size, test_size=test_size,
                          split_seed=split_seed, overlap=overlap, per_label=per_label, for_audit=for_audit)


def _frame_with_label_names(part, label_column: str, where: str, split_name: str) -> pd.DataFrame:
    """A split's rows as a DataFrame, integer ``ClassLabel`` labels (or lists of them) as their names."""
    import datasets  # heavy; only this module imports it, and only where it reads

    frame = part.to_pandas()
    feature = part.features.get(label_column)
    inner = getattr(feature, "feature", None)  # a Sequence or List of labels (multi-label)
    if isinstance(feature, datasets.ClassLabel) or isinstance(inner, datasets.ClassLabel):
        frame[label_column] = _class_names(frame[label_column], feature if inner is None else inner,
                                           listed=inner is not None)
        if not any(labels is not None and len(labels) for labels in frame[label_column]):
            # every row -1: a split without labels (GLUE's test splits, IMDB's unsupervised)
            raise UserError(f"{where} has no labels (every row's is -1). "
                            f"Fix: set data.{split_name}_split to a labeled split, or to null")
    return frame


def _class_names(values: pd.Series, classes, listed: bool) -> pd.Series:
    """``ClassLabel`` integers as their names; -1, a row without a label, as none (missing, for
    ``data.missing`` to refuse or drop)."""
    def name(value):
        return None if value is None or pd.isna(value) or int(value) < 0 else classes.int2str(int(value))

    if listed:  # a row's list may itself be missing (None)
        return pd.Series([[label for label in map(name, () if row is None else row) if label is not None]
                          for row in values], dtype=object)
    return pd.Series([name(value) for value in values], dtype=object)


# Split names that say "held out for validation" or "for test": a dataset with one of them and no
# split of the default name most likely means it (IMDB's "unsupervised" does not).
LOOKS_LIKE = {"validation": re.compile(r"^(dev|val|eval)", re.IGNORECASE), "test": re.compile(r"^test", re.IGNORECASE)}


def _check_split_names(path: str, loaded: dict, wanted: dict) -> None:
    """Every split named (``wanted``: ``{our split: the dataset's}``) must exist, but for the
    default validation and test names: those missing are carved from train, unless the dataset has
    an unread split named like one (``dev``): then the user says which."""
    if wanted["train"] not in loaded:
        raise UserError(f"dataset {path!r} has no split {wanted['train']!r} (it has {sorted(loaded)}). "
                        "Fix: set data.train_split to one of them")
    unread = sorted(set(loaded) - set(wanted.values()))
    for split_name, hf_split in wanted.items():
        if hf_split is None or hf_split in loaded:
            continue
        if hf_split != split_name:
            raise UserError(f"dataset {path!r} has no split {hf_split!r} (it has {sorted(loaded)}). "
                            f"Fix: set data.{split_name}_split to one of them or to null (carved from train)")
        alike = [name for name in unread if LOOKS_LIKE[split_name].match(name)]
        if alike:
            raise UserError(f"dataset {path!r} has no split {hf_split!r} but has {alike}, which nothing reads. "
                            f"Fix: set data.{split_name}_split=null to carve it from train, or to one of them")


def _hf_splits(path: str, config_name: str | None) -> dict:
    """``{split name: datasets.Dataset}``: a ``save_to_disk`` folder as saved (a lone Dataset is
    the train split), else what ``datasets.load_dataset`` reads."""
    import datasets

    saved_to_disk = Path(path, "dataset_dict.json").is_file() or Path(path, "state.json").is_file()
    if saved_to_disk and config_name is not None:  # load_from_disk has no configurations to choose from
        raise UserError(f"data.config_name={config_name} names a configuration, and {path} is a save_to_disk "
                        "folder, which holds one. Fix: pass data.config_name=null, or point data.path at the "
                        "folder that configuration was saved to")
    # A hub out of reach: datasets would retry it for about 25 s, a warning each time, before its
    # cache; told it is offline, it reads a cached copy at once, or fails at once.
    host = None if saved_to_disk or Path(path).expanduser().exists() else _hub_out_of_reach()
    offline = datasets.config.HF_HUB_OFFLINE
    if host:
        datasets.config.HF_HUB_OFFLINE = True
    try:
        if saved_to_disk:
            saved = datasets.load_from_disk(path)
            return dict(saved) if isinstance(saved, datasets.DatasetDict) else {"train": saved}
        return dict(datasets.load_dataset(path, config_name))
    except Exception as error:  # datasets raises many types for "not found"/"offline"
        if host:
            raise UserError(f"no folder {path!r} here ({Path.cwd()}), no copy of it in the Hugging Face cache, and the "
                            f"hub ({host}) cannot be reached to look it up. Fix: pass a local dataset folder "
                            "(save_to_disk, or files datasets reads) with data.path=PATH") from None
        detail = str(error).splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
        raise UserError(f"could not load Hugging Face dataset {path!r}: {detail}. Fix: pass a local dataset "
                        "folder or, when online, a hub name with data.path=...") from None
    finally:
        datasets.config.HF_HUB_OFFLINE = offline


def _hub_out_of_reach() -> str | None:
    """The hub's host when it cannot be connected to (3 s at most per address); None when it can,
    when a proxy stands between, or when offline mode is set already (``datasets`` then knows)."""
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                                             "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return None
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    try:
        socket.create_connection((host, endpoint.port or (80 if endpoint.scheme == "http" else 443)), timeout=3).close()
    except OSError:
        return host
    return None
