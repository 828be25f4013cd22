"""Quality-control metrics and filters (wrapping ``scanpy.pp.calculate_qc_metrics``)."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
from scipy import sparse

from .._errors import ValidationError
from ._record import check_finite_nonnegative, keep_counts, record_step

__all__ = ["qc"]


def qc(
    adata: ad.AnnData,
    *,
    min_genes: int = 200,
    min_cells: int = 3,
    max_genes: int | None = None,
    min_counts: float | None = None,
    max_counts: float | None = None,
    max_pct_mito: float | None = None,
    mito_prefix: Sequence[str] = ("MT-", "mt-"),
) -> dict:
    """Compute QC metrics and filter cells, then genes (in place).

    Metrics (scanpy names) are written to ``obs``: ``n_genes_by_counts``,
    ``total_counts``, ``pct_counts_mito``; and ``var``: ``mito``, ``n_cells_by_counts``
    ... Cells are kept when ``min_genes <= n_genes_by_counts <= max_genes``,
    ``min_counts <= total_counts <= max_counts`` and ``pct_counts_mito <= max_pct_mito``
    (``None`` disables a bound); then genes detected (> 0) in at least ``min_cells`` of
    the kept cells are kept. This equals ``sc.pp.filter_cells(min_genes=...)`` followed
    by ``sc.pp.filter_genes(min_cells=...)``. Integer-valued ``X`` is copied to
    ``layers["counts"]`` first.

    Parameters
    ----------
    adata
        Counts (cells x genes), modified in place.
    min_genes, max_genes, min_counts, max_counts, max_pct_mito
        Cell filters.
    min_cells
        Gene filter.
    mito_prefix
        Gene-name prefixes of mitochondrial genes.

    Returns
    -------
    dict
        The step record appended to ``uns["vc"]["preprocessing"]``.

    Raises
    ------
    ValidationError
        Negative / non-finite values, or the filters would remove every cell or gene
        (``adata`` is then left unchanged).
    """
    import scanpy as sc

    check_finite_nonnegative(adata, what="qc")
    before = adata.shape
    mito = np.asarray([str(g).startswith(tuple(mito_prefix)) for g in adata.var_names])
    metrics_obs, metrics_var = sc.pp.calculate_qc_metrics(
        ad.AnnData(X=adata.X, var=adata.var.assign(mito=mito)),
        qc_vars=["mito"],
        percent_top=None,
        log1p=False,
        inplace=False,
    )
    n_genes = metrics_obs["n_genes_by_counts"].to_numpy()
    total = metrics_obs["total_counts"].to_numpy()
    pct = metrics_obs["pct_counts_mito"].to_numpy()
    keep = n_genes >= min_genes
    if max_genes is not None:
        keep &= n_genes <= max_genes
    if min_counts is not None:
        keep &= total >= min_counts
    if max_counts is not None:
        keep &= total <= max_counts
    if max_pct_mito is not None:
        keep &= np.nan_to_num(pct) <= max_pct_mito
    if not keep.any():
        raise ValidationError(
            f"qc: no cell passes the filters (min_genes={min_genes}, max_genes={max_genes}, "
            f"min_counts={min_counts}, max_counts={max_counts}, max_pct_mito={max_pct_mito}); "
            f"median genes per cell is {np.median(n_genes):.0f}"
        )
    x_kept = adata.X[keep]
    detected = (x_kept > 0).sum(axis=0)
    detected = np.asarray(detected).ravel() if sparse.issparse(x_kept) else np.asarray(detected)
    keep_genes = detected >= min_cells
    if not keep_genes.any():
        raise ValidationError(f"qc: no gene is detected in at least min_cells={min_cells} cells")

    counts_kept = keep_counts(adata)
    adata.var["mito"] = mito
    for col in metrics_var.columns:
        adata.var[col] = metrics_var[col].to_numpy()
    for col in ("n_genes_by_counts", "total_counts", "total_counts_mito", "pct_counts_mito"):
        adata.obs[col] = metrics_obs[col].to_numpy()
    adata._inplace_subset_obs(np.flatnonzero(keep))
    adata._inplace_subset_var(np.flatnonzero(keep_genes))
    adata.var["n_cells_by_counts"] = detected[keep_genes]
    params = {
        "min_genes": min_genes,
        "min_cells": min_cells,
        "max_genes": max_genes,
        "min_counts": min_counts,
        "max_counts": max_counts,
        "max_pct_mito": max_pct_mito,
        "mito_prefix": list(mito_prefix),
        "counts_layer": counts_kept,
        "n_mito_genes": int(mito.sum()),
    }
    return record_step(adata, "qc", params, before)
