"""Small simulated multi-omic cells, built once per session (``vc.sim.simulate_multiome``)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_mdata():
    """240 cells: 3 RNA states + 1 type hidden in RNA, 10 proteins, 120 peaks."""
    import virtualcell as vc

    return vc.sim.simulate_multiome(
        30, n_cells=240, n_cell_types=4, n_hidden_types=1, n_proteins=10, n_peaks=120,
        primed_peaks=10, surface_fold=4.0, method="fast", seed=3,
    )  # fmt: skip


@pytest.fixture
def mdata(small_mdata):
    """A fresh copy (tests may write obsm)."""
    import mudata

    with mudata.set_options(pull_on_update=False):
        return small_mdata.copy()
