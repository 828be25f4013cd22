"""Tests of the GRN simulator (vc.sim): kinetics, perturbations, noise, output format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import virtualcell as vc
from virtualcell._errors import ValidationError
from virtualcell.data._conventions import split_perturbation
from virtualcell.sim._kinetics import mean_field


def _motif(n_hill: float = 2.0) -> vc.sim.GRN:
    """A -> C <- B (B represses), C -> D; E is an unrelated master regulator."""
    edges = pd.DataFrame(
        {
            "regulator": ["A", "B", "C"],
            "target": ["C", "C", "D"],
            "sign": [1, -1, 1],
            "weight": [3.0, 2.0, 4.0],
            "hill_n": [n_hill] * 3,
        }
    )
    basal = pd.DataFrame({"t0": [2.0, 1.5, 1.0], "t1": [0.5, 3.0, 2.0]}, index=["A", "B", "E"])
    return vc.sim.GRN.from_edges(edges, genes=list("ABCDE"), basal=basal)


@pytest.fixture(scope="module")
def small() -> object:
    return vc.sim.simulate_perturbseq(
        25, n_cell_types=2, cells_per_condition=40, singles=8, doubles=4, seed=11
    )


def test_mean_field_matches_hand_computation():
    grn = _motif()
    x = mean_field(grn)  # genes x cell types
    lam = 0.8
    a, b = np.array([2.0, 0.5]) / lam, np.array([1.5, 3.0]) / lam
    ha, hb = a.mean(), b.mean()  # SERGIO half response: mean regulator level
    hill = lambda v, h: v**2 / (h**2 + v**2)  # noqa: E731
    c = (3.0 * hill(a, ha) + 2.0 * (1 - hill(b, hb))) / lam
    d = 4.0 * hill(c, c.mean()) / lam
    np.testing.assert_allclose(x[:, :], np.vstack([a, b, c, d, [1.0 / lam, 2.0 / lam]]), rtol=1e-9)
    np.testing.assert_allclose(grn.edges["half_response"], [ha, hb, c.mean()])


def test_sample_grn_topology():
    grn = vc.sim.sample_grn(200, n_master_regulators=15, mean_out_degree=2.0, seed=3)
    assert grn.is_acyclic()
    assert len(grn.master_regulators) == 15
    assert not set(grn.master_regulators) & set(grn.edges["target"])
    out = grn.edges["regulator"].value_counts()
    assert 1.7 < len(grn.edges) / grn.n_genes < 2.6
    assert out.max() > 4 * out.mean()  # hubs: heavy-tailed out-degree
    assert 0.2 < (grn.edges["sign"] < 0).mean() < 0.4
    b = grn.basal.loc[grn.master_regulators]
    assert (b.to_numpy() > 0).all() and (b.std(axis=1) > 0).all()
    assert (grn.basal.drop(index=grn.master_regulators).to_numpy() == 0).all()


def test_from_edges_validation():
    with pytest.raises(ValidationError, match="cycle"):
        vc.sim.GRN.from_edges(pd.DataFrame({"regulator": ["A", "B"], "target": ["B", "A"]}))
    with pytest.raises(ValidationError, match="column"):
        vc.sim.GRN.from_edges(pd.DataFrame({"regulator": ["A"], "tgt": ["B"]}))
    # the one edge-table format: source/target is the same as regulator/target
    grn = vc.sim.GRN.from_edges(pd.DataFrame({"source": ["A"], "target": ["B"]}))
    assert grn.edges[["regulator", "target"]].values.tolist() == [["A", "B"]]
    with pytest.raises(ValidationError, match="sign"):
        vc.sim.GRN.from_edges(pd.DataFrame({"Gene1": ["A"], "Gene2": ["B"], "Type": ["?"]}))
    grn = vc.sim.GRN.from_edges(pd.DataFrame({"Gene1": ["A"], "Gene2": ["B"], "Type": ["-"]}))
    assert grn.edges["sign"].tolist() == [-1] and grn.master_regulators == ["A"]


def test_determinism(small):
    again = vc.sim.simulate_perturbseq(
        25, n_cell_types=2, cells_per_condition=40, singles=8, doubles=4, seed=11
    )
    assert (small.X != again.X).nnz == 0
    np.testing.assert_array_equal(small.layers["true_expression"], again.layers["true_expression"])
    pd.testing.assert_frame_equal(small.obs, again.obs)
    other = vc.sim.simulate_perturbseq(
        25, n_cell_types=2, cells_per_condition=40, singles=8, doubles=4, seed=12
    )
    assert (small.X != other.X).nnz > 0


def test_output_format(small):
    # documented: X is CSR int32 counts, true expression float32
    assert sp.issparse(small.X) and small.X.format == "csr" and small.X.dtype == np.int32
    assert small.layers["true_expression"].dtype == np.float32
    x = small.X.toarray()
    assert np.issubdtype(x.dtype, np.integer) and x.min() >= 0 and x.sum() > 0
    labels = set(small.obs["perturbation"].astype(str))
    doubles = [p for p in labels if len(split_perturbation(p)) == 2]
    assert "control" in labels and len(doubles) == 4 and len(labels) == 1 + 8 + 4
    for d in doubles:
        a, b = split_perturbation(d)
        assert a < b and a in labels and b in labels  # sorted; singles present
    net = small.uns["true_network"]
    assert list(net.columns[:4]) == ["regulator", "target", "sign", "weight"]
    assert set(net["sign"]) <= {-1, 1} and (net["weight"] > 0).all()
    te = small.uns["true_effects"]
    assert te["values"].shape == (2, 13, 25)
    assert np.all(te["values"][:, 0] == 0)
    assert small.varm["true_effects"].shape == (25, 12)
    assert small.uns["vc"]["sim"]["seed"] == 11
    assert set(small.obs["cell_type"]) == {"type_0", "type_1"}


def test_knockout_zeroes_gene_and_shifts_targets():
    grn = _motif()
    adata = vc.sim.simulate_perturbseq(
        grn, cells_per_condition=200, singles=["A", "B"], doubles=0, seed=0
    )
    true = pd.DataFrame(adata.layers["true_expression"], columns=adata.var_names)
    pert = adata.obs["perturbation"].astype(str).to_numpy()
    assert (true.loc[pert == "A", "A"] == 0).all() and (true.loc[pert == "B", "B"] == 0).all()
    assert (true.loc[pert == "control", "A"] > 0).mean() > 0.9
    model = vc.sim.true_effects(adata)
    emp = vc.sim.true_effects(adata, source="true_expression")
    for ct in ["t0", "t1"]:
        # A activates C -> knockout lowers C (and D downstream); B represses C -> raises it
        assert model.loc[(ct, "A"), "C"] < 0 and emp.loc[(ct, "A"), "C"] < 0
        assert model.loc[(ct, "A"), "D"] < 0 and emp.loc[(ct, "A"), "D"] < 0
        assert model.loc[(ct, "B"), "C"] > 0 and emp.loc[(ct, "B"), "C"] > 0
        assert model.loc[(ct, "A"), "E"] == 0  # unrelated gene untouched
    counts = vc.sim.true_effects(adata, source="counts")
    assert counts.loc[("t0", "A"), "C"] < 0


def test_true_effects_from_counts_refuses_a_logged_x(small):
    """``source="counts"`` reads X through ``vc.data.expression(space="counts")``: a
    log-normalised X is refused with the layer rule's message, not scaled as if counts."""
    logged = small.copy()
    logged.X = sp.csr_matrix(np.log1p(logged.X.toarray() / 3.0))
    with pytest.raises(ValidationError, match="does not look like counts"):
        vc.sim.true_effects(logged, source="counts")
    # the counts themselves pass, and the noise-free layer is read as stored
    assert np.isfinite(vc.sim.true_effects(small, source="counts").to_numpy()).all()
    bare = small.copy()
    del bare.layers["true_expression"]
    with pytest.raises(ValidationError, match="keep_true_expression"):
        vc.sim.true_effects(bare, source="true_expression")


