"""``pretrain``: tokenizer + model + objective + loop, end to end, writing a checkpoint folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ValidationError
from ..data import CellSource
from ._data import CellBatches
from ._distributed import init_distributed, resolve_device
from ._loop import TrainConfig, TrainResult, run_description, train
from ._objectives import OBJECTIVES, build_objective, parse_objective
from ._state import check_run_inputs, prepare_run

if TYPE_CHECKING:
    from anndata import AnnData

    from ..models import CellModel
    from ..tokenize import Tokenizer

__all__ = ["check_objective", "default_model_config", "make_tokenizer", "pretrain"]


def make_tokenizer(kind: str, *, max_len: int = 256, **kwargs: Any) -> Tokenizer:
    """An unfitted tokenizer of ``kind`` (rank, bin, continuous, sentence) from vc.tokenize.

    Parameters
    ----------
    kind
        A tokenizer of ``vc.tokenize.TOKENIZERS`` tagged for pretraining.
    max_len
        Most gene tokens per cell.
    **kwargs
        Further options of that tokenizer class (e.g. ``n_bins``).

    Returns
    -------
    Tokenizer
        The tokenizer, to be fitted on the training data.
    """
    from ..tokenize import TOKENIZERS

    names = TOKENIZERS.names(tag="pretrain")
    if kind not in names:
        raise ValidationError(f"unknown tokenizer {kind!r}; choose from {names}")
    return TOKENIZERS.get(kind)(max_len=max_len, **kwargs)


class _Spec:
    """What :func:`pretrain` needs to know of an objective spec (one name or a sum)."""

    def __init__(self, classes: list[Any]) -> None:
        archs = {c.architecture for c in classes}
        if len(archs) != 1:
            raise ValidationError(f"objectives of different architectures: {sorted(archs)}")
        self.architecture = archs.pop()
        self.needs_values = any(c.needs_values for c in classes)
        self.needs_counts = any(c.needs_counts for c in classes)
        self.heads = list(dict.fromkeys(h for c in classes for h in c.model_heads))


def check_objective(name: str) -> None:
    """Refuse (:class:`ValidationError`) an objective spec :func:`pretrain` cannot train."""
    _pretraining_objective(name)


def _pretraining_objective(name: str) -> _Spec:
    """Check ``name`` (``"mlm"``, ``"mlm+mvc+views"``, ``"mlm+0.5*mvc"``) names pretraining
    objectives; returns their architecture, heads and data needs."""
    classes = []
    for part, _ in parse_objective(name):
        entry = OBJECTIVES.entry(part)
        if "pretraining" not in entry.tags:
            raise ValidationError(
                f"{part!r} is not a pretraining objective; choose from "
                f"{', '.join(OBJECTIVES.names(tag='pretraining'))}"
            )
        classes.append(entry.obj)
    return _Spec(classes)


def default_model_config(
    tokenizer: Tokenizer, objective: str, **overrides: Any
) -> tuple[str, dict[str, Any]]:
    """``(architecture, config dict)`` matching a fitted tokenizer and an objective.

    The objective names its architecture (``ntp`` -> :class:`CellGPT`; ``mlm`` / ``mae``
    -> :class:`CellEncoder`, whose value input matches the tokenizer: rank position, bin
    embedding or continuous projection).

    Parameters
    ----------
    tokenizer
        The fitted tokenizer: its vocabulary size, ``max_len``, value mode and bins size
        the network.
    objective
        A pretraining objective spec (``"mlm"``, ``"mlm+mvc+views"``, ``"ntp"``).
    **overrides
        Config fields that replace the derived ones (e.g. ``d_model=64``).

    Returns
    -------
    tuple[str, dict[str, Any]]
        The architecture name (``ARCHITECTURES``) and its config fields.
    """
    cls = _pretraining_objective(objective)
    params = tokenizer.config().get("params", {})
    max_len = int(params.get("max_len", 256)) + 8  # room for <cls>/<eos>/count tokens
    base = {"vocab_size": len(tokenizer.vocab), "max_len": max_len}
    if cls.architecture != "cell_encoder":
        return cls.architecture, {**base, **overrides}
    mode = tokenizer.value_mode  # declared by each tokenizer of vc.tokenize.TOKENIZERS
    if cls.needs_values and mode not in ("bin", "continuous"):
        raise ValidationError(
            f"objective {objective!r} regresses values; the {tokenizer.kind} tokenizer has none "
            "(use --tokenizer bin or continuous)"
        )
    cfg = {**base, "value_mode": mode, "heads": cls.heads}
    if mode == "bin":
        cfg["n_bins"] = int(params.get("n_bins", 51)) + 1
    return "cell_encoder", {**cfg, **overrides}


def _check_model_overrides(architecture: str, overrides: Mapping[str, Any]) -> None:
    """Refuse bad architecture overrides (types, ranges, heads vs width) before the
    tokenizer is fitted (the full config is checked again once the vocabulary is known)."""
    from ..models import ARCHITECTURES

    if not isinstance(overrides, Mapping):
        raise ValidationError(f"model_config must be a dict, got {type(overrides).__name__}")
    probe = {"vocab_size": 16, "max_len": 16, **overrides}
    ARCHITECTURES.get(architecture).config_class.from_dict(probe)


def pretrain(
    data: AnnData | str | Path,
    *,
    tokenizer: Tokenizer | str = "rank",
    objective: str = "mlm",
    objective_options: Mapping[str, Mapping[str, Any]] | None = None,
    model_config: Mapping[str, Any] | None = None,
    train_config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    layer: str | None = None,
    fit_cells: int = 10_000,
    resume: bool | None = None,
) -> tuple[CellModel, TrainResult]:
    """Pretrain a model on unlabelled cells; optionally write a checkpoint folder.

    Parameters
    ----------
    data
        AnnData or a path to ``.h5ad`` / ``.zarr`` (streamed in row chunks).
    tokenizer
        A tokenizer object (fitted or not) or its kind: ``rank``, ``bin``, ``continuous``,
        ``sentence``. An unfitted tokenizer is fitted on the first ``fit_cells`` cells.
    objective
        A pretraining objective of :data:`OBJECTIVES`: ``mlm`` (masked gene tokens),
        ``mae`` (masked values), ``mvc`` (expression from the cell embedding, negative
        binomial), ``views`` (InfoNCE of two masked views), ``ntp`` (next token, CellGPT),
        or a weighted sum of ``mlm`` / ``mvc`` / ``views`` such as ``"mlm+mvc+views"``
        or ``"mlm+0.5*mvc"`` (one shared masked view; see :func:`build_objective`).
    objective_options
        Keyword arguments per objective part, e.g. ``{"views": {"mask_prob": 0.4}}``.
    model_config
        Overrides of the architecture (``d_model``, ``n_layers``, ...).
    train_config
        :class:`TrainConfig` (defaults when None): every optimisation setting.
    out_dir
        Run folder: resumable checkpoints under ``out_dir/checkpoints`` and the final
        model (``config.json``, ``model.safetensors``, ``vocab.json``) in ``out_dir``.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
        A matrix with negative values (scaled data) is refused naming the usable ones.
    fit_cells
        Cells the tokenizer is fitted on.
    resume
        An existing run in ``out_dir``: ``None`` resumes it when the settings are the
        same (refused when they differ), ``True`` resumes it with the new settings,
        ``False`` deletes it and starts over (see :func:`train`).

    Returns
    -------
    (CellModel, TrainResult)
    """
    from ..models import CellModel, build_network

    tc = TrainConfig() if train_config is None else train_config
    if not isinstance(tc, TrainConfig):
        raise ValidationError(f"train_config must be a TrainConfig, got {type(tc).__name__}")
    check_run_inputs(out_dir, data=data)
    objective_cls = _pretraining_objective(objective)
    build_objective(objective, SimpleNamespace(mask_id=2, n_special=5), options=objective_options)
    overrides = dict(model_config or {})
    _check_model_overrides(objective_cls.architecture, overrides)
    info = init_distributed()
    resolve_device(tc.device, info)
    if isinstance(tokenizer, str):
        tokenizer = make_tokenizer(tokenizer)
    source = CellSource.open(data, layer=layer)
    try:
        source.check_nonnegative()
        options = {k: dict(v) for k, v in (objective_options or {}).items()}
        run = {
            "objective": objective,
            **({"objective_options": options} if options else {}),
            "tokenizer": {"kind": tokenizer.kind, "params": tokenizer.config().get("params", {})},
            "model_config": overrides,
            "layer": layer,
            "n_cells": source.n_obs,
            "n_genes": len(source.var_names),
        }
        if out_dir is not None:
            prepare_run(
                out_dir,
                run_description(tc, run),
                resume=resume,
                is_main=info.is_main,
                announce=False,
            )
        if not tokenizer.is_fitted:
            n_fit = min(fit_cells, source.n_obs)
            tokenizer.fit(source.read(0, n_fit), genes=source.var_names)
        arch, cfg = default_model_config(tokenizer, objective, **overrides)
        network = build_network(arch, cfg, seed=tc.seed)
        batches = CellBatches(
            source,
            tokenizer,
            batch_size=tc.batch_size,
            chunk_size=tc.chunk_size,
            seed=tc.seed,
            rank=info.rank,
            world_size=info.world_size,
            counts=objective_cls.needs_counts,
        )
        result = train(
            network,
            batches,
            build_objective(objective, tokenizer.vocab, options=objective_options),
            tc,
            out_dir=out_dir,
            resume=resume,
            run=run,
        )
        losses = [h["loss"] for h in result.history if "loss" in h]
        training = {
            "objective": objective,
            **({"objective_options": options} if options else {}),
            "train_config": tc.to_dict(),
            "steps": result.steps,
            "n_cells": source.n_obs,
            "world_size": info.world_size,
            "final_loss": float(np.mean(losses[-10:])) if losses else None,
        }
        model = CellModel(network, tokenizer, training=training)
        if out_dir is not None and info.is_main:
            model.save_pretrained(out_dir, overwrite=True)  # prepare_run decided
    finally:
        source.close()
    return model, result
