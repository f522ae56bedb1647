"""Check a stored model against the digest recorded when it was logged, before loading it.

Loading an MLflow model runs the Python code stored with it. ``verified_folder`` resolves the
model URI to one registered version (or run), downloads that model's files, and compares their
digest (``manifest``) with the one recorded on the version (or run). Only then may the folder be
loaded, with ``local_registry.imports_from_source_only`` in force so that no stale compiled copy of the model's
code is read in place of the verified source.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator

from textclf.errors import UserError
from textclf.tracking.champion import LOCK_SUFFIX
from textclf.tracking.local_registry import MODEL_BY_ALIAS, MODEL_BY_NUMBER
from textclf.tracking.manifest import DIGEST_TAG, MANIFEST_ARTIFACT, changed_files, digest_of, file_digests
from textclf.tracking.client import mlflow, model_folder

UNVERIFIABLE = ("Fix: pass a registered model (models:/NAME@ALIAS, models:/NAME/N) or a run's model "
                "(runs:/ID/model), or --no-verify to load it unchecked if you trust where it came from")


@contextlib.contextmanager
def verified_folder(model_uri: str) -> Iterator[Path]:
    """The local folder of ``model_uri``'s files, once they match their recorded digest
    (``tracker.model_folder``: a downloaded copy is kept until exit, unless the block raises)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    pinned_uri, recorded, run_id = _recorded_digest(client, model_uri)
    with model_folder(pinned_uri) as folder:
        found = file_digests(folder)
        if digest_of(found) != recorded:
            raise UserError(f"model {model_uri} is not the model that was logged: {_what_changed(run_id, found)}. "
                            "Fix: do not load it; restore its files from a backup or train it again")
        yield folder


def _recorded_digest(client, model_uri: str) -> tuple[str, str, str]:
    """(a URI of exactly the version or run checked, its recorded digest, its run id)."""
    from mlflow.exceptions import MlflowException

    by_alias, by_version = MODEL_BY_ALIAS.fullmatch(model_uri), MODEL_BY_NUMBER.fullmatch(model_uri)
    by_run = re.fullmatch(r"runs:/([0-9a-f]+)/model", model_uri)
    try:
        if by_alias or by_version:
            version = (client.get_model_version_by_alias(*by_alias.groups()) if by_alias
                       else client.get_model_version(*by_version.groups()))
            pinned, tags, run_id = f"models:/{version.name}/{version.version}", version.tags, version.run_id
        elif by_run:
            run_id = by_run.group(1)
            pinned, tags = model_uri, client.get_run(run_id).data.tags
        else:
            raise UserError(_unverifiable(model_uri))
    except MlflowException as error:
        raise UserError(f"cannot load model {model_uri!r}: {error.message.strip().splitlines()[0]}"
                        f"{_registered_names(client, by_alias or by_version)}. Fix: check the URI (e.g. "
                        "models:/NAME@champion, models:/NAME/1, runs:/ID/model) and the tracking store") from None
    if DIGEST_TAG not in tags:
        raise UserError(f"cannot verify {model_uri}: it was logged without a digest (by an older textclf, "
                        f"or not by textclf). {UNVERIFIABLE}")
    return pinned, tags[DIGEST_TAG], run_id


def _unverifiable(model_uri: str) -> str:
    """Why ``model_uri`` has no recorded digest, and what to pass instead."""
    if name := re.fullmatch(r"models:/([^/@]+)/?", model_uri):  # what models:/NAME means is MLflow's guess
        return (f"{model_uri} names no version of {name.group(1)!r}. Fix: pass models:/{name.group(1)}@champion "
                f"(an alias) or models:/{name.group(1)}/1 (a version)")
    if run := re.fullmatch(r"runs:/([0-9a-f]+)/(.+)", model_uri):
        return (f"textclf logs a run's model at runs:/{run.group(1)}/model, not at {run.group(2)!r}. Fix: pass "
                f"runs:/{run.group(1)}/model, or --no-verify to load another path unchecked")
    return f"cannot verify {model_uri}: only registered versions and runs record a model's digest. {UNVERIFIABLE}"


def _registered_names(client, named) -> str:
    """When a registered model was not found by name: the names the store does hold."""
    from mlflow.exceptions import MlflowException

    if named is None:
        return ""
    try:
        names = sorted(model.name for model in client.search_registered_models(max_results=100)
                       if LOCK_SUFFIX not in model.name)
    except MlflowException:
        return ""
    if named.group(1) in names:  # the model is there: its alias or version is not
        return ""
    return f"; registered here: {', '.join(names[:10])}" if names else "; none is registered here"


def _what_changed(run_id: str, found: dict[str, str]) -> str:
    try:
        recorded = mlflow.artifacts.load_dict(f"runs:/{run_id}/{MANIFEST_ARTIFACT}")["files"]
    except Exception:  # noqa: BLE001 - the manifest itself may be gone or changed; the digest already said no
        return "its files differ from the recorded digest"
    changed = changed_files(recorded, found)
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return f"changed since: {shown}" if changed else "its files differ from the recorded digest"
