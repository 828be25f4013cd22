"""``finetune``: a pretrained model plus a prediction head, trained with the same loop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import ValidationError
from ..data import CellSource
from ._config import FINETUNE_CONFIG, TrainConfig
from ._data import CellBatches
from ._distributed import init_distributed, resolve_device
from ._loop import run_description, train
from ._objectives import OBJECTIVES
from ._state import check_run_inputs, prepare_run

if TYPE_CHECKING:
    from anndata import AnnData

    from ..models import CellModel

__all__ = ["FINETUNE_CONFIG", "finetune"]


def finetune(
    adata: AnnData | str | Path,
    model: CellModel | str | Path,
    *,
    label_key: str,
    task: Literal["classification", "regression"] = "classification",
    train_config: TrainConfig | None = None,
    freeze_base: bool = False,
    hidden: int = 128,
    layer: str | None = None,
    out_dir: str | Path | None = None,
    resume: bool | None = None,
) -> CellModel:
    """Fine-tune a pretrained model to predict ``adata.obs[label_key]``.

    Parameters
    ----------
    adata
        AnnData (in memory or backed) or a path to ``.h5ad`` / ``.zarr``.
    model
        A :class:`~virtualcell.models.CellModel` (encoder or GPT) or its checkpoint folder.
    label_key
        Column of ``obs`` with the targets (categories, or numbers for regression).
    task
        ``classification`` (cross-entropy) or ``regression`` (MSE on standardised targets):
        a fine-tuning objective of :data:`OBJECTIVES`.
    train_config
        Every optimisation setting (default :data:`FINETUNE_CONFIG`).
    freeze_base
        Train only the head (linear probing when ``hidden=0``).
    hidden
        Hidden width of the head (0 = linear).
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    out_dir
        Where to save the fine-tuned checkpoint (also used for resumable checkpoints).
    resume
        An existing run in ``out_dir``: see :func:`train`.

    Returns
    -------
    CellModel
        The fine-tuned model; ``.predict(adata)`` gives labels or values.
    """
    from ..models import CellModel, CellPredictor, CellPredictorConfig

    tc = FINETUNE_CONFIG if train_config is None else train_config
    if not isinstance(tc, TrainConfig):
        raise ValidationError(f"train_config must be a TrainConfig, got {type(tc).__name__}")
    entry = OBJECTIVES.entry(task)
    if "finetuning" not in entry.tags:
        raise ValidationError(
            f"task must be one of {', '.join(OBJECTIVES.names(tag='finetuning'))}, got {task!r}"
        )
    check_run_inputs(out_dir, adata=adata, model=model)
    info = init_distributed()
    resolve_device(tc.device, info)
    if not isinstance(model, CellModel):
        if not isinstance(model, str | Path):
            raise ValidationError(
                f"model must be a CellModel or a checkpoint folder, got {type(model).__name__}"
            )
        model = CellModel.from_pretrained(model)
    if model.architecture == "cell_predictor":
        raise ValidationError("model is already fine-tuned; pass the pretrained base model")
    source = CellSource.open(adata, layer=layer)
    try:
        source.check_nonnegative()
        targets, n_out, extra = _targets(source, label_key, task)
        base_cfg = model.network.config.to_dict()
        if model.architecture == "cell_encoder":
            base_cfg["heads"] = []
        cfg = CellPredictorConfig(model.architecture, base_cfg, task, n_out, hidden)
        run = {
            "objective": task,
            "label_key": label_key,
            "hidden": hidden,
            "freeze_base": freeze_base,
            "layer": layer,
            "n_cells": source.n_obs,
            "base": {"architecture": model.architecture, "model": base_cfg},
        }
        if out_dir is not None:
            prepare_run(
                out_dir,
                run_description(tc, run),
                resume=resume,
                is_main=info.is_main,
                announce=False,
            )
        net = CellPredictor(cfg, seed=tc.seed)
        base_state = {
            k: v for k, v in model.network.state_dict().items() if not k.startswith("heads.")
        }
        net.base.load_state_dict(base_state)
        if freeze_base:
            for p in net.base.parameters():
                p.requires_grad_(False)
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
        result = train(
            net, data, entry.obj.for_vocab(model.tokenizer.vocab), tc,
            out_dir=out_dir, resume=resume, run=run,
        )  # fmt: skip
    finally:
        source.close()
    training = {
        "train_config": tc.to_dict(),
        "objective": task,
        "steps": result.steps,
        "base": model.training,
    }
    tuned = CellModel(net, model.tokenizer, training=training, extra=extra)
    if out_dir is not None and info.is_main:
        tuned.save_pretrained(out_dir, overwrite=True)  # prepare_run decided
    return tuned


def _targets(
    source: CellSource, label_key: str, task: str
) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Per-cell targets, the number of outputs and the metadata saved with the model."""
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
        return targets.astype(np.int64), len(classes), extra
    try:
        values = np.asarray(col, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            f"obs[{label_key!r}] is not numeric; use task='classification'"
        ) from None
    if not np.isfinite(values).all():
        raise ValidationError(f"obs[{label_key!r}] holds infinite values")
    mean, std = float(values.mean()), float(values.std() or 1.0)
    extra.update(target_mean=mean, target_std=std)
    return ((values - mean) / std).astype(np.float32), 1, extra
