"""Perturbation metrics: hand-computed cases, the control rule and the score table."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

import virtualcell as vc
from virtualcell._errors import ValidationError

CTRL = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
TRUE = np.array([1.0, 4.0, 3.0, 1.0, 5.5])  # changes 0, +2, 0, -3, +0.5
PRED = np.array([1.5, 3.0, 3.0, 2.0, 4.0])  # changes .5, +1, 0, -2, -1


def test_pearson_delta_against_scipy():
    want = stats.pearsonr(TRUE - CTRL, PRED - CTRL)[0]
    assert vc.metrics.pearson_delta(TRUE, PRED, CTRL) == pytest.approx(want)
    rows = vc.metrics.pearson_delta(np.vstack([TRUE, PRED]), np.vstack([PRED, TRUE]), CTRL)
    np.testing.assert_allclose(rows, [want, want])
    with pytest.warns(RuntimeWarning, match="constant"):
        assert np.isnan(vc.metrics.pearson_delta(TRUE, CTRL, CTRL))


def test_top_de_metrics_hand_computed():
    # |true change| ranking: gene 3 (3), gene 1 (2), gene 4 (0.5), genes 0, 2 (0)
    np.testing.assert_array_equal(vc.metrics.top_changed_genes(TRUE, CTRL, k=3), [3, 1, 4])
    assert vc.metrics.mse_top_de(TRUE, PRED, CTRL, k=2) == pytest.approx((1 + 1) / 2)
    assert vc.metrics.mse_top_de(
        TRUE, PRED, CTRL, de_genes=["g4"], genes=[f"g{i}" for i in range(5)]
    ) == pytest.approx(1.5**2)
    # direction over top-3: gene3 -/-, gene1 +/+, gene4 +/- -> 2/3
    assert vc.metrics.direction_agreement(TRUE, PRED, CTRL, k=3) == pytest.approx(2 / 3)
    # all genes: gene0 0 vs + (no), gene2 0 vs 0 (yes) -> 3/5
    assert vc.metrics.direction_agreement(TRUE, PRED, CTRL, k=None) == pytest.approx(3 / 5)
    # top-2 expressed in control: genes 4, 3 -> sqrt(1.5^2 + 1^2)
    assert vc.metrics.l2_top_expressed(TRUE, PRED, CTRL, k=2) == pytest.approx(np.sqrt(3.25))
    assert vc.metrics.l2_top_expressed(TRUE, PRED, CTRL, k=1000) == pytest.approx(
        np.linalg.norm(PRED - TRUE)
    )


def test_de_recall_fdp():
    assert vc.metrics.de_recall({"A", "B", "C", "D"}, {"A", "B", "X"}) == pytest.approx(0.5)
    assert vc.metrics.de_fdp({"A", "B", "C", "D"}, {"A", "B", "X"}) == pytest.approx(1 / 3)
    assert vc.metrics.de_fdp({"A"}, set()) == 0.0
    assert np.isnan(vc.metrics.de_recall(set(), {"A"}))
    with pytest.raises(ValidationError, match="not a string"):
        vc.metrics.de_recall("ABC", {"A"})


def test_bad_profiles():
    with pytest.raises(ValidationError, match="differ in shape"):
        vc.metrics.mse_top_de(TRUE, PRED[:4], CTRL)
    with pytest.raises(ValidationError, match="NaN"):
        vc.metrics.l2_top_expressed(TRUE, PRED, np.r_[CTRL[:4], np.nan])
    with pytest.raises(ValidationError, match="not among the genes"):
        vc.metrics.mse_top_de(TRUE, PRED, CTRL, de_genes=["zz"], genes=list("abcde"))


def _dataset():
    rng = np.random.default_rng(0)
    n_genes = 6
    labels = ["control"] * 8 + ["A"] * 4 + ["B"] * 4 + ["A+B"] * 4
    ct = (["t1", "t2"] * 10)[: len(labels)]
    x = rng.poisson(5, size=(len(labels), n_genes)).astype(float)
    obs = pd.DataFrame(
        {"perturbation": labels, "ct": ct}, index=[f"c{i}" for i in range(len(labels))]
    )
    a = ad.AnnData(sparse.csr_matrix(x), obs=obs)
    a.var_names = [f"g{i}" for i in range(n_genes)]
    return a, x


def test_control_mean_rule():
    a, x = _dataset()
    ctrl = vc.metrics.control_mean(a)
    np.testing.assert_allclose(ctrl.loc["all"], x[:8].mean(0))
    by = vc.metrics.control_mean(a, groupby="ct")
    np.testing.assert_allclose(by.loc["t1"], x[0:8:2].mean(0))
    np.testing.assert_allclose(by.loc["t2"], x[1:8:2].mean(0))
    b = a[a.obs["perturbation"] != "control"].copy()
    with pytest.raises(ValidationError, match="no 'control' cells"):
        vc.metrics.control_mean(b)
    c = a[~((a.obs["perturbation"] == "control") & (a.obs["ct"] == "t2"))].copy()
    with pytest.raises(ValidationError, match=r"no control cells for ct = \['t2'\]"):
        vc.metrics.control_mean(c, groupby="ct")


def test_score_perturbation_matches_single_metrics():
    a, x = _dataset()
    truth_mean = {p: x[a.obs["perturbation"].to_numpy() == p].mean(0) for p in ("A", "B", "A+B")}
    ctrl = x[:8].mean(0)
    pred = pd.DataFrame(
        {p: v + np.array([0, 3.0, 0.2, 0.3, 0.4, 0.5]) for p, v in truth_mean.items()},
        index=a.var_names,
    ).T  # g1 moved into the predicted DE sets: recall below 1
    table = vc.metrics.score_perturbation(a, pred, k_de=3, k_expressed=4)
    assert list(table["perturbation"]) == ["A", "A+B", "B"]
    row = table.set_index("perturbation").loc["A+B"]
    t, p = truth_mean["A+B"], pred.loc["A+B"].to_numpy()
    assert row["pearson_delta"] == pytest.approx(vc.metrics.pearson_delta(t, p, ctrl))
    assert row["mse_top_de"] == pytest.approx(vc.metrics.mse_top_de(t, p, ctrl, k=3))
    assert row["l2_top_expressed"] == pytest.approx(vc.metrics.l2_top_expressed(t, p, ctrl, k=4))
    assert row["n_cells"] == 4
    # the DE sets by hand: the 3 genes changed most (|mean - control|) in truth / prediction
    t_de, p_de = (set(np.argsort(-np.abs(v - ctrl), kind="stable")[:3]) for v in (t, p))
    assert row["de_recall"] == pytest.approx(len(t_de & p_de) / 3) == pytest.approx(2 / 3)
    assert row["de_fdp"] == pytest.approx(len(p_de - t_de) / 3)
    # predicted cells as AnnData give the same table
    obs = pd.DataFrame({"perturbation": pred.index.to_list()}, index=["p0", "p1", "p2"])
    pa = ad.AnnData(pred.to_numpy(), obs=obs)
    pa.var_names = a.var_names
    pd.testing.assert_frame_equal(
        vc.metrics.score_perturbation(a, pa, k_de=3, k_expressed=4), table
    )
    with pytest.raises(ValidationError, match="without observed cells"):
        vc.metrics.score_perturbation(a, pred.rename(index={"A": "C"}))
    with pytest.raises(ValidationError, match="lack 1 gene"):
        vc.metrics.score_perturbation(a, pred.drop(columns="g0"))


def test_score_perturbation_groupby():
    a, _ = _dataset()
    pa = a[a.obs["perturbation"] != "control"].copy()
    table = vc.metrics.score_perturbation(a, pa, groupby="ct", k_de=2)
    assert len(table) == 6 and set(table["group"]) == {"t1", "t2"}
    np.testing.assert_allclose(table["mse"], 0.0)  # prediction = observed means
    np.testing.assert_allclose(table["pearson_delta"], 1.0)
    np.testing.assert_allclose(table["de_recall"], 1.0)
