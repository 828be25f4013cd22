"""Fixtures of the GRN tests (tiny synthetic networks built in memory)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def linear_gaussian(n_genes: int = 10, n_cells: int = 300, seed: int = 0):
    """Acyclic linear-Gaussian network: each gene >= 3 gets 2 parents among earlier genes.

    Returns ``(X cells x genes DataFrame, truth edge table with signs, weight matrix)``.
    """
    rng = np.random.default_rng(seed)
    W = np.zeros((n_genes, n_genes))
    for t in range(3, n_genes):
        for r in rng.choice(t, 2, replace=False):
            W[r, t] = rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.5)
    X = np.zeros((n_cells, n_genes))
    for t in range(n_genes):
        X[:, t] = X @ W[:, t] + rng.normal(size=n_cells)
    genes = [f"g{i}" for i in range(n_genes)]
    r, t = np.nonzero(W)
    truth = pd.DataFrame(
        {
            "regulator": [genes[i] for i in r],
            "target": [genes[j] for j in t],
            "sign": np.sign(W[r, t]).astype(int),
        }
    )
    return pd.DataFrame(X, columns=genes), truth, W


@pytest.fixture
def linear_net():
    return linear_gaussian()


@pytest.fixture
def make_linear_net():
    """The generator itself, for tests that need other sizes."""
    return linear_gaussian
