"""Labelled query sets shared by the represent_* benchmarks (installed with the package)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp

__all__ = ["pbmc68k", "wu2020"]


def pbmc68k() -> ad.AnnData:
    """pbmc68k_reduced: ``.raw`` (log-normalised) back on the linear scale, ``bulk_labels``."""
    import virtualcell as vc

    p = vc.datasets.pbmc68k_reduced()
    X = sp.csr_matrix(p.raw.X, dtype=np.float32)
    X.data = np.expm1(X.data)
    out = ad.AnnData(X, obs=p.obs[["bulk_labels"]].copy())
    out.var_names = list(p.raw.var_names)
    return out


def wu2020() -> ad.AnnData:
    """scirpy's 200 T cells: counts, ``cluster_orig`` labels, ``patient`` batches."""
    import virtualcell as vc

    w = vc.datasets.wu2020()
    out = ad.AnnData(sp.csr_matrix(w.X, dtype=np.float32), obs=w.obs[["cluster_orig", "patient"]])
    out.var_names = [str(g) for g in w.var_names]
    out.var_names_make_unique()
    return out
