"""``embed``: write a model's cell embeddings to ``adata.obsm`` (also ``vc.tl.embed``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["embed"]


def embed(
    adata: Any,
    model: Any,
    *,
    key: str = "X_vc",
    batch_size: int = 64,
    layer: str | None = None,
    device: str | None = None,
) -> np.ndarray:
    """Embed every cell of ``adata`` with ``model`` and store it in ``adata.obsm[key]``.

    Parameters
    ----------
    adata
        AnnData (in memory or backed). It is only modified after the embedding succeeded.
    model
        A :class:`CellModel`, :class:`PCAEncoder`, or a checkpoint folder of either.
    key
        ``obsm`` key to write (default ``X_vc``).
    batch_size
        Cells per forward pass.
    layer
        Expression layer to read (``"raw"`` = ``adata.raw``; default ``X``).
    device
        Torch device (default: where the model is).

    Returns
    -------
    numpy.ndarray
        The embedding ``(n_obs, dim)``, float32 (the array also written to ``obsm``).
    """
    if isinstance(model, str | Path):
        from ._wrapper import load

        model = load(model, device=device)
    kwargs: dict[str, Any] = {"batch_size": batch_size, "layer": layer}
    if device is not None:
        kwargs["device"] = device
    emb = model.embed(adata, **kwargs)
    adata.obsm[key] = emb
    return emb
