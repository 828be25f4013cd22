"""A JSON-ready description of an AnnData (``vcell data info``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["describe_anndata"]


def _columns(frame: Any) -> list[dict[str, Any]]:
    return [
        {"name": str(name), "dtype": str(frame[name].dtype),
         "n_values": int(frame[name].nunique(dropna=True))}
        for name in frame.columns
    ]  # fmt: skip


def describe_anndata(adata: AnnData, *, n_genes: int = 8) -> dict[str, Any]:
    """Shape, matrix kind and dtype, obs/var columns, layers, obsm, uns keys, ``.raw``,
    the reader's ``uns["vc"]["source"]`` and the first ``n_genes`` gene names."""
    X = adata.X
    kind = "none" if X is None else ("sparse " + X.format if sparse.issparse(X) else "dense")
    dtype = "" if X is None else f" {np.dtype(X.dtype)}"
    source = adata.uns.get("vc", {}).get("source", {})
    raw = adata.raw
    return {
        "n_obs": int(adata.n_obs),
        "n_vars": int(adata.n_vars),
        "matrix": kind + dtype,
        "format": str(source.get("format", "?")),
        "obs": _columns(adata.obs),
        "var": _columns(adata.var),
        "layers": [str(k) for k in adata.layers.keys()],
        "obsm": [str(k) for k in adata.obsm.keys()],
        "uns": [str(k) for k in adata.uns.keys()],
        "raw": "" if raw is None else f"{raw.n_obs:,} cells x {raw.n_vars:,} genes",
        "first_genes": [str(g) for g in adata.var_names[:n_genes]],
    }
