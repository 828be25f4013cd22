"""Tiny labelled cells for the text tests (built in memory)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp


def make_typed(n_cells: int = 240, n_genes: int = 48, groups: int = 4, seed: int = 0) -> ad.AnnData:
    """Counts: type ``g`` over-expresses genes ``GN{6g}`` .. ``GN{6g+5}`` (gene-like names) eightfold."""
    rng = np.random.default_rng(seed)
    label = np.arange(n_cells) % groups
    rate = rng.gamma(2.0, 1.0, size=(1, n_genes)).repeat(n_cells, 0)
    block = n_genes // (2 * groups)
    for g in range(groups):
        rate[label == g, g * block : (g + 1) * block] *= 8.0
    a = ad.AnnData(sp.csr_matrix(rng.poisson(rate).astype(np.float32)))
    a.var_names = [f"GN{i}" for i in range(n_genes)]
    a.obs_names = [f"c{i}" for i in range(n_cells)]
    a.obs["cell_type"] = [f"type{g}" for g in label]
    return a
