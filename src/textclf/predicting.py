"""A registered model loaded to tag texts, and asked for its answer: what ``textclf predict``
(texts and ``--article``), ``textclf suggest`` and ``textclf.tag_articles`` share.

A model textclf saved answers a frame of texts with ``label`` (multi-label: ``labels``, a list)
and one ``prob_<class>`` column per class (``serving.tagging``); asked with ``{"explain": true}``,
an ``explanation`` column too (``serving.explain``).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from textclf.errors import UserError

PROBABILITY_PREFIX = "prob_"  # a model's one column per class
EXPLANATION_COLUMN = "explanation"  # with params {"explain": true}
# A registered model's name, alone or with an alias or a version: what a models:/ URI names.
REGISTERED_FORM = re.compile(r"[\w.-]+(@[\w-]+|/\d+)?")


def load_for_predicting(model_uri: str, tracking_uri: str, verify: bool):
    """The model at ``model_uri``. A registered version in a local sqlite store loads without
    importing MLflow (the cold start users feel); anything else, or anything unusual about it,
    takes MLflow's path."""
    check_model_uri(model_uri)
    from textclf.tracking.local_registry import load_registered_locally

    model = load_registered_locally(model_uri, tracking_uri) if verify else None
    if model is None:
        from textclf.tracking.runs import load_model

        model = load_model(model_uri, tracking_uri, verify=verify)
    return model


def logged_by(model) -> str | None:
    """The id of the run that logged a model ``load_for_predicting`` loaded (None: a saved folder
    that never was in a run). A page or table kept for later names it: an alias moves on."""
    from textclf.tracking.local_registry import LocallyLoadedModel

    return model.run_id if isinstance(model, LocallyLoadedModel) else model.metadata.run_id


def check_model_uri(model_uri: str) -> None:
    """Accept a URI (``models:/``, ``runs:/``, ``file://``...: a scheme of two letters or more)
    or a folder that exists; refuse anything else, naming the URI it most likely meant (a
    registered model's name alone, or ``NAME@ALIAS``, ``NAME/VERSION``)."""
    if len(urlsplit(model_uri).scheme) > 1 or (model_uri and Path(model_uri).is_dir()):
        return
    if model_uri and Path(model_uri).exists():
        raise UserError(f"model {model_uri!r} is a file, not the folder of a saved model. Fix: give its folder, "
                        "or a registered model as models:/NAME@champion")
    if REGISTERED_FORM.fullmatch(model_uri):  # a registered model, named without models:/
        meant = f"models:/{model_uri}" if {"@", "/"} & set(model_uri) else f"models:/{model_uri}@champion"
        raise UserError(f"model {model_uri!r} is neither a model URI nor a folder here. Fix: pass {meant}")
    raise UserError(f"model {model_uri!r} is neither a model URI nor a folder here (no such folder). Fix: give "
                    "the folder of a saved model, or a registered one as models:/NAME@champion")


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
