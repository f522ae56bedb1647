"""Data-parallel fine-tuning under ``torchrun``, and the device a tuning runs on.

``torchrun --nproc_per_node N train.py model=minilm_finetune`` starts N copies of ``train.py``
and tells each its place in ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``. Every copy reads the
data and builds the model; the estimator splits each batch between them (``shard``) and averages
their gradients (torch's ``DistributedDataParallel``, gloo on CPUs, NCCL on GPUs), so each step
sees the same batch and loss as one process would (``targets.BatchLoss``). Only rank 0 tracks
and registers (``textclf.training``). torch is imported only inside the functions that use it:
``training`` asks ``launched_ranks()`` before any model library is loaded.
"""

from __future__ import annotations

import atexit
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass

from textclf.errors import UserError
from textclf.models import steps_of

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes training one model together."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        """The process that reports: progress bars, tracking, registration."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1



def launched_ranks() -> Ranks:
    """Where ``torchrun`` (or any launcher setting the same variables) put this process."""
    try:
        return Ranks(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                     int(os.environ.get("WORLD_SIZE", 1)))
    except ValueError:
        raise UserError("RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers. "
                        "Fix: start data-parallel training with torchrun, or unset them") from None


def trains_data_parallel(estimator) -> bool:
    """Whether ``estimator`` (or a step of its pipeline) shares one training among torchrun's processes."""
    return any(getattr(step, "trains_data_parallel", False) for step in steps_of(estimator))


def run_tags(estimator) -> dict[str, str]:
    """For the run: how many processes shared its training (their float sums differ a little from
    one's); nothing when one process trained it, under torchrun or not."""
    ranks = launched_ranks()
    if ranks.distributed and trains_data_parallel(estimator):
        return {"data_parallel.world_size": str(ranks.world_size)}
    return {}


def say_if_trained_alone(estimator, model_name: str) -> None:
    """Under torchrun, a model that cannot share its training is trained by rank 0 alone (the other
    processes end at once, ``training.train_alongside``): rank 0 says so rather than the model
    being trained N times over, or torchrun's failure report for a refusal."""
    ranks = launched_ranks()
    if ranks.distributed and ranks.main and not trains_data_parallel(estimator):
        print(f"model={model_name} does not train data-parallel: this process trains it alone and the other "
              f"{ranks.world_size - 1} torchrun process(es) end. (model=minilm_finetune trains data-parallel)")


def training_device(device: str, ranks: Ranks, setting: str = "model.estimator.device") -> str:
    """``auto``: the GPU when torch sees one (each torchrun process its own, by local rank), else the
    CPU. ``setting``: the config key a refusal names."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{setting}=cuda, but torch sees no GPU (a CPU-only torch build, or no driver). "
                            f"Fix: set {setting}=auto or cpu")
        if ranks.local_rank >= torch.cuda.device_count():  # NCCL refuses two processes on one GPU
            raise UserError(f"torchrun started more processes on this machine than it has GPUs "
                            f"({torch.cuda.device_count()}). Fix: set --nproc_per_node to at most that")
        return f"cuda:{ranks.local_rank}"
    return "cpu"


def use_device(device: str) -> None:
    """Make ``device`` this thread's GPU: each fit runs on a thread of its own (``models.fitting``)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.set_device(device)


def join_process_group(ranks: Ranks, device: str) -> None:
    """Connect to the other torchrun processes once per process (a cross-validated run fits again)."""
    import torch.distributed as dist

    use_device(device)
    if ranks.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        # Left to the interpreter's teardown, the group's threads can abort the process as it exits
        # ("terminate called without an active exception").
        atexit.register(dist.destroy_process_group)


def wrap(model, ranks: Ranks, device: str):
    """The module a training step calls: ``model`` itself in one process, else a
    ``DistributedDataParallel`` around it, which averages the gradients of all processes."""
    if not ranks.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device] if device.startswith("cuda") else None)


def shard(batch_rows, ranks: Ranks):
    """The rows of a batch this process computes, and their weight in the loss (1, or 0): every
    process must run each step, so one left without rows (a batch smaller than the world) computes
    the batch's first row and counts it zero times."""
    mine = batch_rows[ranks.rank::ranks.world_size]
    return (mine, 1.0) if len(mine) else (batch_rows[:1], 0.0)


def all_reduce_sum(value: float, ranks: Ranks, device: str) -> float:
    """``value`` added up over the processes (a step's loss, from each process's share)."""
    if not ranks.distributed:
        return value
    import torch
    import torch.distributed as dist

    total = torch.tensor([value], dtype=torch.float64, device=device)  # NCCL reduces GPU tensors only
    dist.all_reduce(total)
    return float(total.item())


def broadcast_from_rank_0(value: float, ranks: Ranks, device: str) -> float:
    """Rank 0's ``value`` in every process, so all of them take the same early-stopping decision."""
    if not ranks.distributed:
        return value
    import torch
    import torch.distributed as dist

    held = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(held, src=0)
    return float(held.item())


@contextmanager
def peers_lost_as_interrupt(ranks: Ranks):
    """When another process dies, the next exchange with it fails here (gloo: "Connection reset by
    peer") and torchrun is about to stop this process too (SIGTERM): end the fit as that signal
    would, so the run ends KILLED whichever comes first, instead of FAILED with a traceback."""
    import torch.distributed as dist

    try:
        yield
    except RuntimeError as error:  # gloo raises a plain RuntimeError naming the lost connection
        lost = isinstance(error, dist.DistNetworkError) or re.search(r"(reset|closed) by peer|Broken pipe", str(error))
        if not (ranks.distributed and lost):
            raise
        raise KeyboardInterrupt("another torchrun process stopped during training") from error
