"""Expression features shared by the annotation methods and embedding sources.

``log_expression`` gives the log-normalised expression every gene-level method uses, by
the one rule of ``vc.data.expression`` (``vc.data.value_kind``):

* count-like values (``vc.data.looks_like_counts``) or non-integer values above
  ``log1p(1e6)`` (linear, normalised expression): ``log1p(x / total * 1e4)``;
* otherwise (non-integer values <= ``log1p(1e6)``, the ``vc.pp`` rule): taken as already
  log-normalised and used as they are.

Negative values (scaled / centred data, e.g. ``pbmc68k_reduced.X``) are refused: use the
raw expression (``layer="raw"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import doc_params
from ..data import expression as _data_expression
from ..data import log1p_normalize, value_kind

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "HVGScaler",
    "align_genes",
    "expression",
    "labels_of",
    "log_expression",
    "standardize_by_batch",
]


@doc_params
def expression(
    adata: AnnData, *, layer: str | None = None, what: str = "expression"
) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(X as CSR float32, gene names)`` of ``X``, a layer, or ``adata.raw`` (``"raw"``),
    as given (``vc.data.expression(space="input")`` after its checks: no NaN, infinite or
    negative values).

    Parameters
    ----------
    what
        The step named in the checks' messages (e.g. ``"the oracle embedding"``).
    """
    e = _data_expression(
        adata, layer=layer, normalize=False, sparse_output=True, dtype="float32", what=what
    )
    return e.X, np.asarray([str(g) for g in e.genes], dtype=object)


def log_expression(X: sp.csr_matrix) -> sp.csr_matrix:
    """Log-normalised expression by the one rule of ``vc.data.expression``: count-like or
    linear values become ``log1p(x / total * 1e4)``; logged values are kept (CSR float32).

    Parameters
    ----------
    X
        Expression, cells x genes (CSR or dense; not modified).
    """
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)
    if X.nnz == 0 or value_kind(X) == "log":
        return X
    return log1p_normalize(X, dtype=np.float32)[0]


def align_genes(X: sp.csr_matrix, genes: np.ndarray, target: Sequence[str]) -> sp.csr_matrix:
    """Columns of ``X`` reordered to ``target`` genes (absent genes are zero columns)."""
    pos = {g: i for i, g in enumerate(genes)}
    src = np.array([pos.get(g, -1) for g in target])
    found = src >= 0
    if found.mean() < 0.5:
        missing = [g for g, f in zip(target, found, strict=True) if not f][:5]
        raise ValidationError(
            f"only {int(found.sum())}/{len(target)} reference genes are in the data "
            f"(e.g. missing {missing}); are the gene names of the same kind?"
        )
    out = sp.lil_matrix((X.shape[0], len(target)), dtype=np.float32)
    out[:, np.flatnonzero(found)] = X[:, src[found]]
    return sp.csr_matrix(out)


class HVGScaler:
    """Log-normalise, keep the ``n_hvg`` most variable genes (scanpy, flavour ``seurat``)
    of the data it is fitted on, and z-score them (clipped at 10) — the features of the
    L1-logistic-regression baseline."""

    def __init__(self, n_hvg: int = 2000, *, scale: bool = True) -> None:
        self.n_hvg, self.scale = int(n_hvg), bool(scale)
        self.genes: np.ndarray | None = None

    def fit(self, adata: Any, *, layer: str | None = None) -> HVGScaler:
        X, genes = expression(adata, layer=layer)
        L = log_expression(X)
        from ..pp import variable_gene_mask

        keep = variable_gene_mask(L, self.n_hvg, genes=genes)
        self.genes = genes[keep]
        dense = L[:, keep].toarray()
        self.mean = dense.mean(0)
        self.std = dense.std(0, ddof=1) if dense.shape[0] > 1 else np.ones(dense.shape[1])
        self.std[~(self.std > 0)] = 1.0
        return self

    def transform(self, adata: Any, *, layer: str | None = None) -> np.ndarray:
        if self.genes is None:
            raise ValidationError("HVGScaler is not fitted")
        X, genes = expression(adata, layer=layer)
        dense = align_genes(log_expression(X), genes, self.genes).toarray()
        if not self.scale:
            return dense
        return np.clip((dense - self.mean) / self.std, -10, 10).astype(np.float32)


@doc_params
def labels_of(adata: AnnData, key: str) -> np.ndarray:
    """``adata.obs[key]`` as strings; a missing column or missing values are errors.

    Parameters
    ----------
    key
        ``obs`` column holding the labels.
    """
    if key not in adata.obs:
        raise ValidationError(
            f"label_key {key!r} not in obs columns {list(adata.obs.columns)[:20]}"
        )
    col = adata.obs[key]
    if col.isna().any():
        bad = adata.obs_names[np.asarray(col.isna())][:5].tolist()
        raise ValidationError(f"obs[{key!r}] has missing values, e.g. cells {bad}")
    return col.astype(str).to_numpy()


def standardize_by_batch(x: np.ndarray, batches: Sequence[Any]) -> np.ndarray:
    """Centre and scale every column within each batch (mean 0, sd 1; sd 0 -> 1)."""
    x = np.asarray(x, dtype=np.float64).copy()
    b = pd.Series(np.asarray(batches).astype(str))
    for _, idx in b.groupby(b).groups.items():
        rows = np.asarray(idx)
        sub = x[rows]
        sd = sub.std(0)
        sd[~(sd > 0)] = 1.0
        x[rows] = (sub - sub.mean(0)) / sd
    return x.astype(np.float32)
