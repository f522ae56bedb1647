"""How many threads NumPy's and SciPy's OpenBLAS may use while a run fits and predicts.

OpenBLAS starts one thread per core. The linear models fit here call it on small pieces of work:
L-BFGS updates a vector of n_features x n_classes values a few hundred times, and the threads
spend longer waking and waiting than working. On 2 cores, LogisticRegression as tfidf_logreg
configures it took 1.2-1.6 s to fit the seed corpus with one thread and 2.5-3.1 s with two (over
three times the CPU); on 20 Newsgroups the fit took as long either way (108-116 s) and two threads
burned 45% more CPU. Only vectors of tens of millions of values (every word 1-2-gram of 20
Newsgroups: a million features x 20 classes) may gain from a second thread, and there two rounds
measured one thread 1.14x and 0.99x the time of two. Threaded sums also round in a different order (the coefficients differ in
their 13th digit), so one thread gives the same model on any machine. experiments/speed.md has
the numbers. torch's BLAS (MKL, for the MiniLM models) is not OpenBLAS: ``threads`` sets it.
"""

from __future__ import annotations

from contextlib import contextmanager
from numbers import Integral

from textclf.errors import UserError


def check_blas_threads(threads) -> None:
    """``blas_threads`` is a whole number of 1 or more, or None."""
    if threads is not None and (not isinstance(threads, Integral) or isinstance(threads, bool) or threads < 1):
        raise UserError(f"blas_threads must be a whole number of 1 or more, or null (one per core), got {threads!r}. "
                        "Fix: pass blas_threads=1")


@contextmanager
def blas_threads(threads: int | None):
    """OpenBLAS uses at most ``threads`` threads inside (None: its own default, one per core), and
    what it used before once out."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    with threadpool_limits(limits=int(threads), user_api="blas"):
        yield
