"""textclf: train text classifiers from configuration, tracked and registered in MLflow.

Heavy libraries (mlflow, torch, transformers, datasets) are imported lazily by the modules that
use them, so ``import textclf`` and ``textclf --help`` stay fast.
"""

from textclf.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "load_model", "run", "train", "__version__"]


def run(cfg, overrides=()):
    """Train, evaluate, track and register one model from a Hydra config; see ``textclf.training``."""
    from textclf.training import run as _run

    return _run(cfg, overrides)


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
