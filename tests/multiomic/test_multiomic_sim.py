"""``vc.sim.simulate_multiome``: modalities, truth, the designed hidden-in-RNA types."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc


def test_structure_and_truth(small_mdata):
    m = small_mdata
    assert set(m.mod) == {"rna", "protein", "atac"}
    assert m.n_obs == 240
    assert list(m.obs["cell_type"].cat.categories) == ["type_0", "type_1", "type_2", "type_3"]
    for mod in m.mod.values():
        assert (mod.obs["cell_type"].to_numpy() == m.obs["cell_type"].to_numpy()).all()
        assert mod.obs_names.equals(m.obs_names)
    prot, atac = m["protein"], m["atac"]
    assert set(prot.var["gene"]) <= set(m["rna"].var_names)
    assert set(atac.var["gene"]) <= set(m["rna"].var_names)
    linked = atac.var["regulator"] != ""
    edges = set(
        zip(m.uns["true_network"]["regulator"], m.uns["true_network"]["target"], strict=True)
    )
    pairs = set(zip(atac.var.loc[linked, "regulator"], atac.var.loc[linked, "gene"], strict=True))
    assert pairs <= edges  # every linked peak sits on a true regulator -> target edge
    truth = m.uns["truth"]["cell_types"]
    assert truth.loc["type_3", "hidden"] and truth.loc["type_3", "rna_state"] == "type_0"
    assert len(m.uns["truth"]["surface_program"]) == 3
    # counts everywhere; protein dense (ambient background), RNA and ATAC sparse
    dense = {k: v.X.toarray() for k, v in m.mod.items()}
    for x in dense.values():
        assert (x >= 0).all() and np.allclose(x, np.round(x))
    assert (dense["protein"] == 0).mean() < 0.05
    assert (dense["rna"] == 0).mean() > 0.4
    assert (dense["atac"] == 0).mean() > 0.8 and dense["atac"].max() <= 2


def test_hidden_type_differs_in_protein_not_rna(small_mdata):
    m = small_mdata
    lab = m.obs["cell_type"].to_numpy()
    parent, hidden = lab == "type_0", lab == "type_3"
    true = m["rna"].layers["true_expression"]
    rel = np.abs(true[hidden].mean(0) - true[parent].mean(0)) / (true[parent].mean(0) + 1e-3)
    other = np.abs(true[lab == "type_1"].mean(0) - true[parent].mean(0)) / (
        true[parent].mean(0) + 1e-3
    )
    assert np.median(rel) < 0.1 < np.median(other)  # same RNA state, another one differs
    prog = m.uns["truth"]["surface_program"]["protein"].tolist()
    clr = np.log1p(m["protein"].X.toarray())
    cols = [list(m["protein"].var_names).index(p) for p in prog]
    up = clr[hidden][:, cols].mean(0) - clr[parent][:, cols].mean(0)
    assert (up > 0.5).all()  # the surface program shows in protein (fold 4 on log scale)
    primed = m.uns["truth"]["primed_peaks"]["peak"].tolist()
    acc = m["atac"][:, primed].X.toarray() > 0
    assert acc[hidden].mean() > 3 * acc[parent].mean()


def test_seeded_and_checked():
    kw = dict(n_cells=60, n_cell_types=3, n_hidden_types=1, n_proteins=5, n_peaks=40,
              primed_peaks=4, method="fast")  # fmt: skip
    a = vc.sim.simulate_multiome(20, seed=1, **kw)
    b = vc.sim.simulate_multiome(20, seed=1, **kw)
    for k in a.mod:
        assert (a[k].X != b[k].X).nnz == 0
    with pytest.raises(vc.ValidationError, match="n_cell_types"):
        vc.sim.simulate_multiome(20, n_cell_types=2, n_hidden_types=2)
    with pytest.raises(vc.ValidationError, match="n_proteins"):
        vc.sim.simulate_multiome(20, n_proteins=50)
    with pytest.raises(vc.ValidationError, match="ambient"):
        vc.sim.simulate_multiome(20, ambient=-1.0)
