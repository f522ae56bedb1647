"""glibc's heap, tuned where textclf allocates and frees large buffers.

``release_freed_memory``: counting a large corpus's terms builds and drops hundreds of MB: a
vocabulary of every n-gram, the forked child's answer (``tfidf.counted_on_two_cores``),
scikit-learn's pruned copy. glibc keeps most of what is freed mapped for reuse, in one heap per
thread that allocated it, and what is allocated next (the classifier's copy of the matrix, its
weights, the other splits' features, the saved model's arrays) does not all land in those holes, so
the process's peak grows by what it had already dropped. ``malloc_trim(0)`` returns the free pages;
it takes milliseconds. So a run calls it where it drops something large: the tables its data was
parsed from, the counted terms, the classifier's working copies, a split's features once
predicted, the model's encoding once saved. Measured in benchmarks/RESULTS.md (November 30,
evening; December 5).

``large_buffers_reused``: fine-tuning allocates and frees the same large buffers every step (the
word embeddings' dense gradient, 47 MB for MiniLM). glibc serves a block above its mmap threshold
(at most 32 MB) with fresh pages from the kernel and unmaps it when freed, so each step faults in
and zeroes 47 MB again. Raised thresholds keep such blocks in the heap for the next step.
Measured in benchmarks/RESULTS.md (December 6).

Elsewhere (macOS, musl, Windows) both do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# Once set, glibc stops adapting its thresholds; afterwards they stay at the most its own adapting
# reaches on 64-bit: blocks up to 32 MB reused, up to 64 MB of free heap top kept.
_ADAPTED_MMAP_THRESHOLD, _ADAPTED_TRIM_THRESHOLD = 32 << 20, 64 << 20


def release_freed_memory() -> None:
    """Return freed heap memory to the system (glibc's ``malloc_trim``; a no-op without glibc)."""
    if _GLIBC is not None:
        _GLIBC.malloc_trim(0)


@contextlib.contextmanager
def large_buffers_reused(largest_bytes: int):
    """Within the block, freed blocks up to ``largest_bytes`` stay in the heap for reuse instead of
    going back to the kernel; after it, what was kept is returned."""
    if _GLIBC is None:
        yield
        return
    _GLIBC.mallopt(_M_MMAP_THRESHOLD, min(largest_bytes, 1 << 30))
    _GLIBC.mallopt(_M_TRIM_THRESHOLD, min(2 * largest_bytes, 1 << 30))
    try:
        yield
    finally:
        _GLIBC.mallopt(_M_MMAP_THRESHOLD, _ADAPTED_MMAP_THRESHOLD)
        _GLIBC.mallopt(_M_TRIM_THRESHOLD, _ADAPTED_TRIM_THRESHOLD)
        release_freed_memory()


def _find_glibc():
    try:
        glibc = ctypes.CDLL(None)  # the C library this Python runs on
        glibc.malloc_trim.argtypes, glibc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        glibc.mallopt.argtypes, glibc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError, TypeError):  # not glibc (TypeError: Windows' ctypes): nothing to tune
        return None
    return glibc


_GLIBC = _find_glibc()
