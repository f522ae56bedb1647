"""``release_freed_memory``: give memory that Python freed back to the system, on glibc.

Counting a large corpus's terms builds and drops hundreds of MB: a vocabulary of every n-gram, the
forked child's answer (``tfidf.counted_on_two_cores``), scikit-learn's pruned copy. glibc keeps
most of what is freed mapped for reuse, in one heap per thread that allocated it, and what is
allocated next (the classifier's copy of the matrix, its weights, the other splits' features, the
saved model's arrays) does not all land in those holes, so the process's peak grows by what it had
already dropped. ``malloc_trim(0)`` returns the free pages; it takes milliseconds. Elsewhere
(macOS, musl, Windows) it does nothing. So a run calls it where it drops something large: the
tables its data was parsed from, the counted terms, the classifier's working copies, a split's
features once predicted, the model's encoding once saved. Measured in benchmarks/RESULTS.md
(November 30, evening; December 5).
"""

from __future__ import annotations

import ctypes


def release_freed_memory() -> None:
    """Return freed heap memory to the system (glibc's ``malloc_trim``; a no-op without glibc)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _find_malloc_trim():
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this Python runs on
    except (OSError, AttributeError, TypeError):  # not glibc (TypeError: Windows' ctypes): nothing to trim
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _find_malloc_trim()
