"""Distributed data parallel set-up: the same code runs 1 process, gloo CPU or NCCL GPUs.

Launch with ``torchrun --nproc_per_node N -m virtualcell.cli pretrain ...`` (or any
launcher that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``); a process
group created beforehand (e.g. by ``torch.multiprocessing.spawn``) is used as is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["DistInfo", "all_ranks_max", "barrier", "init_distributed", "resolve_device"]


@dataclass(frozen=True)
class DistInfo:
    """Rank of this process, number of processes and local (per-node) rank."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join (or create from the environment) the process group; single process otherwise.

    The backend is NCCL when CUDA is available, gloo otherwise.

    Parameters
    ----------
    backend
        ``torch.distributed`` backend (``"nccl"``, ``"gloo"``); ``None``: chosen as above.
        Only used when ``WORLD_SIZE`` > 1 and no group exists yet.

    Returns
    -------
    DistInfo
        This process's ``rank``, ``world_size`` and ``local_rank`` (0, 1, 0 when single).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
        )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def resolve_device(name: str, info: DistInfo) -> torch.device:
    """``auto`` -> this rank's GPU when CUDA is available, else CPU; a device this machine
    does not have is a :class:`~virtualcell.ValidationError`."""
    from ..models import resolve_device as resolve

    return resolve(name, local_rank=info.local_rank)


def all_ranks_max(info: DistInfo, device: torch.device, *flags: bool) -> tuple[bool, ...]:
    """Each flag OR-ed over all processes (so every rank takes the same decision)."""
    if info.world_size == 1:
        return tuple(bool(f) for f in flags)
    import torch.distributed as dist

    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()
