"""What the text models' trainers share: the optimisation settings and the training record."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ValidationError
from ..train import TrainConfig

__all__ = ["resolve_train_config", "training_record"]


def resolve_train_config(train_config: Any, default: TrainConfig, seed: int) -> TrainConfig:
    """``train_config`` (``None``: ``default``) checked, with its seed set to ``seed``."""
    tc = default if train_config is None else train_config
    if not isinstance(tc, TrainConfig):
        raise ValidationError(f"train_config must be a TrainConfig, got {type(tc).__name__}")
    return tc if tc.seed == seed else tc.replace(seed=seed)


def training_record(run: dict[str, Any], tc: TrainConfig, result: Any) -> dict[str, Any]:
    """``run`` plus the settings, steps, wall time and final loss (mean of the last 10
    logged losses) of a :func:`virtualcell.train.train` result."""
    losses = [h["loss"] for h in result.history if "loss" in h]
    return {
        **run,
        "train_config": tc.to_dict(),
        "steps": result.steps,
        "wall_time_s": round(result.wall_time_s, 3),
        "final_loss": float(np.mean(losses[-10:])) if losses else None,
    }
