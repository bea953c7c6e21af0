"""Multi-process training on PyTorch's own engine: torchrun + DistributedDataParallel.

    torchrun --nproc_per_node 2 -m kdistill run quick        # or: kdistill run quick --nproc 2

Each process reads its rank from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).
The backend is nccl when CUDA is available (one GPU per process, ``cuda:LOCAL_RANK``), gloo on CPU. Without those
variables nothing is initialised and every helper here is a no-op for a single process (world size 1).
See docs/distributed.md for multi-GPU and multi-node use.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def context() -> DistributedContext:
    """This process's rank, world size and device (a single-process context when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistributedContext()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local_rank}" if dist.get_backend() == "nccl" else "cpu"
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, device)


def init_from_env() -> DistributedContext:
    """Join the process group torchrun describes in the environment (no-op when WORLD_SIZE is unset or 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    ctx = context()
    if not ctx.is_main:  # rank 0 alone logs; other ranks still report warnings and errors
        logging.getLogger("kdistill").setLevel(logging.WARNING)
    return ctx


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (e.g. the run directory, whose name contains a timestamp)."""
    if not is_distributed():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def all_reduce_sum(values: Sequence[float], device: str | torch.device = "cpu") -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64, so counts stay exact)."""
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def wrap_student(student: nn.Module, device: str | torch.device) -> nn.Module:
    """DistributedDataParallel around the student when distributed, else the student itself."""
    if not is_distributed():
        return student
    device_ids = [torch.device(device).index] if torch.device(device).type == "cuda" else None
    return nn.parallel.DistributedDataParallel(student, device_ids=device_ids)


def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """All-reduce-mean the gradients of parameters DDP does not own (a strategy's connector layers)."""
    if not is_distributed():
        return
    world_size = dist.get_world_size()
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad.div_(world_size)


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m kdistill ARGV`` in ``nproc`` processes via torchrun on this machine; return its exit code."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "kdistill", *argv]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.call(command, env=env)


def all_reduce_running(running: Any, device: str | torch.device = "cpu") -> None:
    """Sum a :class:`~kdistill.training.running.RunningMeans` over ranks in place, so its means are global."""
    if not is_distributed():
        return
    names = sorted(running.sums)
    totals = all_reduce_sum([running.sums[n] for n in names] + [running.samples, running.correct, running.labelled],
                            device)
    running.sums = dict(zip(names, totals[: len(names)]))
    running.samples, running.correct, running.labelled = (int(round(v)) for v in totals[len(names):])
