"""Honest perturbation scores: perturbed genes out of the metrics, baselines with the same
free knowledge (train_mean_ko, clamp_targets), no_change's undefined correlations, the
published linear model, and the EvalResult contract of vc.perturb.evaluate."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import virtualcell as vc
from conftest import linear_cells
from virtualcell.metrics import (
    l2_top_expressed,
    mse,
    mse_top_de,
    pearson_delta,
    score_profiles,
    top_changed_genes,
)

GENES = [f"g{i}" for i in range(30)]


def _profiles(seed=0, labels=("g0", "g1", "g2+g3", "g4")):
    rng = np.random.default_rng(seed)
    control = rng.uniform(1.0, 3.0, len(GENES))
    true = np.vstack([control + rng.normal(scale=0.5, size=len(GENES)) for _ in labels])
    return true, control, list(labels)


def test_a_prediction_perfect_except_on_its_targets_scores_perfectly_without_them():
    true, control, labels = _profiles()
    pred = true.copy()
    gi = {g: i for i, g in enumerate(GENES)}
    for i, lab in enumerate(labels):
        for g in lab.split("+"):  # both genes of the double are wrong
            pred[i, gi[g]] += 5.0
    table = score_profiles(true, pred, control, labels=labels, genes=GENES)
    np.testing.assert_allclose(table["pearson_delta"], 1.0)
    np.testing.assert_allclose(table["pearson_delta_top20_de"], 1.0)
    for m in ("mse", "mae", "mse_top20_de", "l2"):
        np.testing.assert_allclose(table[m], 0.0, atol=1e-12)
    np.testing.assert_allclose(table["direction_agreement"], 1.0)
    np.testing.assert_allclose(table["pds"], 1.0)
    np.testing.assert_allclose(table["target_abs_error"], 5.0)
    with_targets = score_profiles(true, pred, control, labels=labels, genes=GENES,
                                  include_targets=True)  # fmt: skip
    assert (with_targets["pearson_delta"] < 0.99).all()
    assert (with_targets["l2"] > 4.9).all() and (with_targets["mse"] > 0.5).all()
    np.testing.assert_allclose(with_targets["target_abs_error"], 5.0)


def test_top20_de_and_top_expressed_genes_are_chosen_among_the_other_genes():
    true, control, labels = _profiles(seed=1, labels=("g5",))
    control[5] = 100.0  # the target is the most expressed gene ...
    true[0, 5] = 0.0  # ... and has by far the largest change
    pred = true.copy()
    pred[0, 5] = 50.0
    row = score_profiles(true, pred, control, labels=labels, genes=GENES).iloc[0]
    assert row["mse_top20_de"] == 0.0 and row["l2"] == 0.0
    assert row["target_abs_error"] == pytest.approx(50.0)
    # an unmeasured target: nothing to leave out, no target error
    row = score_profiles(true, true, control, labels=["zz9"], genes=GENES).iloc[0]
    assert np.isnan(row["target_abs_error"]) and row["pearson_delta"] == pytest.approx(1.0)


def test_include_targets_reproduces_the_old_definitions():
    rng = np.random.default_rng(3)
    true, control, labels = _profiles(seed=2)
    pred = true + rng.normal(scale=0.4, size=true.shape)
    table = score_profiles(true, pred, control, labels=labels, genes=GENES, include_targets=True)
    for i in range(len(labels)):
        t, p = true[i], pred[i]
        de = top_changed_genes(t, control, k=20)
        assert table["pearson_delta"][i] == pytest.approx(
            stats.pearsonr(t - control, p - control)[0]
        )
        assert table["pearson_delta"][i] == pytest.approx(pearson_delta(t, p, control))
        assert table["mse"][i] == pytest.approx(mse(t, p))
        assert table["mse_top20_de"][i] == pytest.approx(mse_top_de(t, p, control, de_genes=de))
        assert table["l2"][i] == pytest.approx(l2_top_expressed(t, p, control, k=1000))
    from scipy.spatial.distance import cdist

    d = cdist(pred, true)
    old_centroid = (d > np.diag(d)[:, None]).sum(axis=1) / (len(labels) - 1)
    np.testing.assert_allclose(table["centroid_accuracy"], old_centroid)
    # and the target-excluded values differ from them on these data
    new = score_profiles(true, pred, control, labels=labels, genes=GENES)
    assert not np.allclose(new["pearson_delta"], table["pearson_delta"])


def test_no_change_has_no_correlation_by_definition():
    true, control, labels = _profiles()
    # the control mean computed in float32 elsewhere: a round-off change, not a prediction
    pred = np.tile(control.astype(np.float32).astype(np.float64), (len(labels), 1))
    table = score_profiles(true, pred, control, labels=labels, genes=GENES)
    assert table["pearson_delta"].isna().all() and table["pearson_delta_top20_de"].isna().all()
    assert np.isfinite(table["l2"]).all()
    assert np.isnan(pearson_delta(true[0], pred[0], control))
    # a method that predicts no change for some conditions only: those count as 0, so
    # abstaining on the hard conditions cannot raise its mean
    some = true.copy()
    some[1] = pred[1]
    table = score_profiles(true, some, control, labels=labels, genes=GENES)
    assert table["pearson_delta"][1] == 0.0 and table["pearson_delta_top20_de"][1] == 0.0
    np.testing.assert_allclose(table["pearson_delta"].drop(index=1), 1.0)


def _unseen_task():
    data = linear_cells(n_genes=12, n_singles=8, n_cells=10, doubles=False)
    return vc.perturb.load_task(data, task="unseen_singles", seed=0)


def test_train_mean_ko_sets_the_targets_to_the_network_knock_level():
    task = _unseen_task()
    ko = vc.perturb.make_predictor("train_mean_ko").fit(task.train)
    tm = vc.perturb.make_predictor("train_mean").fit(task.train)
    data = ko.data_
    idx = data.gene_index
    # the ratio by hand: level of each single-gene training condition / its control level
    singles = sorted(data.seen_singles)
    want = np.median([data.profiles.loc[g, g] / data.control[idx[g]] for g in singles])
    assert data.knock_ratio() == pytest.approx(want) and 0 < want < 1
    net = vc.perturb.make_predictor("network", ridges=(1.0,), links=("identity",)).fit(task.train)
    assert net.ratio_ == pytest.approx(want)  # one rule, shared with network
    unseen = task.conditions[0]
    p_ko, p_tm = ko.predict([unseen]).X[0], tm.predict([unseen]).X[0]
    assert p_ko[idx[unseen]] == pytest.approx(want * data.control[idx[unseen]])
    others = np.arange(len(p_ko)) != idx[unseen]
    np.testing.assert_allclose(p_ko[others], p_tm[others])
    seen = singles[0]  # a gene perturbed alone in training: its observed level
    assert ko.predict([seen]).X[0, idx[seen]] == pytest.approx(data.profiles.loc[seen, seen])


@pytest.mark.parametrize("method", ["linear", "additive"])
def test_clamp_targets_option(method):
    task = _unseen_task()
    plain = vc.perturb.make_predictor(method).fit(task.train)
    clamped = vc.perturb.make_predictor(method, clamp_targets=True).fit(task.train)
    cond = task.conditions[0]
    i = plain.data_.gene_index[cond]
    a, b = plain.predict([cond]).X[0], clamped.predict([cond]).X[0]
    assert b[i] == pytest.approx(clamped.data_.knock_level(cond))
    np.testing.assert_allclose(np.delete(a, i), np.delete(b, i))


def _profile_data(n_genes=9, seed=0):
    rng = np.random.default_rng(seed)
    genes = [f"h{i}" for i in range(n_genes)]
    labels = ["control", *genes[:6]]
    x = rng.uniform(0.5, 2.0, size=(len(labels), n_genes))
    obs = pd.DataFrame({"perturbation": labels}, index=[f"r{i}" for i in range(len(labels))])
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=genes)), genes


def test_linear_matches_a_hand_computed_reference_of_the_published_algorithm():
    from sklearn.decomposition import PCA

    adata, genes = _profile_data()
    model = vc.perturb.make_predictor("linear", n_components=3, ridge=0.1).fit(adata)
    # run_linear_pretrained_model.R: Y genes x training conditions, center = rowMeans(Y),
    # gene embedding = prcomp(Y, rank = K)$x (the genes' PC scores), perturbation
    # embedding = the rows of it of each condition's gene, ridge 0.1 on both sides
    conds = genes[:6]
    rows = [list(adata.obs["perturbation"]).index(c) for c in conds]
    y = adata.X[rows].T.astype(np.float64)  # genes x conditions
    b = y.mean(axis=1)
    g = PCA(n_components=3).fit_transform(y)  # genes are the samples
    p = g[[genes.index(c) for c in conds]].T  # K x conditions
    lam = 0.1
    k = np.linalg.inv(g.T @ g + lam * np.eye(3)) @ g.T @ (y - b[:, None]) @ p.T
    k = k @ np.linalg.inv(p @ p.T + lam * np.eye(3))
    for target in ("h7", "h2+h8"):
        emb = sum(g[genes.index(x)] for x in target.split("+"))
        want = np.clip(b + g @ k @ emb, 0, None)
        np.testing.assert_allclose(model.predict([target]).X[0], want, rtol=1e-8, atol=1e-10)
    # the earlier variant (unit-norm loadings) gives another prediction
    rot = vc.perturb.make_predictor("linear_rotation", n_components=3).fit(adata)
    assert not np.allclose(rot.predict(["h7"]).X[0], model.predict(["h7"]).X[0])


def test_evaluate_returns_an_eval_result_with_targets_out(tmp_path):
    data = linear_cells(n_genes=12, n_singles=8, n_cells=10, doubles=False)
    result = vc.perturb.evaluate(data, task="unseen_singles", seed=0, methods=["linear"])
    assert isinstance(result, vc.metrics.EvalResult) and result.task == "perturb/unseen_singles"
    t = result.table
    assert {"train_mean_ko", "linear_rotation", "no_change"} <= set(t["method"])
    assert set(t["unit"]) == set(result["per_perturbation"]["perturbation"])
    assert "target_abs_error" in set(t["metric"]) and result.meta["include_targets"] is False
    res = {r["method"]: r for r in result["results"]}
    assert np.isnan(res["no_change"]["pearson_delta"])
    assert res["train_mean_ko"]["target_abs_error"] < res["train_mean"]["target_abs_error"]
    # the targets are the only difference between train_mean and train_mean_ko
    assert res["train_mean_ko"]["pearson_delta"] == pytest.approx(
        res["train_mean"]["pearson_delta"]
    )
    old = vc.perturb.evaluate(data, task="unseen_singles", seed=0, methods=["linear"],
                              include_targets=True)  # fmt: skip
    old_res = {r["method"]: r for r in old["results"]}
    assert old_res["train_mean_ko"]["pearson_delta"] > old_res["train_mean"]["pearson_delta"]
    assert result.value("linear", "l2") == pytest.approx(res["linear"]["l2"])
