"""How many threads NumPy's and SciPy's OpenBLAS may use while a run fits and predicts.

OpenBLAS starts one thread per core. The linear models fit here call it on small pieces of work:
L-BFGS updates a vector of n_features x n_classes values a few hundred times, and the threads
spend longer waking and waiting than working. On 2 cores, LogisticRegression as tfidf_logreg
configures it took 1.1-1.6 s to fit the seed corpus with one thread and 2.5-2.9 s with two (over
three times the CPU); on 20 Newsgroups (words in 2+ texts) the fit took as long either way
(108-116 s) and two threads burned 40% more CPU. Only vectors of tens of millions of values
(every word 1-2-gram of 20 Newsgroups: a million features x 20 classes) gain from a second
thread, and there one thread took about 6% longer (two rounds each). Threaded sums also round in
another order (the coefficients differ in their 13th digit): with one thread a model does not
depend on how many cores the machine has. experiments/speed.md has the numbers. torch's BLAS
(MKL, for the MiniLM models) is not OpenBLAS: ``threads`` sets it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from textclf.config import is_whole
from textclf.errors import UserError


def check_blas_threads(threads) -> None:
    """``blas_threads`` is None or a whole number from 1 to this machine's cores (more threads
    than cores only wait on each other; OpenBLAS would quietly cap or refuse them)."""
    cores = os.cpu_count() or 1
    if threads is not None and not (is_whole(threads) and 1 <= threads <= cores):
        raise UserError(f"blas_threads must be null (OpenBLAS's own setting) or a whole number from 1 to {cores} "
                        f"(this machine's cores), got {threads!r}. Fix: pass blas_threads=1")


@contextmanager
def blas_threads(threads: int | None):
    """OpenBLAS uses at most ``threads`` threads inside (None: leave it as it is), and what it
    used before once out."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