def test_knockdown_and_overexpression_scale_production():
    grn = _motif()
    kd = vc.sim.simulate_perturbseq(
        grn, cells_per_condition=20, singles=["A"], doubles=0, perturbation_type="knockdown",
        knockdown_factor=0.3, seed=0,
    )  # fmt: skip
    te = kd.uns["true_effects"]
    a = list(kd.var_names).index("A")
    ctrl = te["control_mean"][:, a]
    np.testing.assert_allclose(te["values"][:, 1, a], (0.3 - 1.0) * ctrl, rtol=1e-6)
    oe = vc.sim.simulate_perturbseq(
        grn, cells_per_condition=20, singles=["A", "D"], doubles=0,
        perturbation_type="overexpression", seed=0,
    )  # fmt: skip
    eff = vc.sim.true_effects(oe)
    assert (eff.xs("A", level="perturbation")[["A", "C", "D"]] > 0).all().all()
    assert set(oe.obs["perturbation_type"]) == {"control", "overexpression"}
    with pytest.raises(ValidationError, match="knockdown_factor"):
        vc.sim.simulate_perturbseq(grn, singles=["A"], doubles=0, perturbation_type="knockdown",
                                   knockdown_factor=1.5)  # fmt: skip
    with pytest.raises(ValidationError, match="not in the network"):
        vc.sim.simulate_perturbseq(grn, singles=["Z"], doubles=0)


