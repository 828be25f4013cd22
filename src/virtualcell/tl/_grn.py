"""``vc.tl.infer_grn``: infer a gene regulatory network and store it in ``adata.uns``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData

__all__ = ["infer_grn"]


def infer_grn(
    adata: AnnData,
    *,
    method: str = "genie3",
    key_added: str = "vc_grn",
    regulators: Iterable[str] | None = None,
    layer: str | None = None,
    n_jobs: int = 1,
    seed: int = 0,
    max_edges: int | None = None,
    **method_options: Any,
) -> pd.DataFrame:
    """Infer a GRN from ``adata`` (:func:`virtualcell.grn.infer`) and store the edges.

    Parameters
    ----------
    adata
        Cells x genes; ``obs`` may hold ``PseudoTime*`` columns or ``perturbation``
        labels used by the pseudotime- and perturbation-aware methods.
    method
        A name of :data:`virtualcell.grn.METHODS`.
    key_added
        ``adata.uns`` key the edge table is written to (default ``vc_grn``).
    regulators
        Candidate regulators (e.g. transcription factors); None = every gene.
    layer
        AnnData layer to use instead of ``X``.
    n_jobs, seed, max_edges
        As in :func:`virtualcell.grn.infer`.
    **method_options
        Options of the method (e.g. ``n_estimators``).

    Returns
    -------
    pandas.DataFrame
        ``regulator, target, score[, sign]`` sorted by decreasing score (the same table
        written to ``adata.uns[key_added]``).
    """
    if not (hasattr(adata, "uns") and hasattr(adata, "var_names")):
        raise ValidationError(f"adata must be an AnnData, got {type(adata).__name__}")
    if not isinstance(key_added, str) or not key_added:
        raise ValidationError(f"key_added must be a non-empty string, got {key_added!r}")
    from ..grn import infer

    edges = infer(
        adata,
        method=method,
        regulators=regulators,
        layer=layer,
        n_jobs=n_jobs,
        seed=seed,
        max_edges=max_edges,
        **method_options,
    )
    adata.uns[key_added] = edges
    return edges
