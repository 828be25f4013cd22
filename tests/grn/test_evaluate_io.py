"""evaluate / stability / heatmap / SERGIO reader / edge writer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell._errors import DataFormatError, ValidationError

GENES = ["a", "b", "c", "d"]
TRUTH = pd.DataFrame(
    {"Gene1": ["a", "b", "a", "x"], "Gene2": ["b", "c", "a", "a"], "Type": ["+", "-", "+", "+"]}
)


def _edges(order: list[tuple[str, str]], signs: dict | None = None) -> pd.DataFrame:
    rows = [(r, t, float(len(order) - i)) for i, (r, t) in enumerate(order)]
    df = pd.DataFrame(rows, columns=["regulator", "target", "score"])
    if signs is not None:
        df["sign"] = [signs.get((r, t), 1) for r, t, _ in rows]
    return df


def test_evaluate_perfect_and_definitions():
    perfect = _edges([("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")], {("b", "c"): -1})
    res = vc.grn.evaluate(perfect, TRUTH, genes=GENES)
    # candidates: 4 * 3 ordered pairs; truth keeps a->b, b->c (self-loop and unknown x dropped)
    assert res["n_candidates"] == 12 and res["n_true_edges"] == 2 and res["n_truth_dropped"] == 2
    assert res["density"] == pytest.approx(2 / 12)
    assert res["auprc"] == pytest.approx(1.0)
    assert res["auroc"] == pytest.approx(1.0)
    assert res["auprc_ratio"] == pytest.approx(6.0)
    assert res["epr"] == pytest.approx(6.0)
    assert res["signed_accuracy"] == 1.0
    wrong_sign = _edges([("a", "b"), ("b", "c")], {("a", "b"): -1, ("b", "c"): -1})
    assert vc.grn.evaluate(wrong_sign, TRUTH, genes=GENES)["signed_accuracy"] == 0.5


def test_evaluate_returns_the_evaluation_contract():
    e = _edges([("c", "d"), ("a", "b"), ("d", "a"), ("b", "c")])
    res = vc.grn.evaluate(e, TRUTH, genes=GENES, method="pearson", split="obs", seed=3)
    assert isinstance(res, vc.metrics.EvalResult) and res.task == "grn"
    t = res.table
    assert list(t["metric"]) == ["auprc_ratio", "epr", "auroc", "auprc"]
    assert set(t["unit"]) == {"network"} and set(t["split"]) == {"obs"} and set(t["seed"]) == {3}
    assert t["baseline"].all()  # pearson is flagged a baseline in vc.grn.METHODS
    assert t["higher_is_better"].all()
    for m in ("auprc_ratio", "epr", "auroc", "auprc"):
        assert res.value("pearson", m) == res[m]  # the table and the report agree
    assert res.meta["n_true_edges"] == 2
    # the historic dict reads as before (the CLI merges it into its JSON)
    assert dict(res)["n_candidates"] == 12 and {**res}["density"] == pytest.approx(2 / 12)
    plain = vc.grn.evaluate(e, TRUTH, genes=GENES)
    assert set(plain.table["method"]) == {"edges"} and not plain.table["baseline"].any()
    assert plain.brief().startswith("grn evaluation {auprc: ")


def test_evaluate_hand_computed_ranking():
    # ranks: c->d (F), a->b (T), d->a (F), b->c (T); others unlisted
    e = _edges([("c", "d"), ("a", "b"), ("d", "a"), ("b", "c")])
    res = vc.grn.evaluate(e, TRUTH, genes=GENES)
    assert res["auprc"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)  # average precision
    assert res["epr"] == pytest.approx(0.5 / (2 / 12))
    # regulator restriction: only a may regulate -> b->c leaves the truth
    r = vc.grn.evaluate(e, TRUTH, genes=GENES, regulators=["a"])
    assert r["n_candidates"] == 3 and r["n_true_edges"] == 1 and r["auprc"] == pytest.approx(1.0)


def test_evaluate_errors():
    e = _edges([("a", "b")])
    with pytest.raises(ValidationError, match="no true edge"):
        vc.grn.evaluate(e, pd.DataFrame({"regulator": ["x"], "target": ["y"]}), genes=GENES)
    with pytest.raises(ValidationError, match="lacks column"):
        vc.grn.evaluate(e, pd.DataFrame({"from": ["a"]}), genes=GENES)


def test_stability_and_jaccard(linear_net):
    X, _, _ = linear_net
    same = vc.grn.stability(X, method="pearson", seeds=(0, 0), subsample=1.0, top_k=10)
    assert same["mean_jaccard"] == 1.0
    sub = vc.grn.stability(X, method="pearson", seeds=(0, 1, 2), subsample=0.5, top_k=10)
    assert len(sub["pairwise"]) == 3 and 0 < sub["min_jaccard"] <= sub["mean_jaccard"] <= 1
    a = _edges([("a", "b"), ("b", "c")])
    b = _edges([("a", "b"), ("c", "d")])
    assert vc.grn.jaccard_top_k(a, b, 2) == pytest.approx(1 / 3)


def test_heatmap_draws_the_table(tmp_path):
    table = pd.DataFrame([[1.2, 2.0], [0.9, np.nan]], index=["m1", "m2"], columns=["d1", "d2"])
    fig = vc.pl.grn_heatmap(table, path=tmp_path / "h.png")
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["0.90", "1.20", "2.00"]  # NaN blank
    assert [t.get_text() for t in ax.get_yticklabels()] == ["m1", "m2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["d1", "d2"]
    img = ax.images[0].get_array()
    assert img[0, 0] == 1.0 and img[1, 0] == 0.0  # scaled per column: best method brightest
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(vc.ValidationError, match=r"use one of"):
        vc.pl.grn_heatmap(table, path=tmp_path / "h.txt")
    with pytest.raises(vc.ValidationError, match="numbers"):
        vc.pl.grn_heatmap(pd.DataFrame({"a": ["x"]}))


def _write_sergio(folder, n_genes=4, n_cells=6):
    rng = np.random.default_rng(0)
    folder.mkdir()
    X = rng.uniform(0, 5, (n_genes, n_cells))
    for kind in ("T", "S"):
        pd.DataFrame(X).to_csv(folder / f"simulated_noNoise_{kind}_0.csv")
    (folder / "gt_GRN.csv").write_text("0,2\n1,2\n2,3\n")
    (folder / "Interaction_cID_1.txt").write_text(
        "2.0,2.0,0.0,1.0,3.5,-2.0,2.0,2.0\n3.0,1.0,2.0,1.5,2.0\n"
    )
    (folder / "bMat_cID1.tab").write_text("0\t1\n0\t0\n")
    return X


def test_read_sergio_tiny(tmp_path):
    X = _write_sergio(tmp_path / "DS")
    a = vc.grn.read_sergio(tmp_path / "DS")
    assert a.shape == (6, 4) and list(a.var_names) == ["G0", "G1", "G2", "G3"]
    np.testing.assert_allclose(a.X, X.T)
    assert "spliced" in a.layers and "unspliced" not in a.layers
    assert a.obs["cell_type"].tolist() == ["0", "0", "0", "1", "1", "1"]
    tn = a.uns["true_network"]
    assert tn.to_dict("list") == {
        "regulator": ["G0", "G1", "G2"],
        "target": ["G2", "G2", "G3"],
        "sign": [1, -1, 1],
    }
    with pytest.raises(DataFormatError, match="simulated_noNoise_T_1"):
        vc.grn.read_sergio(tmp_path / "DS", replicate=1)


def test_read_sergio_ds4(shared_data):
    folder = shared_data / "grn" / "sergio" / "De-noised_100G_3T_300cPerT_dynamics_9_DS4"
    if not folder.is_dir():
        pytest.skip("SERGIO DS4 not in the reference data")
    a = vc.grn.read_sergio(folder)
    assert a.shape == (900, 100)
    assert a.obs["cell_type"].value_counts().tolist() == [300, 300, 300]
    tn = a.uns["true_network"]
    assert len(tn) == 137 and set(tn["sign"]) == {-1, 1}


def test_write_edges_and_regulators(tmp_path):
    e = _edges([("a", "b"), ("b", "c")])
    for name in ("e.csv", "e.parquet", "e.tsv"):
        path = vc.grn.write_edges(e, tmp_path / name)
        back = (
            pd.read_parquet(path)
            if name.endswith("parquet")
            else pd.read_csv(path, sep=None, engine="python")
        )
        assert back["regulator"].tolist() == ["a", "b"]
    with pytest.raises(ValidationError, match="csv"):
        vc.grn.write_edges(e, tmp_path / "e.xlsx")
    before = (tmp_path / "e.csv").read_text()
    with pytest.raises(ValidationError, match="overwrite"):  # the output rule
        vc.grn.write_edges(e.iloc[:1], tmp_path / "e.csv")
    assert (tmp_path / "e.csv").read_text() == before
    vc.grn.write_edges(e.iloc[:1], tmp_path / "e.csv", overwrite=True)
    assert pd.read_csv(tmp_path / "e.csv")["regulator"].tolist() == ["a"]
    (tmp_path / "tfs.csv").write_text("TF,Sources\nSOX9,TRRUST\nGATA4,RegNetwork\n")
    assert vc.grn.read_regulators(tmp_path / "tfs.csv") == ["SOX9", "GATA4"]
