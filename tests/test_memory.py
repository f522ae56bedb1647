"""``release_freed_memory`` hands memory that Python freed back to the system (on glibc), so a
training process's peak is not what it dropped plus what it allocates next; ``large_buffers_reused``
keeps a large block that is freed and allocated again, step after step, in the heap."""

import ctypes
import resource
import threading
from pathlib import Path

import pytest

from textclf import memory


def resident_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


@pytest.mark.skipif(memory._GLIBC is None, reason="needs glibc's malloc_trim")
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


def page_faults_of(steps: int) -> int:
    """Minor page faults while a step allocates, fills and frees 48 MB with glibc's malloc, as
    torch's CPU allocator does for fine-tuning's embedding gradient (numpy is no model: it asks
    for huge pages)."""
    libc = ctypes.CDLL(None)
    libc.malloc.argtypes, libc.malloc.restype = [ctypes.c_size_t], ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    size = 48 << 20  # above glibc's largest mmap threshold of 32 MB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        gradient = libc.malloc(size)
        ctypes.memset(gradient, 1, size)
        libc.free(gradient)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(memory._GLIBC is None, reason="needs glibc's mallopt")
def test_a_large_buffer_freed_each_step_is_reused_and_handed_back_after():
    pages = (48 << 20) // resource.getpagesize()
    assert page_faults_of(4) > 3 * pages, "outside the block each step maps fresh pages: the test shows nothing"
    with memory.large_buffers_reused(64 << 20):
        first_step = page_faults_of(1)
        next_steps = page_faults_of(4)
        held = resident_mb()
    assert first_step > pages / 2  # the first step's block is new
    assert next_steps < pages / 4, f"{next_steps} page faults in 4 steps: the block was not reused"
    assert resident_mb() < held - 40, "the kept block was not handed back after the block"


@pytest.mark.skipif(memory._GLIBC is None, reason="needs glibc's mallopt")
def test_a_model_tuned_on_the_cpu_reuses_its_largest_gradient_and_one_elsewhere_is_left_alone():
    torch = pytest.importorskip("torch")
    from textclf.models.encoders import gradients_reused

    pages = (48 << 20) // resource.getpagesize()
    on_cpu = torch.nn.Embedding(12_800, 1024)  # a 52 MB weight, like MiniLM's 47 MB word embeddings
    with gradients_reused(on_cpu):
        page_faults_of(1)
        assert page_faults_of(4) < pages / 4, "a 48 MB block was not reused while a CPU model tunes"
    elsewhere = torch.nn.Embedding(12_800, 1024, device="meta")  # no memory of the CPU's
    with gradients_reused(elsewhere):
        assert page_faults_of(4) > 3 * pages, "glibc's thresholds changed for a model off the CPU"
