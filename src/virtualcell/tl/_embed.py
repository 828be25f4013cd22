"""``vc.tl.embed``: a model's cell embeddings, written to ``adata.obsm[key_added]``.

One meaning of ``embed``: ``vc.tl.embed(adata, model)`` is
``vc.represent.embed(adata, source="oracle", model=model)`` (same key ``X_vc``, same code)
after checking and loading the model; ``vc.represent.embed`` embeds with any source.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._errors import ValidationError

if TYPE_CHECKING:
    from anndata import AnnData

    from ..models import CellModel, PCAEncoder

__all__ = ["embed"]


def embed(
    adata: AnnData,
    model: CellModel | PCAEncoder | str | Path,
    *,
    key_added: str = "X_vc",
    batch_size: int = 64,
    layer: str | None = None,
    device: str | None = None,
) -> np.ndarray:
    """Embed every cell of ``adata`` with ``model`` and store it in ``adata.obsm[key_added]``.

    Parameters
    ----------
    adata
        AnnData (in memory or backed). It is only modified after the embedding succeeded.
    model
        A :class:`~virtualcell.models.CellModel`, :class:`~virtualcell.models.PCAEncoder`,
        a checkpoint folder of either, or a published checkpoint ``"geneformer:PATH"`` /
        ``"scgpt:PATH"`` (see :func:`virtualcell.models.load`).
    key_added
        ``obsm`` key to write (default ``X_vc``).
    batch_size
        Cells per forward pass.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    device
        Torch device (default: where the model is).

    Returns
    -------
    numpy.ndarray
        The embedding ``(n_obs, dim)``, float32 (the array also written to ``obsm``).
    """
    if not (hasattr(adata, "obsm") and hasattr(adata, "var_names")):
        raise ValidationError(f"adata must be an AnnData, got {type(adata).__name__}")
    if not isinstance(key_added, str) or not key_added:
        raise ValidationError(f"key_added must be a non-empty string, got {key_added!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
    from ..models import CellModel, PCAEncoder, load

    if device is not None:
        from ..models import check_device

        check_device(device)
    if isinstance(model, str | Path):
        model = load(model, device=device)
    from ..models import GeneformerModel, ScGPTModel

    if not isinstance(model, CellModel | PCAEncoder | GeneformerModel | ScGPTModel):
        raise ValidationError(
            f"model must be a CellModel, a PCAEncoder or a checkpoint folder (also a "
            f"published GeneformerModel / ScGPTModel, 'geneformer:PATH', 'scgpt:PATH'), got "
            f"{type(model).__name__}"
        )
    # one meaning of "embed": the oracle source of vc.represent.embed (same key, same
    # code path); this entry point adds the model checks and loading above
    from ..represent import embed as represent_embed

    return represent_embed(
        adata,
        source="oracle",
        model=model,
        layer=layer,
        key_added=key_added,
        batch_size=batch_size,
        device=device,
    )
