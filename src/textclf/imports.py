"""A fresh process's heavy imports, kept out of the way of Python's cyclic garbage collector.

Importing MLflow, or scikit-learn and Hydra, makes a few hundred thousand objects (modules, classes,
functions) that live as long as the process. The collector runs after every 700 new container
objects, and every so often a full pass walks every object there is: it ran 436 times while a
tracking worker imported MLflow; with the sqlite store's modules imported too, one pass found 2,900
objects to free among 285,000, and every full pass of the run that followed walked all of them.

So the processes that are textclf's own (train.py, the tracking worker and its fork server) say so
first (``own_this_process``); there ``heavy_imports`` pauses the collector for the imports and then
sets aside every object alive at that moment (``gc.freeze``): the collector never walks them again.
They are still freed when nothing refers to them; only a reference cycle among them is kept for the
life of the process, as are the few cycles the imports left (the 2,900 objects above). A quick run
on the seed corpus took 18% less time and 16% less CPU (benchmarks/RESULTS.md, "December 6, later").
Elsewhere (``textclf.train`` called in a notebook, whose objects are not ours to set aside for good)
the collector is only paused for the imports.
"""

from __future__ import annotations

import contextlib
import gc

_own_process = False


def own_this_process() -> None:
    """Called first by the entry points that own their process (train.py, the tracking worker and
    its fork server): after ``heavy_imports`` there, every object then alive is set aside."""
    global _own_process
    _own_process = True


@contextlib.contextmanager
def heavy_imports():
    """Run the body (imports, or opening a store, which imports its database layer) with the cyclic
    collector paused; then, in a process of textclf's own, set aside every object that exists."""
    if not gc.isenabled():  # paused already (nested), or turned off by the caller: leave it so
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if _own_process:
            gc.freeze()
        gc.enable()
