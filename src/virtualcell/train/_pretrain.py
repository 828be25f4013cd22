"""``pretrain``: tokenizer + model + objective + loop, end to end, writing a checkpoint folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError
from ._data import CellBatches
from ._distributed import init_distributed
from ._loop import TrainConfig, TrainResult, train
from ._objectives import make_objective
from ._source import CellSource

__all__ = ["default_model_config", "make_tokenizer", "pretrain"]

#: Objectives each tokenizer kind supports.
_VALUE_MODE = {"rank": "rank", "bin": "bin", "continuous": "continuous", "sentence": "rank"}


def make_tokenizer(kind: str, *, max_len: int = 256, **kwargs: Any) -> Any:
    """An unfitted tokenizer of ``kind`` (rank, bin, continuous, sentence) from vc.tokenize."""
    from ..tokenize import TOKENIZERS

    names = TOKENIZERS.names(tag="pretrain")
    if kind not in names:
        raise ValidationError(f"unknown tokenizer {kind!r}; choose from {names}")
    return TOKENIZERS.get(kind)(max_len=max_len, **kwargs)


def default_model_config(
    tokenizer: Any, objective: str, **overrides: Any
) -> tuple[str, dict[str, Any]]:
    """``(architecture, config dict)`` matching a fitted tokenizer and an objective.

    ``ntp`` -> :class:`CellGPT`; ``mlm`` / ``mae`` -> :class:`CellEncoder` whose value input
    matches the tokenizer (rank position, bin embedding or continuous projection).
    """
    params = tokenizer.config().get("params", {})
    max_len = int(params.get("max_len", 256)) + 8  # room for <cls>/<eos>/count tokens
    base = {"vocab_size": len(tokenizer.vocab), "max_len": max_len}
    if objective == "ntp":
        return "cell_gpt", {**base, **overrides}
    if objective not in ("mlm", "mae"):
        raise ValidationError(f"unknown pretraining objective {objective!r} (mlm, mae, ntp)")
    mode = _VALUE_MODE.get(tokenizer.kind, "none")
    if objective == "mae" and mode not in ("bin", "continuous"):
        raise ValidationError(
            f"objective 'mae' regresses values; the {tokenizer.kind} tokenizer has none "
            "(use --tokenizer bin or continuous)"
        )
    cfg = {**base, "value_mode": mode, "heads": [objective]}
    if mode == "bin":
        cfg["n_bins"] = int(params.get("n_bins", 51)) + 1
    return "cell_encoder", {**cfg, **overrides}


def pretrain(
    data: Any,
    *,
    tokenizer: Any = "rank",
    objective: Literal["mlm", "mae", "ntp"] = "mlm",
    model_config: dict[str, Any] | None = None,
    train_config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    layer: str | None = None,
    fit_cells: int = 10_000,
    resume: bool = True,
) -> tuple[Any, TrainResult]:
    """Pretrain a model on unlabelled cells; optionally write a checkpoint folder.

    Parameters
    ----------
    data
        AnnData or a path to ``.h5ad`` / ``.zarr`` (streamed in row chunks).
    tokenizer
        A tokenizer object (fitted or not) or its kind: ``rank``, ``bin``, ``continuous``,
        ``sentence``. An unfitted tokenizer is fitted on the first ``fit_cells`` cells.
    objective
        ``mlm`` (masked gene tokens), ``mae`` (masked values) or ``ntp`` (next token, CellGPT).
    model_config
        Overrides of the architecture (``d_model``, ``n_layers``, ...).
    train_config
        :class:`TrainConfig` (defaults when None).
    out_dir
        Checkpoint folder: resumable checkpoints under ``out_dir/checkpoints`` and the final
        model (``config.json``, ``model.safetensors``, ``vocab.json``) in ``out_dir``.
    layer
        Expression layer (``"raw"`` = ``adata.raw``).

    Returns
    -------
    (CellModel, TrainResult)
    """
    from ..models._wrapper import CellModel, build_network

    tc = train_config or TrainConfig()
    info = init_distributed()
    source = CellSource.open(data, layer=layer)
    if isinstance(tokenizer, str):
        tokenizer = make_tokenizer(tokenizer)
    if not tokenizer.is_fitted:
        n_fit = min(fit_cells, source.n_obs)
        tokenizer.fit(source.read(0, n_fit), genes=source.var_names)
    arch, cfg = default_model_config(tokenizer, objective, **(model_config or {}))
    network = build_network(arch, cfg, seed=tc.seed)
    batches = CellBatches(
        source,
        tokenizer,
        batch_size=tc.batch_size,
        chunk_size=tc.chunk_size,
        seed=tc.seed,
        rank=info.rank,
        world_size=info.world_size,
    )
    result = train(
        network,
        batches,
        _objective(objective, tokenizer),
        tc,
        out_dir=out_dir,
        resume=resume,
        checkpoint_extra={"objective": objective},
    )
    losses = [h["loss"] for h in result.history if "loss" in h]
    training = {
        "objective": objective,
        "train_config": tc.to_dict(),
        "steps": result.steps,
        "n_cells": source.n_obs,
        "world_size": info.world_size,
        "final_loss": float(np.mean(losses[-10:])) if losses else None,
    }
    model = CellModel(network, tokenizer, training=training)
    if out_dir is not None and info.is_main:
        model.save_pretrained(out_dir)
    source.close()
    return model, result


def _objective(name: str, tokenizer: Any) -> Any:
    vocab = tokenizer.vocab
    if name in ("mlm", "mae"):
        kwargs: dict[str, Any] = {"n_special": vocab.n_special}
        if name == "mlm":
            kwargs["mask_id"] = vocab.mask_id
        return make_objective(name, **kwargs)
    return make_objective(name)
