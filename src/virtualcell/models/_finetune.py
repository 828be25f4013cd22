"""Fine-tuning: a pretrained encoder plus a small prediction head (classification / regression).

``CellPredictor`` = base network (a :class:`CellEncoder` without its pretraining heads, or
a :class:`CellGPT`) -> cell embedding -> MLP head -> ``logits`` (``n_classes`` or
``n_outputs`` values). :func:`finetune` trains it with the same loop as pretraining.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .._errors import ValidationError
from ._layers import init_weights

__all__ = ["CellPredictor", "CellPredictorConfig", "finetune"]


@dataclass(frozen=True)
class CellPredictorConfig:
    """Architecture of a :class:`CellPredictor`.

    Attributes
    ----------
    base_architecture
        ``cell_encoder`` or ``cell_gpt``.
    base
        The base network's config dict.
    task
        ``classification`` or ``regression``.
    n_outputs
        Number of classes, or of regression targets.
    hidden
        Width of the head's hidden layer (0 = a linear head).
    """

    base_architecture: str
    base: dict
    task: Literal["classification", "regression"] = "classification"
    n_outputs: int = 2
    hidden: int = 128

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellPredictorConfig:
        return cls(**data)


class CellPredictor(nn.Module):
    """Base network + head; ``forward`` returns ``{"embedding", "logits"}``."""

    kind = "predictor"

    def __init__(self, config: CellPredictorConfig, *, seed: int = 0) -> None:
        super().__init__()
        from ._wrapper import build_network

        self.config = config
        self.base = build_network(config.base_architecture, config.base, seed=seed)
        d = self.base.config.d_model
        if config.hidden:
            self.head = nn.Sequential(
                nn.LayerNorm(d),
                nn.Linear(d, config.hidden),
                nn.GELU(),
                nn.Linear(config.hidden, config.n_outputs),
            )
        else:
            self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, config.n_outputs))
        init_weights(self.head, seed + 1)

    def forward(
        self,
        input_ids: torch.Tensor,
        values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        emb = self.base(input_ids, values, attention_mask)["embedding"]
        return {"embedding": emb, "logits": self.head(emb)}


def finetune(
    adata: Any,
    model: Any,
    *,
    label_key: str,
    task: Literal["classification", "regression"] = "classification",
    max_steps: int = 200,
    batch_size: int = 32,
    lr: float = 3e-4,
    seed: int = 0,
    freeze_base: bool = False,
    hidden: int = 128,
    layer: str | None = None,
    out_dir: str | Path | None = None,
    train_config: Any = None,
) -> Any:
    """Fine-tune a pretrained model to predict ``adata.obs[label_key]``.

    Parameters
    ----------
    adata
        AnnData (in memory or backed) or a path to ``.h5ad`` / ``.zarr``.
    model
        A :class:`CellModel` (encoder or GPT) or its checkpoint folder.
    label_key
        Column of ``obs`` with the targets (categories, or numbers for regression).
    task
        ``classification`` (cross-entropy) or ``regression`` (MSE on standardised targets).
    max_steps, batch_size, lr, seed
        Training settings (see :class:`virtualcell.train.TrainConfig`); ``train_config``
        overrides them all when given.
    freeze_base
        Train only the head (linear probing when ``hidden=0``).
    hidden
        Hidden width of the head (0 = linear).
    layer
        Expression layer to read (``"raw"`` = ``adata.raw``).
    out_dir
        Where to save the fine-tuned checkpoint (also used for resumable checkpoints).

    Returns
    -------
    CellModel
        The fine-tuned model; ``.predict(adata)`` gives labels or values.
    """
    from ..train import CellBatches, TrainConfig, make_objective, train
    from ..train._source import CellSource
    from ._wrapper import CellModel

    if not isinstance(model, CellModel):
        model = CellModel.from_pretrained(model)
    if model.architecture == "cell_predictor":
        raise ValidationError("model is already fine-tuned; pass the pretrained base model")
    if task not in ("classification", "regression"):
        raise ValidationError(f"task must be 'classification' or 'regression', got {task!r}")
    source = CellSource.open(adata, layer=layer)
    if label_key not in source.obs.columns:
        raise ValidationError(
            f"label_key {label_key!r} not in obs columns {list(source.obs.columns)[:10]}"
        )
    col = source.obs[label_key]
    missing = np.asarray(col.isna())
    if missing.any():
        raise ValidationError(
            f"obs[{label_key!r}] has {int(missing.sum())} missing values, e.g. cell "
            f"{source.obs.index[np.argmax(missing)]!r}; drop or fill them first"
        )
    extra: dict[str, Any] = {"label_key": label_key}
    if task == "classification":
        classes, targets = np.unique(np.asarray(col.astype(str)), return_inverse=True)
        if len(classes) < 2:
            raise ValidationError(f"obs[{label_key!r}] has a single class {classes.tolist()}")
        extra["classes"] = classes.tolist()
        n_out = len(classes)
        targets = targets.astype(np.int64)
    else:
        try:
            values = np.asarray(col, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError(
                f"obs[{label_key!r}] is not numeric; use task='classification'"
            ) from None
        mean, std = float(values.mean()), float(values.std() or 1.0)
        extra.update(target_mean=mean, target_std=std)
        targets = ((values - mean) / std).astype(np.float32)
        n_out = 1
    base_cfg = model.network.config.to_dict()
    if model.architecture == "cell_encoder":
        base_cfg["heads"] = []
    cfg = CellPredictorConfig(model.architecture, base_cfg, task, n_out, hidden)
    net = CellPredictor(cfg, seed=seed)
    base_state = {k: v for k, v in model.network.state_dict().items() if not k.startswith("heads.")}
    net.base.load_state_dict(base_state)
    if freeze_base:
        for p in net.base.parameters():
            p.requires_grad_(False)
    tc = train_config or TrainConfig(
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        warmup_steps=min(20, max_steps // 10),
    )
    from ..train._distributed import init_distributed

    info = init_distributed()
    data = CellBatches(
        source,
        model.tokenizer,
        batch_size=tc.batch_size,
        chunk_size=tc.chunk_size,
        seed=tc.seed,
        rank=info.rank,
        world_size=info.world_size,
        targets=targets,
    )
    result = train(net, data, make_objective(task), tc, out_dir=out_dir)
    training = {
        "train_config": tc.to_dict(),
        "objective": task,
        "steps": result.steps,
        "base": model.training,
    }
    tuned = CellModel(net, model.tokenizer, training=training, extra=extra)
    if out_dir is not None and info.is_main:
        tuned.save_pretrained(out_dir)
    return tuned
