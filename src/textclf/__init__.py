"""textclf: train text classifiers from configuration, tracked and registered in MLflow.

Heavy libraries (mlflow, torch, transformers, datasets) are imported lazily by the modules that
use them, so ``import textclf`` and ``textclf --help`` stay fast.
"""

import contextlib
import sys

from textclf.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "load_model", "run", "tag_articles", "train", "__version__"]


def run(cfg, overrides=()):
    """Train, evaluate, track and register one model from a Hydra config; see ``textclf.training``."""
    from textclf.imports import heavy_imports
    from textclf.models.data_parallel import launched_ranks
    from textclf.tracking.channel import worker_started_ahead

    # In a fresh process the tracking worker imports MLflow while this one imports what training
    # needs and reads the data, instead of after: a small run ends seconds sooner on two cores.
    # Those imports are set aside once, on the process's first run (``textclf.imports``).
    first = "textclf.training" not in sys.modules
    fresh = first and launched_ranks().main
    with worker_started_ahead() if fresh else contextlib.nullcontext():
        with heavy_imports() if first else contextlib.nullcontext():
            from textclf.training import run as _run

        return _run(cfg, overrides)  # within the block: the run takes the worker started ahead


def train(overrides=(), project=None):
    """Train as ``python train.py OVERRIDES`` does, from a script or notebook; return the metrics.
    See ``textclf.project.train``."""
    from textclf.project import train as _train

    return _train(overrides, project)


def load_model(model_uri: str = "models:/diplomacy-topics@champion", tracking_uri: str | None = None,
               verify: bool = True):
    """Load a saved model as an MLflow pyfunc model, checking first (``verify``) that its files are
    those recorded when it was logged; see ``textclf.tracking.runs.load_model``.

    The store is ``tracking_uri``, else ``MLFLOW_TRACKING_URI``, else the ``mlflow.db`` of the
    textclf project folder this process runs in (``textclf.tracking.discovery``); none is created.
    """
    from textclf.tracking.discovery import find_tracking_uri
    from textclf.tracking.runs import load_model as _load

    return _load(model_uri, find_tracking_uri(tracking_uri, how_to_pass="tracking_uri=URI"), verify)


def tag_articles(texts, model_uri: str = "models:/diplomacy-topics@champion", tracking_uri: str | None = None,
                 unit: str = "sentence", boilerplate_label: str | None = "broadcast_boilerplate", ids=None,
                 verify: bool = True, explain: bool = False, markdown: bool = False,
                 html: bool = False) -> list[dict]:
    """Split whole articles into passages, tag each passage with a registered model and roll up
    each article's topics, as ``textclf predict --article`` does; see ``textclf.articles.tag``.

    Returns one dict per text: ``{"article": id, "passages": [{"index", "start", "end", "text",
    "label" (multi-label: "labels"), "prob_<label>"...}], "topics": [{"label", "share", "mean_prob",
    "passages"}]}``, ids from ``ids``, else 0, 1, ... ``unit``: sentence, line or paragraph. With
    ``explain``, each passage also has ``explanation``: for each of its labels, the words and
    phrases that pushed it there, with signed weights (``textclf.serving.explain``). With
    ``markdown``, the model reads each passage without its Markdown markup, with ``html`` what a
    browser shows of an HTML page (offsets still index the text as given). Passages labelled only ``boilerplate_label`` are left out of the topics (None:
    none is). The store is found as by ``load_model``.
    """
    from textclf.articles.tag import tag_articles as _tag

    return _tag(texts, model_uri, tracking_uri, unit, boilerplate_label, ids, verify, explain, markdown, html)
