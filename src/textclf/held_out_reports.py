"""Held-out scores reported while training runs: each epoch's, each cross-validation fold's.

A model that trains in epochs (``models.finetune``) and cross-validation (``evaluation.crossval``)
call ``report(kind, step, value)`` as each score is known. Nobody listens in a plain run; a
hyperparameter-search trial listens (``search.trial``) and may stop the run there, which is how
Optuna's pruner ends a bad trial early. A module-level list rather than a context variable: the
fit runs on a thread of its own (``models.fitting``), which would not see this thread's context.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

Listener = Callable[[str, int, float], None]
_listeners: list[Listener] = []


def report(kind: str, step: int, value: float) -> None:
    """Tell every listener the held-out ``value`` at ``step`` (``kind``: "epoch" or "fold").
    A listener may raise (``errors.Pruned``) to stop the training that reported."""
    for listener in list(_listeners):
        listener(kind, step, value)


@contextlib.contextmanager
def listening(listener: Listener | None):
    """Call ``listener`` with every report made inside this block (nothing if it is None)."""
    if listener is None:
        yield
        return
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
