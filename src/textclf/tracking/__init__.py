"""Tracking: MLflow runs, models, the registry and the champion rule.

``store`` has no MLflow import (store kind, reachability, locks, the ``Registration`` record) and
is what both sides use; ``tracker`` is the one module that talks to MLflow during training, and
``background`` runs it in a worker process (``worker``) beside the training; ``champion`` is the
promotion rule; ``runs`` answers ``textclf compare`` and loads models for ``textclf predict``;
``sweep`` gives a Hydra multirun its parent run.
"""
