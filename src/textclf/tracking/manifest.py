"""A model folder's manifest: the SHA-256 digest of every file, and one digest of them all.

Loading an MLflow model runs its code (the saved ``mlflow_entry.py`` and ``code/``) and trusts its
arrays and JSON. When textclf logs a model it writes the manifest (the run artifact
``model_manifest.json``) and records its digest as the tag ``textclf.model_sha256`` on the run and
on the registered version; ``textclf predict``, ``textclf verify`` and ``textclf.load_model``
recompute it from the files before loading anything and refuse any difference.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

DIGEST_TAG = "textclf.model_sha256"
MANIFEST_ARTIFACT = "model_manifest.json"
# Python writes compiled copies of imported code beside it when a model is loaded in place (plain
# mlflow.pyfunc.load_model on a local store does). They are not part of the model and are never
# read by textclf's loader (``verified_imports``), so the manifest leaves them out.
IGNORED_FOLDERS = {"__pycache__"}
# MLflow adds this file (the registered name and version, as YAML) to the model folder when the
# model is registered, after the manifest is written. Nothing runs or predicts from it.
IGNORED_FILES = {"registered_model_meta"}
CHUNK_BYTES = 1 << 22


def file_digests(folder: Path, prefix: str = "", skip: str | None = None) -> dict[str, str]:
    """``{relative path: sha256 hex}`` of every file under ``folder`` (paths start with ``prefix``),
    except under its subfolder ``skip`` (a relative path)."""
    digests = {}
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if name not in IGNORED_FOLDERS
                            and (Path(root) / name).relative_to(folder).as_posix() != skip)
        for name in sorted(files):
            path = Path(root) / name
            if path.parent == folder and name in IGNORED_FILES:
                continue
            digests[prefix + path.relative_to(folder).as_posix()] = _sha256(path)
    return digests


def digest_of(files: dict[str, str]) -> str:
    """One digest for a whole manifest: of its entries, sorted, as JSON."""
    return hashlib.sha256(json.dumps(files, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def changed_files(recorded: dict[str, str], found: dict[str, str]) -> list[str]:
    """Paths added, removed or changed between two manifests, sorted."""
    return sorted(path for path in recorded.keys() | found.keys() if recorded.get(path) != found.get(path))


class DigestsAsWritten:
    """Call it with each file as it is written: it hashes them on two threads meanwhile, so that
    hashing a large model overlaps writing it (hashlib releases the GIL)."""

    def __init__(self, folder: Path):
        self._folder = Path(folder)
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="hash")
        self._digests: dict[str, Future] = {}

    def __call__(self, path: Path) -> None:
        self._digests[Path(path).relative_to(self._folder).as_posix()] = self._pool.submit(_sha256, Path(path))

    def digests(self) -> dict[str, str]:
        """``file_digests(folder)``, once every file is hashed."""
        found = {path: digest.result() for path, digest in sorted(self._digests.items())}
        self._pool.shutdown()
        return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):  # hashlib releases the GIL on chunks this size
            digest.update(chunk)
    return digest.hexdigest()
