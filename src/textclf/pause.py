"""Named moments of a run where a fault test can stop it (tests/faults/).

``pause_at("fit")`` does nothing unless ``TEXTCLF_PAUSE_AT`` names that moment: then it writes
the moment and this process id to the file ``TEXTCLF_PAUSE_FILE`` and waits until the test
deletes that file (it has sent its signal) or ``PAUSE_SECONDS`` pass (``TEXTCLF_PAUSE_SECONDS``, if
set), then goes on as usual. The moments are the edges where
a fault is hardest to survive: before the run exists, inside the fit, while reports are logged,
between saving the model and logging it, between registering the model and ending the run, and
after the last step.
"""

from __future__ import annotations

import os
import time

MOMENTS = ("before_run", "fit", "reports", "save_model", "register", "after_register")  # a train.py run's
# (``textclf audit`` has one of its own, ``audit_report``: its report written, not yet in place; and the
# tracking worker ``end_run``: ending a run that training waits on, where a second Ctrl-C must wait too)
PAUSE_SECONDS = 30
_paused: set[str] = set()  # a moment a run passes more than once (reports: one per split) pauses the first time


def pause_at(moment: str) -> None:
    if os.environ.get("TEXTCLF_PAUSE_AT") != moment or moment in _paused:
        return
    _paused.add(moment)
    path = os.environ["TEXTCLF_PAUSE_FILE"]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{moment} {os.getpid()}\n")
    deadline = time.monotonic() + float(os.environ.get("TEXTCLF_PAUSE_SECONDS", PAUSE_SECONDS))
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
