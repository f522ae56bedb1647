"""textclf: train text classifiers from configuration, tracked and registered in MLflow.

Heavy libraries (mlflow, torch, transformers, datasets) are imported lazily by the modules that
use them, so ``import textclf`` and ``textclf --help`` stay fast.
"""

from textclf.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "run", "__version__"]


def run(cfg):
    """Train, evaluate, track and register one model from a Hydra config; see ``textclf.training``."""
    from textclf.training import run as _run

    return _run(cfg)
