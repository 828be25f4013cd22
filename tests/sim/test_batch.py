"""simulate_batches: batch effects on top of the GRN simulator, with the truth kept."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell import ValidationError


@pytest.fixture(scope="module")
def batches():
    return vc.sim.simulate_batches(
        60, n_cell_types=3, n_cells=300, n_batches=3, isolated_types=1, method="fast", seed=1
    )


def test_layout_and_truth(batches):
    a = batches
    assert a.shape == (300, 60)
    assert set(a.obs["batch"]) == {"batch0", "batch1", "batch2"}
    assert a.X.dtype == np.int32 and a.X.min() >= 0
    eff = a.uns["vc"]["sim"]["batch_effect"]
    assert eff["gene_factor"].shape == (3, 60) and eff["library_factor"].shape == (3,)
    # the isolated type occurs only in the first batch
    iso = a.uns["vc"]["sim"]["isolated_types"]
    assert list(iso) == ["type_2"]
    assert set(a.obs.loc[a.obs["cell_type"] == "type_2", "batch"]) == {"batch0"}


def test_batch_effect_is_the_applied_one(batches):
    """Per-gene mean counts of a batch, relative to the batch-free truth, follow the factors."""
    a = batches
    eff = a.uns["vc"]["sim"]["batch_effect"]
    X = a.X.toarray().astype(float)
    true = np.asarray(a.layers["true_expression"], float)
    ratios = []
    for b in range(3):
        rows = (a.obs["batch"] == f"batch{b}").to_numpy()
        prof = X[rows].sum(0) / true[rows].sum(0)
        ratios.append(prof / prof.mean())
    f = eff["gene_factor"] / eff["gene_factor"].mean(1, keepdims=True)
    expressed = true.mean(0) > np.quantile(true.mean(0), 0.5)
    for b in range(3):
        r = np.corrcoef(np.log(ratios[b][expressed]), np.log(f[b][expressed]))[0, 1]
        assert r > 0.8
    # deeper batches have larger libraries
    lib = a.obs.groupby("batch", observed=True)["library_size"].mean().to_numpy()
    assert np.argsort(lib).tolist() == np.argsort(eff["library_factor"]).tolist()


def test_no_effect_and_reproducible():
    kw = dict(n_cell_types=2, n_cells=80, n_batches=2, method="fast", seed=3)
    a = vc.sim.simulate_batches(30, gene_sigma=0.0, library_sigma=0.0, **kw)
    assert np.allclose(a.uns["vc"]["sim"]["batch_effect"]["gene_factor"], 1.0)
    b = vc.sim.simulate_batches(30, gene_sigma=0.0, library_sigma=0.0, **kw)
    assert (a.X != b.X).nnz == 0


def test_bad_options():
    with pytest.raises(ValidationError, match="isolated_types"):
        vc.sim.simulate_batches(20, n_cell_types=2, isolated_types=2, method="fast")
    with pytest.raises(ValidationError, match="n_batches"):
        vc.sim.simulate_batches(20, n_batches=0, method="fast")
