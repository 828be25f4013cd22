"""The predictor contract and the exact definitions of the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from conftest import dream4_like, linear_cells
from virtualcell import ValidationError
from virtualcell.perturb import METHODS, make_predictor, prepare_training

FAST = [m for m in METHODS.names() if not m.startswith("oracle")]
TINY_ORACLE = {"steps": 3, "d_model": 16, "n_layers": 1, "n_control_cells": 8, "threads": 1}


def _options(name):
    if name.startswith("oracle"):
        return dict(TINY_ORACLE, **({"head_steps": 20} if name == "oracle_head" else {}))
    return {}


def _log_profiles(adata):
    x = np.asarray(adata.X, dtype=float)
    x = np.log1p(x / x.sum(1, keepdims=True) * 1e4)
    labels = adata.obs["perturbation"].to_numpy()
    return {c: x[labels == c].mean(0) for c in np.unique(labels)}


@pytest.mark.parametrize("name", METHODS.names(), ids=lambda n: f"method_{n}")
def test_contract(name, cells):
    model = make_predictor(name, seed=0, **_options(name)).fit(cells)
    pred = model.predict(["g0", "g1+g0", "g9", "control"], on_unsupported="flag")
    assert list(pred.var_names) == list(cells.var_names)
    assert pred.obs["perturbation"].tolist() == ["g0", "g0+g1", "g9", "control"]
    assert pred.obs["unseen_genes"].tolist() == ["", "", "g9", ""]
    assert pred.obs["n_genes"].tolist() == [1, 2, 1, 0]
    x = np.asarray(pred.X)
    assert np.all(np.isfinite(x)) and x.min() >= 0
    meta = pred.uns["vc"]["perturb"]
    assert meta["method"] == name and meta["space"] == "log1p_cp10k" and meta["counts_input"]
    np.testing.assert_allclose(x[3], model.data_.control)


def test_baseline_definitions(cells):
    prof = _log_profiles(cells)
    train = cells[cells.obs["perturbation"] != "g0+g1"].copy()
    ctrl = prof["control"]
    singles = [c for c in prof if c != "control" and "+" not in c]
    combos = [c for c in prof if "+" in c and c != "g0+g1"]
    add = make_predictor("additive").fit(train).predict(["g0+g1", "g0+g9"]).X
    np.testing.assert_allclose(add[0], prof["g0"] + prof["g1"] - ctrl, atol=1e-9)
    np.testing.assert_allclose(add[1], prof["g0"], atol=1e-9)  # unseen g9 adds nothing
    mm = make_predictor("matching_mean").fit(train).predict(["g0+g1", "g0+g9"]).X
    train_mean = np.mean([prof[c] for c in singles + combos], axis=0)
    np.testing.assert_allclose(mm[0], (prof["g0"] + prof["g1"]) / 2, atol=1e-9)
    np.testing.assert_allclose(mm[1], (prof["g0"] + train_mean) / 2, atol=1e-9)
    tm = make_predictor("train_mean").fit(train).predict(["g7"]).X
    np.testing.assert_allclose(tm[0], train_mean, atol=1e-9)
    nc = make_predictor("no_change").fit(train).predict(["g7"]).X
    np.testing.assert_allclose(nc[0], ctrl, atol=1e-9)


def test_linear_rotation_matches_the_closed_form(cells):
    # the earlier variant: unit-norm loadings of the gene-centred matrix (``linear`` itself,
    # with PC scores, is checked in test_honest_scores.py)
    model = make_predictor("linear_rotation", n_components=3, ridge=0.5).fit(cells)
    data = model.data_
    conds = list(data.profiles.index)
    y = data.profiles.to_numpy().T
    b = y.mean(1)
    u = np.linalg.svd(y - b[:, None], full_matrices=False)[0][:, :3]
    gi = data.gene_index
    p = np.vstack([u[[gi[g] for g in c.split("+")]].sum(0) for c in conds])
    w = (
        np.linalg.inv(u.T @ u + 0.5 * np.eye(3))
        @ u.T
        @ (y - b[:, None])
        @ p
        @ np.linalg.inv(p.T @ p + 0.5 * np.eye(3))
    )
    expected = b + u @ w @ u[gi["g8"]]
    got = model.predict(["g8"]).X[0]
    np.testing.assert_allclose(got, np.clip(expected, 0, None), atol=1e-8)
    # a huge ridge shrinks to the training mean
    big = make_predictor("linear", ridge=1e9).fit(cells).predict(["g8"]).X[0]
    np.testing.assert_allclose(big, np.clip(b, 0, None), atol=1e-6)


def test_unsupported_genes_raise_or_fall_back(cells):
    model = make_predictor("linear").fit(cells)
    with pytest.raises(ValidationError, match="NOTMEASURED"):
        model.predict(["NOTMEASURED"])
    pred = model.predict(["NOTMEASURED", "g1"], on_unsupported="flag")
    assert pred.obs["fallback"].tolist() == [True, False]
    np.testing.assert_allclose(pred.X[0], np.clip(model.data_.train_mean(), 0, None))
    with pytest.raises(ValidationError, match="not fitted"):
        make_predictor("additive").predict(["g1"])
    with pytest.raises(ValidationError, match="no option"):
        make_predictor("additive", nonsense=1)
    with pytest.raises(ValidationError, match="unknown perturbation predictor"):
        make_predictor("nope")


@pytest.mark.parametrize("name", ["linear", "linear_rotation"])
def test_linear_without_a_measured_training_perturbation_falls_back(cells, name):
    """Training knockouts of genes the data does not measure give the linear map nothing
    to learn from (the gene embedding is a measured gene's row): every condition is an
    Unsupported fallback, not a crash of the whole evaluation."""
    labels = cells.obs["perturbation"].astype(str)
    measured = set(map(str, cells.var_names))
    hit = sorted({g for lab in labels if lab != "control" for g in lab.split("+")} & measured)
    keep = [g for g in cells.var_names if g not in hit[1:]]
    train = cells[(labels != hit[0]).to_numpy(), keep].copy()
    model = make_predictor(name).fit(train)
    pred = model.predict([hit[0]], on_unsupported="flag")
    assert pred.obs["fallback"].tolist() == [True]
    with pytest.raises(ValidationError, match="no training perturbation of a measured gene"):
        model.predict([hit[0]])


def test_feature_methods_with_given_features(cells):
    rng = np.random.default_rng(0)
    genes = list(cells.var_names)
    feats = pd.DataFrame(rng.normal(size=(len(genes) - 1, 4)), index=genes[:-1])
    for name in ("genept_ridge", "go_ridge", "go_forest"):
        model = (
            make_predictor(name, features=feats, n_estimators=10)
            if name == "go_forest"
            else make_predictor(name, features=feats)
        )
        model.fit(cells)
        pred = model.predict(["g8"])  # never perturbed, has features
        assert not pred.obs["fallback"].iloc[0]
        with pytest.raises(ValidationError, match=genes[-1]):
            model.predict([genes[-1]])  # no features
    # without a knowledge base (tests run without one) unseen genes fall back, flagged
    model = make_predictor("go_ridge").fit(cells)
    assert model.predict(["g8"], on_unsupported="flag").obs["fallback"].all()


def test_sample_gives_counts_with_the_predicted_mean(cells):
    model = make_predictor("additive").fit(cells)
    pred = model.predict(["g0", "g2"])
    sampled = model.sample(pred, n_cells=400, seed=1)
    assert sampled.n_obs == 800 and list(sampled.var_names) == list(cells.var_names)
    x = sampled.X.toarray()
    assert np.all(x == np.round(x)) and x.min() >= 0
    assert sampled.obs["perturbation"].value_counts().to_dict() == {"g0": 400, "g2": 400}
    with pytest.raises(ValidationError):
        model.sample(pred, n_cells=0)


def test_sample_keeps_log_normalised_cells_on_their_count_lattice(cells):
    # log1p of counts per 10,000 (no counts left to detect): each cell's expm1 values are
    # whole multiples of 1e4 / total, so the sampler rounds the shifted cell back onto them
    import anndata as ad

    from virtualcell.metrics import DEReference, de_genes
    from virtualcell.perturb._base import count_units, shift_cells

    raw = np.asarray(cells.X, dtype=np.float64)
    logged = ad.AnnData(np.log1p(raw / raw.sum(1, keepdims=True) * 1e4), obs=cells.obs.copy(),
                        var=cells.var.copy())  # fmt: skip
    model = make_predictor("train_mean").fit(logged)
    assert not model.data_.counts
    units = count_units(model.data_.control_cells)
    total = raw[(cells.obs["perturbation"] == "control").to_numpy()].sum(1)
    assert units is not None and np.median(units) == pytest.approx(np.median(1e4 / total), rel=1e-4)
    pred = model.predict(["g0", "control"])
    sampled = model.sample(pred, n_cells=300, seed=2)
    x = np.asarray(sampled.X, dtype=np.float64)
    unit = units[sampled.obs["sampled_from"].to_numpy()][:, None]
    count = np.expm1(x) / unit
    on_lattice = np.abs(count - np.round(count)) <= 1e-3
    assert on_lattice.all() and count.max() >= 2
    # a change far below the noise is no DE gene on the lattice; shifted off it, every
    # tied value (zeros, equal counts: RENGE's X is log1p of sparse counts) moves past its
    # twin among the control cells and nearly every gene tests as DE
    rng = np.random.default_rng(0)
    ctrl = np.log1p(rng.poisson(0.8, size=(400, 20)).astype(np.float64)).astype(np.float32)
    units = count_units(ctrl)
    assert units is not None and np.allclose(units[units > 0], 1.0)
    reference = DEReference(ctrl)
    pick = rng.integers(0, len(ctrl), 300)
    tiny = np.full(ctrl.shape[1], 1e-3)
    on = shift_cells(ctrl[pick], tiny, rng, unit=units[pick]).astype(np.float32)
    off = np.clip(ctrl[pick] + tiny, 0, None)
    assert de_genes(reference.test(on)) == []
    assert len(de_genes(reference.test(off))) >= 0.8 * ctrl.shape[1]
    # by hand: units are each cell's smallest non-zero expm1 value (2 and 0.5 here); a
    # shift that lands on whole units is exact, half a unit rounds either way
    hand = np.log1p(np.array([[2.0, 4.0, 0.0], [0.5, 1.5, 0.0]]))
    np.testing.assert_allclose(count_units(hand), [2.0, 0.5])
    change = np.array([np.log1p(6.0) - np.log1p(4.0), 0.0, np.log1p(1.0)])
    out = shift_cells(hand[:1, [1, 0, 2]], change, rng, unit=np.array([2.0]))
    np.testing.assert_allclose(np.expm1(out[0, :2]), [6.0, 2.0])  # 3 and 1 units
    assert round(float(np.expm1(out[0, 2])), 9) in (0.0, 2.0)  # 0 + half a unit
    draws = np.expm1(
        shift_cells(np.zeros((4000, 1)), np.log1p([1.0]), rng, unit=np.full(4000, 2.0))
    )
    assert set(np.round(draws.ravel(), 9)) == {0.0, 2.0} and abs(draws.mean() - 1.0) < 0.1
    # values without a count lattice (continuous) keep the plain shift
    assert count_units(np.random.default_rng(1).gamma(2.0, 1.0, (50, 8))) is None


def test_training_roles_and_types():
    adata = dream4_like()
    data = prepare_training(adata)  # auto: knockout wins the tie with knockdown
    assert data.perturbation_type == "knockout"
    assert len(data.profiles) == adata.n_vars and len(data.auxiliary) == adata.n_vars
    assert not data.counts and data.space == "input"
    with pytest.raises(ValidationError, match="no perturbed rows of type"):
        prepare_training(adata, perturbation_type="overexpression")
    bad = adata.copy()
    bad.obs = bad.obs.drop(columns="perturbation")
    with pytest.raises(ValidationError, match="perturbation"):
        prepare_training(bad)
    neg = adata.copy()
    neg.X = neg.X - 1.0
    with pytest.raises(ValidationError, match="negative"):
        prepare_training(neg)


def test_network_learns_the_chain_and_predicts_an_unseen_gene():
    adata = dream4_like(n_genes=8)
    held = "G4"
    train = adata[adata.obs["perturbation"] != held].copy()
    model = make_predictor("network", perturbation_type="knockout", prior="none").fit(train)
    edges = model.edges()
    top = set(zip(edges["regulator"], edges["target"], strict=True))
    chain = {(f"G{i}", f"G{i + 1}") for i in range(1, 8) if held not in (f"G{i}",)}
    assert len(chain & top) >= len(chain) - 1
    pred = model.predict([held]).X[0]
    truth = adata.X[(adata.obs["perturbation"] == held).to_numpy()][0]  # the knockout row
    ctrl = model.data_.control
    down = [4, 5, 6, 7]  # G5..G8 fall when G4 is knocked out
    assert np.all(np.sign(pred[down] - ctrl[down]) == np.sign(truth[down] - ctrl[down]))
    nochange = make_predictor("no_change").fit(train).predict([held]).X[0]
    assert np.linalg.norm(pred - truth) < 0.75 * np.linalg.norm(nochange - truth)
    summary = model.summary()
    assert summary["link"] in ("identity", "log") and summary["n_edges"] > 0


def test_network_beats_additive_on_simulated_doubles(sim_small):
    split = vc.data.splits.simulation_split(sim_small, seed=0, key_added=None)
    train = sim_small[split.mask("train")].copy()
    doubles = split.subgroups["combo_seen2"] + split.subgroups["combo_seen1"]
    from virtualcell.perturb._data import expression_matrix

    x, _ = expression_matrix(sim_small)
    labels = sim_small.obs["perturbation"].astype(str).to_numpy()
    truth = np.vstack([np.asarray(x[labels == c].mean(0)).ravel() for c in doubles])
    err = {}
    for name in ("network", "additive"):
        pred = make_predictor(name).fit(train).predict(doubles).X
        err[name] = np.linalg.norm(pred - truth, axis=1).mean()
    assert err["network"] < err["additive"]


def test_predict_perturbation_entry_point(cells):
    pred = vc.tl.predict_perturbation(cells, perturbations=["g0+g1"], method="additive")
    assert pred.n_obs == 1 and "predict_perturbation" in vc.tl.__all__
    listed = vc.perturb.list_methods(baseline=True)
    assert list(listed) == METHODS.names(baseline=True)
    assert listed["train_mean"] == METHODS.entry("train_mean").description
    assert all(isinstance(v, str) and v for v in listed.values())
    expected = {"gears_graph", "network", "oracle_head", "oracle_isp", "primed_network"}
    assert set(vc.perturb.list_methods(baseline=False)) == expected
    assert set(vc.perturb.list_methods()) == set(listed) | expected


def test_counts_detection():
    adata = linear_cells(doubles=False)
    adata.X = np.log1p(adata.X)  # log data: used as given
    data = prepare_training(adata)
    assert not data.counts and data.space == "input"
