"""textclf: train text classifiers from configuration, tracked and registered in MLflow.

Heavy libraries (mlflow, torch, transformers, datasets) are imported lazily by the modules that
use them, so ``import textclf`` and ``textclf --help`` stay fast.
"""

from textclf.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "load_model", "run", "__version__"]


def run(cfg):
    """Train, evaluate, track and register one model from a Hydra config; see ``textclf.training``."""
    from textclf.training import run as _run

    return _run(cfg)


def load_model(model_uri: str = "models:/diplomacy-topics@champion", tracking_uri: str | None = None,
               verify: bool = True):
    """Load a saved model as an MLflow pyfunc model, checking first (``verify``) that its files are
    those recorded when it was logged; see ``textclf.tracking.runs.load_model``."""
    import os

    from textclf.tracking.runs import load_model as _load

    return _load(model_uri, tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db", verify)
