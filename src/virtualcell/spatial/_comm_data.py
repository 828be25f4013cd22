"""What every communication method receives: candidate ligand -> receptor pairs resolved
to expression units, cell-type labels, per-type means and (lazily) the spatial graph.

One preparation step for all methods, so that baselines and spatial methods see exactly
the same candidate pairs, the same normalised expression and the same cell types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from ._graph import knn_graph

__all__ = ["CommInput", "prepare", "resolve_pairs"]

#: Target library size of the per-cell normalisation (counts -> log1p(CP10k)).
_TARGET_SUM = 1e4


@dataclass
class CommInput:
    """Inputs of a communication method (built by :func:`prepare`).

    Attributes
    ----------
    pairs
        Candidate pairs, columns ``ligand, receptor`` (a complex's subunits ``_``-joined).
    types
        Cell-type names (sender and receiver categories), in order.
    labels
        Integer code of each cell's type (index into ``types``).
    ligand
        ``(n_cells, n_pairs)`` expression of each pair's ligand (a complex: the minimum
        over its subunits), log1p of counts per 10k.
    receptor
        Same for each pair's receptor.
    coords
        ``obsm["spatial"]`` as float64, or ``None`` when absent.
    n_neighbors
        Neighbours per cell of the spatial graph.
    expression
        ``(n_cells, n_genes)`` the same normalised expression of the response genes (all
        genes, or the ``max_response_genes`` most variable), for methods that read the
        receivers' response; ``genes`` names its columns.
    """

    pairs: pd.DataFrame
    types: list[str]
    labels: np.ndarray
    ligand: np.ndarray
    receptor: np.ndarray
    coords: np.ndarray | None
    n_neighbors: int = 6
    connectivities: sp.csr_matrix | None = field(default=None, repr=False)
    expression: np.ndarray | None = field(default=None, repr=False)
    genes: list[str] = field(default_factory=list)

    @property
    def n_types(self) -> int:
        return len(self.types)

    @cached_property
    def onehot(self) -> sp.csr_matrix:
        """``(n_cells, n_types)`` indicator of each cell's type."""
        n = len(self.labels)
        return sp.csr_matrix(
            (np.ones(n, dtype=np.float64), (np.arange(n), self.labels)),
            shape=(n, self.n_types),
        )

    @cached_property
    def type_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.n_types).astype(np.float64)

    def type_means(self, values: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """``(n_types, n_columns)`` mean of ``values`` per cell type (``labels``: other
        codes, e.g. permuted ones)."""
        if labels is None:
            onehot, counts = self.onehot, self.type_counts
        else:
            n = len(labels)
            onehot = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, self.n_types))
            counts = np.bincount(labels, minlength=self.n_types).astype(np.float64)
        return np.asarray(onehot.T @ values) / np.maximum(counts, 1.0)[:, None]

    @cached_property
    def graph(self) -> sp.csr_matrix:
        """Row-normalised spatial neighbour graph (no self-loops): ``obsp
        ["spatial_connectivities"]`` when the data hold one (squidpy's key), else the
        ``n_neighbors`` nearest cells in ``obsm["spatial"]``."""
        if self.connectivities is not None:
            w = sp.csr_matrix(self.connectivities, dtype=np.float64)
            w.setdiag(0)
            w.eliminate_zeros()
        else:
            if self.coords is None:
                raise ValidationError(
                    "spatial communication methods need spatial coordinates in "
                    "obsm['spatial'] (n_cells x 2); this AnnData has none"
                )
            k = min(int(self.n_neighbors), self.coords.shape[0] - 1)
            if k < 1:
                raise ValidationError("a spatial graph needs at least 2 cells")
            w = knn_graph(self.coords, k, symmetric=False).astype(np.float64)
        deg = np.asarray(w.sum(axis=1)).ravel()
        return sp.diags(1.0 / np.maximum(deg, 1e-12)) @ w


def resolve_pairs(
    adata: ad.AnnData, lr_pairs: pd.DataFrame | None, *, strict: bool
) -> pd.DataFrame:
    """Candidate pairs: ``lr_pairs``, else ``uns["lr_pairs"]``, else the knowledge
    base's table (pairs whose genes are all measured). Genes of a given table must all be
    in ``var_names`` (``strict``); the knowledge table is filtered instead."""
    source = "lr_pairs"
    if lr_pairs is None and "lr_pairs" in adata.uns:
        lr_pairs, source = adata.uns["lr_pairs"], 'uns["lr_pairs"]'
    if lr_pairs is None:
        from ..knowledge import ligand_receptor_pairs

        lr_pairs, source, strict = ligand_receptor_pairs(), "the knowledge base", False
    if not isinstance(lr_pairs, pd.DataFrame):
        lr_pairs = pd.DataFrame(lr_pairs)
    missing = [c for c in ("ligand", "receptor") if c not in lr_pairs.columns]
    if missing:
        raise ValidationError(
            f"{source} needs columns 'ligand' and 'receptor'; found {list(lr_pairs.columns)}"
        )
    pairs = lr_pairs[["ligand", "receptor"]].astype(str).drop_duplicates()
    var = set(map(str, adata.var_names))

    def units_ok(name: str) -> bool:
        return all(g in var for g in name.split("_"))

    ok = pairs["ligand"].map(units_ok) & pairs["receptor"].map(units_ok)
    if strict and not ok.all():
        bad = sorted(
            {
                g
                for n in pairs.loc[~ok, ["ligand", "receptor"]].to_numpy().ravel()
                for g in n.split("_")
                if g not in var
            }
        )
        raise ValidationError(
            f"{source} names {len(bad)} gene(s) not in var_names: "
            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}"
        )
    pairs = pairs[ok].reset_index(drop=True)
    if pairs.empty:
        raise ValidationError(f"no candidate pair of {source} has all its genes in var_names")
    return pairs


