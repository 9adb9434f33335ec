"""Training on several processes: one per device, started by ``torchrun``.

``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; without them ganplug
trains in one process and none of this does anything. Processes talk over NCCL on CUDA and gloo
on the CPU. Every process draws the same global batch of indices from the shared data sampler
and trains on its own slice of it; gradients are averaged by DistributedDataParallel, so all
ranks hold the same weights. Rank 0 alone writes files and prints.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over all processes, in place; returns it."""
        if self.enabled:
            dist.all_reduce(t)
        return t

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out


def init(device_type: str) -> Dist:
    """Join the process group torchrun describes in the environment, if it describes one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(d.local_rank)
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return d


def shutdown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def weights_digest(*modules: nn.Module) -> str:
    """SHA-256 of the parameters of ``modules`` (names, shapes and exact bytes), to compare ranks.
    Buffers are left out: batch-norm statistics and w_avg follow each rank's own slice of the batch."""
    h = hashlib.sha256()
    for i, m in enumerate(modules):
        for name, p in m.named_parameters():
            t = p.detach().to("cpu", torch.float32).contiguous()
            h.update(f"{i}.{name}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()