def test_nonadditivity_on_converging_motif():
    # A -> C <- B, C -> D with a steep Hill: D saturates, so A+B is not additive at D
    edges = pd.DataFrame(
        {"regulator": ["A", "B", "C", "E"], "target": ["C", "C", "D", "F"],
         "sign": [1, 1, 1, 1], "weight": [2.0, 2.0, 5.0, 3.0], "hill_n": [2.0, 2.0, 4.0, 2.0]}
    )  # fmt: skip
    basal = pd.DataFrame({"t0": [2.0, 2.0, 2.0]}, index=["A", "B", "E"])
    grn = vc.sim.GRN.from_edges(edges, basal=basal)
    adata = vc.sim.simulate_perturbseq(
        grn, cells_per_condition=300, singles=["A", "B", "E"], doubles=[("A", "B"), ("A", "E")],
        seed=1,
    )  # fmt: skip
    na = vc.sim.nonadditivity(adata).set_index("perturbation")
    eff = vc.sim.true_effects(adata).loc["t0"]
    resid_d = eff.loc["A+B", "D"] - eff.loc["A", "D"] - eff.loc["B", "D"]
    assert abs(resid_d) > 0.5
    assert abs(eff.loc["A+B", "C"] - eff.loc["A", "C"] - eff.loc["B", "C"]) < 1e-9  # promoter sum
    assert na.loc["A+B", "nonadditive"] and na.loc["A+B", "class"] != "additive"
    assert na.loc["A+B", "n_genes_nonadditive"] >= 1
    # disjoint pair: exactly additive
    assert not na.loc["A+E", "nonadditive"] and na.loc["A+E", "class"] == "additive"
    assert na.loc["A+E", "norm_residual"] < 1e-9


def test_sampler_includes_converging_pairs():
    grn = vc.sim.sample_grn(60, seed=5)
    adata = vc.sim.simulate_perturbseq(
        grn, cells_per_condition=3, singles=20, doubles=10, method="fast", seed=5
    )
    kids = grn.edges.groupby("regulator")["target"].apply(set).to_dict()
    pairs = [split_perturbation(p) for p in adata.uns["true_effects"]["conditions"]]
    pairs = [p for p in pairs if len(p) == 2]

    def desc(g, seen=None):
        seen = set() if seen is None else seen
        for c in kids.get(g, ()):
            if c not in seen:
                seen.add(c)
                desc(c, seen)
        return seen

    converging = [p for p in pairs if desc(p[0]) & desc(p[1])]
    assert len(pairs) == 10 and len(converging) >= 5


