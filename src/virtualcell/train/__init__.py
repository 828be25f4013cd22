"""Training: one loop for pretraining and fine-tuning (``vc.train``).

AdamW with warm-up + cosine schedule, gradient accumulation, clipping, bf16 autocast on
CUDA, checkpoints with exact resume, streaming from backed ``.h5ad`` / ``.zarr``, and
distributed data parallel (``torchrun``; gloo on CPU, NCCL on GPU). Objectives are small
strategy objects (:class:`MaskedTokenObjective`, :class:`MaskedValueObjective`,
:class:`NextTokenObjective`, :class:`ClassificationObjective`, :class:`RegressionObjective`).
"""

from ._data import CellBatches, DataPosition
from ._distributed import DistInfo, init_distributed
from ._loop import TrainConfig, TrainResult, lr_at, train
from ._objectives import (
    ClassificationObjective,
    MaskedTokenObjective,
    MaskedValueObjective,
    NextTokenObjective,
    Objective,
    RegressionObjective,
    make_objective,
)
from ._pretrain import default_model_config, make_tokenizer, pretrain
from ._source import CellSource

__all__ = [
    "CellBatches",
    "CellSource",
    "ClassificationObjective",
    "DataPosition",
    "DistInfo",
    "MaskedTokenObjective",
    "MaskedValueObjective",
    "NextTokenObjective",
    "Objective",
    "RegressionObjective",
    "TrainConfig",
    "TrainResult",
    "default_model_config",
    "init_distributed",
    "lr_at",
    "make_objective",
    "make_tokenizer",
    "pretrain",
    "train",
]
