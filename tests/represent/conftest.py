"""Tiny labelled cells for the representation tests (built in memory)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def typed_cells(cell_factory):
    """240 count cells x 48 genes, 4 well-separated types, 2 batches."""
    a = cell_factory(n_cells=240, n_genes=48, seed=0, groups=4)
    a.obs["batch"] = np.where(np.arange(a.n_obs) % 3 == 0, "b1", "b0")
    return a
