"""Tiny synthetic cells and a fitted rank tokenizer for model tests."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp


def make_cells(n_cells: int = 120, n_genes: int = 40, seed: int = 0, groups: int = 2) -> ad.AnnData:
    """Counts with ``groups`` cell types, each over-expressing its own block of genes."""
    rng = np.random.default_rng(seed)
    label = np.arange(n_cells) % groups
    rate = rng.gamma(2.0, 1.0, size=(1, n_genes)).repeat(n_cells, 0)
    block = n_genes // (2 * groups)
    for g in range(groups):
        rate[label == g, g * block : (g + 1) * block] *= 8.0
    X = sp.csr_matrix(rng.poisson(rate).astype(np.float32))
    adata = ad.AnnData(X)
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    adata.obs["cell_type"] = [f"type{g}" for g in label]
    adata.obs["score"] = (label * 2.0 + rng.normal(0, 0.1, n_cells)).astype(np.float32)
    return adata


def rank_tokenizer_cls():
    from virtualcell.tokenize import RankTokenizer

    return RankTokenizer


@pytest.fixture
def cells() -> ad.AnnData:
    return make_cells()


@pytest.fixture
def rank_tok(cells):
    return rank_tokenizer_cls()(max_len=24).fit(cells)


@pytest.fixture
def cell_factory():
    return make_cells


@pytest.fixture
def tokenizer_factory():
    return rank_tokenizer_cls()
