"""Engine correctness (issue 22, item 5): a knocked-out gene stays knocked out in every
condition that knocks it out, and the CLI and ``vc.tl.predict_perturbation`` give the same
numbers for the same input (one code path)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import virtualcell as vc
from conftest import linear_cells
from virtualcell.cli import main

ENGINES = [pytest.param("network", id="engine-net"), pytest.param("primed_network", id="primed")]


def _dream4(shared_data, k=1, size=10):
    return (
        shared_data / "grn" / "dream4" / f"DREAM4_InSilico_Size{size}" / f"insilico_size{size}_{k}"
    )


@pytest.mark.shared_data
@pytest.mark.parametrize("method", ENGINES)
def test_double_knockout_clamps_both_genes_and_cli_equals_tl(shared_data, tmp_path, method):
    from virtualcell.data import read_dream4

    folder = _dream4(shared_data)
    adata = read_dream4(folder)
    assert (adata.obs["experiment"].astype(str) == "timeseries").any()  # the trap of the issue
    single = adata[(adata.obs["perturbation"].astype(str) == "G1").to_numpy()
                   & (adata.obs["experiment"].astype(str) == "knockout").to_numpy()]  # fmt: skip
    tl = vc.tl.predict_perturbation(adata, perturbations=["G3", "G1+G5"], method=method)
    frame = tl.to_df()
    # G1 and G5 are at their single-knockout levels (DREAM4 knockouts: ~0) in the double
    assert frame.loc["G1+G5", "G1"] == pytest.approx(float(single.X[0, 0]), abs=1e-9)
    assert frame.loc["G1+G5", "G1"] < 0.05 and frame.loc["G1+G5", "G5"] < 0.05
    assert frame.loc["G3", "G3"] < 0.05
    out = tmp_path / "pred.h5ad"
    code = main(["perturb", "predict", str(folder), "-p", "G3,G1+G5", "-m", method,
                 "-o", str(out)])  # fmt: skip
    assert code == 0
    cli = ad.read_h5ad(out)
    assert list(cli.obs_names) == list(tl.obs_names)
    np.testing.assert_allclose(np.asarray(cli.X), np.asarray(tl.X), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ENGINES)
def test_every_perturbed_gene_clamped_in_combinations(method):
    cells = linear_cells(n_genes=12, n_singles=6, n_cells=15)
    model = vc.perturb.make_predictor(method, prior="none").fit(cells)
    pred = model.predict(["g0+g1", "g2+g3+g9"]).to_df()
    data = model.data_
    for label in pred.index:
        for g in label.split("+"):
            assert pred.loc[label, g] == pytest.approx(data.knock_level(g))
    # the knock level of a gene never perturbed is the training ratio times its control
    assert data.knock_level("g9") == pytest.approx(data.knock_ratio() * data.control[9])
    assert data.knock_level("g9") < data.control[9]


def test_steady_state_rows_drops_time_series_only():
    x = np.ones((4, 2))
    obs = {"perturbation": ["control", "control", "A", "control"],
           "experiment": ["wildtype", "timeseries", "knockout", "timeseries"]}  # fmt: skip
    import pandas as pd

    a = ad.AnnData(x, obs=pd.DataFrame(obs, index=list("abcd")))
    kept = vc.perturb.steady_state_rows(a)
    assert list(kept.obs_names) == ["a", "c"]
    b = ad.AnnData(x, obs=pd.DataFrame({"perturbation": obs["perturbation"]}, index=list("abcd")))
    assert vc.perturb.steady_state_rows(b) is b
