"""``release_freed_memory`` hands memory that Python freed back to the system (on glibc), so a
training process's peak is not what it dropped plus what it allocates next."""

import threading
from pathlib import Path

import pytest

from textclf import memory


def resident_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


@pytest.mark.skipif(memory._MALLOC_TRIM is None, reason="needs glibc's malloc_trim")
def test_memory_freed_on_another_thread_goes_back_to_the_system():
    # What counting terms on the fit thread leaves: many mid-sized objects, built and dropped on a
    # thread (its own glibc heap), with a few survivors among them that keep the heap from shrinking
    # on its own.
    def build_and_drop(survivors: list) -> None:
        dropped = [bytes(700) for _ in range(150_000)]  # about 110 MB
        survivors.extend(dropped[::5000])
        del dropped

    survivors: list = []
    # Memory an earlier test freed on a thread would be reused by this one's thread (glibc hands a
    # new thread the heap of one that ended): trimmed first, the build below needs fresh pages.
    memory.release_freed_memory()
    before = resident_mb()
    thread = threading.Thread(target=build_and_drop, args=(survivors,))
    thread.start()
    thread.join()
    held = resident_mb() - before
    memory.release_freed_memory()
    kept = resident_mb() - before
    assert held > 60, f"the freed memory was returned without a trim ({held:.0f} MB held): the test shows nothing"
    assert kept < held / 3, f"{held:.0f} MB held after freeing, {kept:.0f} MB after the trim"