def test_h5ad_roundtrip(small, tmp_path):
    import anndata as ad

    path = tmp_path / "sim.h5ad"
    small.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(
        back.uns["true_network"].reset_index(drop=True),
        small.uns["true_network"].reset_index(drop=True),
        check_dtype=False,
    )
    np.testing.assert_array_equal(
        back.uns["true_effects"]["values"], small.uns["true_effects"]["values"]
    )
    pd.testing.assert_frame_equal(vc.sim.nonadditivity(back), vc.sim.nonadditivity(small))
    assert back.uns["vc"]["sim"]["seed"] == 11
    assert (back.X != small.X).nnz == 0


def test_model_effects_agree_with_simulated_cells():
    adata = vc.sim.simulate_perturbseq(
        30, n_cell_types=1, cells_per_condition=400, singles=6, doubles=0, seed=2
    )
    m = vc.sim.true_effects(adata).to_numpy().ravel()
    e = vc.sim.true_effects(adata, source="true_expression").to_numpy().ravel()
    assert np.corrcoef(m, e)[0, 1] > 0.9


def test_fast_method_close_to_cle():
    grn = vc.sim.sample_grn(30, seed=4)
    kw = dict(cells_per_condition=10, n_control_cells=600, singles=2, doubles=0, seed=4)
    cle = vc.sim.simulate_perturbseq(grn, **kw)
    fast = vc.sim.simulate_perturbseq(grn, method="fast", **kw)
    ctrl = (cle.obs["perturbation"] == "control").to_numpy()
    a = cle.layers["true_expression"][ctrl].mean(0)
    b = fast.layers["true_expression"][ctrl].mean(0)
    assert np.corrcoef(a, b)[0, 1] > 0.95


def test_technical_noise():
    rng = np.random.default_rng(0)
    expr = rng.gamma(2.0, 2.0, size=(500, 40))
    counts, info = vc.sim.add_technical_noise(
        expr, vc.sim.TechnicalNoise(umis_per_gene=10, dropout_percentile=None), rng
    )
    assert counts.dtype == np.int32 and counts.min() >= 0
    lib = info["library_size"]
    np.testing.assert_allclose(counts.sum(1).mean() / lib.mean(), 1.0, atol=0.05)
    assert abs(np.log(np.median(lib)) - np.log(400)) < 0.1
    c2, _ = vc.sim.add_technical_noise(expr, vc.sim.TechnicalNoise(umis_per_gene=10), rng)
    assert (c2 == 0).mean() > (counts == 0).mean() + 0.1  # dropout adds zeros


def test_sergio_rs_crosscheck():
    pytest.importorskip("sergio_rs")
    pytest.importorskip("polars")
    from virtualcell.sim._sergio import sergio_rs_crosscheck

    res = sergio_rs_crosscheck(vc.sim.sample_grn(20, seed=0), n_cells=300, seed=0)
    assert (res["pearson_targets"] > 0.9).all()
    assert (res["median_rel_diff_targets"] < 0.25).all()


def test_cli_tiny(tmp_path):
    import anndata as ad

    from virtualcell.cli import main

    out = tmp_path / "tiny.h5ad"
    code = main(
        ["sim", "--genes", "15", "--cell-types", "2", "--cells-per-condition", "10",
         "--singles", "4", "--doubles", "2", "--seed", "1", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    adata = ad.read_h5ad(out)
    labels = set(adata.obs["perturbation"].astype(str))
    assert len(labels) == 7 and "control" in labels
    assert {"regulator", "target", "sign", "weight"} <= set(adata.uns["true_network"].columns)
    assert main(["sim", "--genes", "15", "--out", str(tmp_path / "x.csv")]) == 2


def test_simulate_perturbseq_names_an_unknown_option_and_its_near_miss():
    # found by the new-user round: the error named sample_grn(), which the user never called
    with pytest.raises(vc.ValidationError, match=r"unknown option\(s\) \['n_cells_per_condition'\] \(did you mean 'cells_per_condition'\?\)"):  # fmt: skip
        vc.sim.simulate_perturbseq(30, n_cells_per_condition=20)