def _scale(adata: ad.AnnData) -> np.ndarray | None:
    """Per-cell factor to counts per 10k when ``X`` holds counts (non-negative
    integers); ``None`` when ``X`` is already normalised (then used as given)."""
    x = adata.X
    data = x.data if sp.issparse(x) else np.asarray(x)
    sample = np.asarray(data).ravel()[:100_000]
    if not sample.size or (sample < 0).any() or not np.allclose(sample, np.round(sample)):
        return None
    total = np.asarray(x.sum(axis=1)).ravel().astype(np.float64)
    return _TARGET_SUM / np.maximum(total, 1.0)


def _normalised(adata: ad.AnnData, cols: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """Dense log1p(counts per 10k) of the columns ``cols`` (``X`` as given without a
    ``scale``)."""
    sub = adata.X[:, cols]
    sub = sub.toarray() if sp.issparse(sub) else np.asarray(sub)
    sub = sub.astype(np.float64)
    return np.log1p(sub * scale[:, None]) if scale is not None else sub


def _response_columns(adata: ad.AnnData, scale: np.ndarray | None, limit: int) -> np.ndarray:
    """All genes, or the ``limit`` most variable (of the normalised expression)."""
    n = adata.n_vars
    if n <= limit:
        return np.arange(n)
    x = adata.X
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float64)
        if scale is not None:
            x = sp.diags(scale) @ x
            x.data = np.log1p(x.data)
        mean = np.asarray(x.mean(axis=0)).ravel()
        var = np.asarray(x.multiply(x).mean(axis=0)).ravel() - mean**2
    else:
        dense = np.asarray(x, dtype=np.float64)
        dense = np.log1p(dense * scale[:, None]) if scale is not None else dense
        var = dense.var(axis=0)
    return np.sort(np.argsort(-var, kind="stable")[:limit])


def prepare(
    adata: ad.AnnData,
    *,
    lr_pairs: pd.DataFrame | None = None,
    groupby: str = "cell_type",
    n_neighbors: int = 6,
    max_response_genes: int = 2000,
) -> CommInput:
    """Resolve pairs and cell types and compute the unit expression of every pair."""
    if not isinstance(adata, ad.AnnData):
        raise ValidationError(f"adata must be an AnnData, got {type(adata).__name__}")
    if groupby not in adata.obs.columns:
        raise ValidationError(
            f"adata.obs has no column {groupby!r} (groupby); columns: "
            f"{', '.join(map(str, adata.obs.columns[:10]))}"
        )
    pairs = resolve_pairs(adata, lr_pairs, strict=True)
    col = adata.obs[groupby]
    if col.isna().any():
        raise ValidationError(f"obs[{groupby!r}] has {int(col.isna().sum())} missing labels")
    cat = pd.Categorical(col.astype(str))
    types = [str(t) for t in cat.categories]
    if len(types) < 2:
        raise ValidationError(f"obs[{groupby!r}] needs at least 2 cell types, found {types}")
    genes = sorted(
        {g for n in pd.concat([pairs["ligand"], pairs["receptor"]]) for g in n.split("_")}
    )
    scale = _scale(adata)
    expr = _normalised(adata, adata.var_names.get_indexer(genes), scale)
    pos = {g: i for i, g in enumerate(genes)}

    def unit(names: pd.Series) -> np.ndarray:
        cache: dict[str, np.ndarray] = {}
        out = np.empty((adata.n_obs, len(names)), dtype=np.float64)
        for j, name in enumerate(names):
            if name not in cache:
                cols = [pos[g] for g in name.split("_")]
                cache[name] = expr[:, cols].min(axis=1)
            out[:, j] = cache[name]
        return out

    coords = None
    if "spatial" in adata.obsm:
        coords = np.asarray(adata.obsm["spatial"], dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] < 2 or not np.isfinite(coords).all():
            raise ValidationError(
                "obsm['spatial'] must be a finite (n_cells, 2) array of coordinates"
            )
    conn = adata.obsp["spatial_connectivities"] if "spatial_connectivities" in adata.obsp else None
    resp_cols = _response_columns(adata, scale, int(max_response_genes))
    return CommInput(
        pairs=pairs,
        types=types,
        labels=np.asarray(cat.codes, dtype=np.int64),
        ligand=unit(pairs["ligand"]),
        receptor=unit(pairs["receptor"]),
        coords=coords,
        n_neighbors=int(n_neighbors),
        connectivities=conn,
        expression=_normalised(adata, resp_cols, scale),
        genes=[str(g) for g in adata.var_names[resp_cols]],
    )
