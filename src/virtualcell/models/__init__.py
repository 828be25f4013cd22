"""Oracle models: transformer encoders and generators of cells, and their baselines (``vc.models``).

Each model is a frozen config dataclass, a plain ``torch.nn.Module`` readable in one file,
and the AnnData-aware :class:`CellModel` wrapper (tokenizer + network, checkpoint folders):

* :class:`CellEncoder` — bidirectional transformer, MLM / MAE pretraining heads;
* :class:`CellGPT` — causal transformer, next-token prediction, ``generate``;
* :class:`PCAEncoder` — PCA on highly variable genes (baseline), ``scvi_embed`` (optional).

Names are loaded lazily so that importing ``vc.models`` (or ``vc.tl``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CellEncoder": "._encoder",
    "CellEncoderConfig": "._encoder",
    "CellGPT": "._gpt",
    "CellGPTConfig": "._gpt",
    "CellModel": "._wrapper",
    "CellPredictor": "._finetune",
    "CellPredictorConfig": "._finetune",
    "PCAConfig": "._pca",
    "PCAEncoder": "._pca",
    "build_network": "._wrapper",
    "embed": "._embed",
    "finetune": "._finetune",
    "load": "._wrapper",
    "scvi_embed": "._pca",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'virtualcell.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
