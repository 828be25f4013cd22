"""Training: one loop for pretraining and fine-tuning (``vc.train``).

:func:`pretrain` and :func:`finetune` build a model and run :func:`train` (AdamW with
warm-up + cosine schedule, gradient accumulation, clipping, bf16 autocast on CUDA,
checkpoints by default with exact resume, SIGINT/SIGTERM saving, streaming from backed
``.h5ad`` / ``.zarr``, distributed data parallel with ``torchrun``: gloo on CPU, NCCL on
GPU). Each takes one :class:`TrainConfig`. Objectives are small strategy objects listed
in :data:`OBJECTIVES` (``mlm``, ``mae``, ``ntp``, ``classification``, ``regression``,
``contrastive``, and the cell-embedding objectives ``mvc`` and ``views``); weighted sums
such as ``"mlm+mvc+views"`` are built by :func:`build_objective`.

Names are loaded lazily so that the command line reads :class:`TrainConfig` defaults
without importing torch.
"""

from __future__ import annotations

from .._utils import lazy_exports

_EXPORTS = {
    "FINETUNE_CONFIG": "._config",
    "OBJECTIVES": "._objectives",
    "Batches": "._data",
    "CellBatches": "._data",
    "ClassificationObjective": "._objectives",
    "CombinedObjective": "._objectives",
    "ContrastiveObjective": "._objectives",
    "DataPosition": "._data",
    "DistInfo": "._distributed",
    "ExpressionObjective": "._objectives",
    "MaskedTokenObjective": "._objectives",
    "MaskedValueObjective": "._objectives",
    "NextTokenObjective": "._objectives",
    "Objective": "._objectives",
    "RegressionObjective": "._objectives",
    "TensorBatches": "._data",
    "TrainConfig": "._config",
    "TrainResult": "._loop",
    "ViewContrastObjective": "._objectives",
    "build_objective": "._objectives",
    "default_model_config": "._pretrain",
    "finetune": "._finetune",
    "init_distributed": "._distributed",
    "lr_at": "._loop",
    "make_tokenizer": "._pretrain",
    "nb_log_likelihood": "._objectives",
    "parse_objective": "._objectives",
    "pretrain": "._pretrain",
    "train": "._loop",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
