"""``TrainConfig``: every optimisation setting of a run, validated at construction.

Kept free of torch so that the command line reads its defaults without importing it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .._errors import ValidationError
from ..models import DEVICE_PATTERN, check_range, check_types, from_dict

__all__ = ["FINETUNE_CONFIG", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (saved in checkpoints and ``config.json``).

    Attributes
    ----------
    max_steps
        Optimizer steps to run in total (a resumed run continues up to this).
    batch_size
        Cells per micro-batch and process; the effective batch is
        ``batch_size * grad_accum * world_size``.
    grad_accum
        Micro-batches accumulated per optimizer step.
    lr, min_lr_ratio, warmup_steps
        Peak learning rate; linear warm-up over ``warmup_steps`` then cosine decay to
        ``lr * min_lr_ratio`` at ``max_steps``.
    weight_decay, beta1, beta2
        AdamW parameters (weight decay on matrices only, not biases / norms).
    clip_norm
        Maximum global gradient norm (0 = no clipping).
    seed
        Seed of data order, masking and dropout.
    chunk_size
        Rows read from disk at once when streaming.
    checkpoint_every
        Save a resumable checkpoint every N steps (0 = not by step count).
    checkpoint_minutes
        Also save one when this many minutes passed since the last (0 = not by time).
        Either way a checkpoint is saved at the end and on SIGINT / SIGTERM.
    keep_checkpoints
        How many recent checkpoints to keep.
    amp
        bf16 autocast when training on CUDA (ignored on CPU).
    device
        ``auto`` (GPU of this rank if available, else CPU), ``cpu`` or ``cuda[:i]``.
    """

    max_steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.98
    clip_norm: float = 1.0
    seed: int = 0
    chunk_size: int = 1024
    checkpoint_every: int = 500
    checkpoint_minutes: float = 10.0
    keep_checkpoints: int = 2
    amp: bool = True
    device: str = "auto"

    #: Fields that may change between a run and its resumption without being reported.
    BOOKKEEPING: ClassVar[tuple[str, ...]] = (
        "checkpoint_every",
        "checkpoint_minutes",
        "keep_checkpoints",
        "device",
    )

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("max_steps", "batch_size", "grad_accum", "chunk_size", "keep_checkpoints"):
            check_range(self, name, low=1)
        for name in ("warmup_steps", "seed", "checkpoint_every"):
            check_range(self, name, low=0)
        check_range(self, "lr", low=0, low_open=True)
        check_range(self, "min_lr_ratio", low=0, high=1)
        for name in ("weight_decay", "clip_norm", "checkpoint_minutes"):
            check_range(self, name, low=0)
        for name in ("beta1", "beta2"):
            check_range(self, name, low=0, high=1, high_open=True)
        if not DEVICE_PATTERN.match(self.device.strip().lower()):
            raise ValidationError(
                f"TrainConfig.device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def run_settings(self) -> dict[str, Any]:
        """The fields that define a run (all but :attr:`BOOKKEEPING`)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.BOOKKEEPING}

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """From JSON; unknown keys are refused (naming them)."""
        return from_dict(cls, data)


#: Default optimisation of :func:`~virtualcell.train.finetune` (fewer steps and a lower
#: learning rate than pretraining); ``FINETUNE_CONFIG.replace(max_steps=...)`` changes it.
FINETUNE_CONFIG = TrainConfig(max_steps=200, lr=3e-4, warmup_steps=20)
