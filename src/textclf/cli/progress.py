"""A progress bar for ``textclf predict`` on a long input.

Shown on standard error when it is a terminal and the predictions go to a file (rows on the
terminal already show how far it got, and a bar would be drawn among them), and only once the
work has taken ``SHOW_AFTER_SECONDS``: a quick run, a pipe or a test sees nothing. tqdm is imported
only to be shown (a fresh ``textclf predict`` starts faster without it).
"""

from __future__ import annotations

import sys

SHOW_AFTER_SECONDS = 1.0


class _Silent:
    """A bar that shows nothing."""

    total: int | None = None

    def update(self, count: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def tagging_progress(output: str, total: int | None = None, unit: str = "text"):
    """A context manager with ``update(count)``: the bar of ``count``s of ``unit``s tagged (out of
    ``total``, when known; its ``total`` may also be set once known, before the first update) for
    predictions written to ``output`` (not drawn over predictions written to the terminal)."""
    from textclf.cli.output import STANDARD_STREAMS

    if output in STANDARD_STREAMS or not sys.stderr.isatty():
        return _Silent()
    from tqdm import tqdm

    return tqdm(total=total, unit=f" {unit}s", desc="tagged", delay=SHOW_AFTER_SECONDS, file=sys.stderr)
