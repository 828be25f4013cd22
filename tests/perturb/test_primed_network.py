"""``primed_network``: the knowledge-primed network as a perturbation engine (no knowledge
store needed: priors and features are passed explicitly or left out)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import virtualcell as vc
from virtualcell import ValidationError


def _chain_cells(n_ko: int = 8, n_cells: int = 60, seed: int = 0) -> ad.AnnData:
    """Cells of a linear network: every regulator ``r<i>`` activates its own target
    ``t<i>`` (and represses ``t<i+1>``); control cells vary, so the edges are observable;
    knockouts of the regulators drop their level to 0."""
    rng = np.random.default_rng(seed)
    regs = [f"r{i}" for i in range(n_ko)]
    tgts = [f"t{i}" for i in range(n_ko)]
    genes = regs + tgts
    rows, labels, times = [], [], []
    for cond in ["control", *regs]:
        n = 4 * n_cells if cond == "control" else n_cells
        r = rng.uniform(0.5, 2.5, size=(n, n_ko))
        if cond != "control":
            r[:, regs.index(cond)] = 0.0
        t = 1.0 + 0.8 * r - 0.3 * np.roll(r, 1, axis=1) + rng.normal(scale=0.1, size=r.shape)
        day = rng.integers(0, 2, size=n)
        t = t + 0.5 * day[:, None]  # a time effect shared by every target
        rows.append(np.clip(np.hstack([r, t]), 0, None))
        labels += [cond] * n
        times += [f"d{d}" for d in day]
    obs = pd.DataFrame({"perturbation": labels, "time": times},
                       index=[f"c{i}" for i in range(len(labels))])  # fmt: skip
    return ad.AnnData(np.vstack(rows), obs=obs, var=pd.DataFrame(index=genes))


def _truth(adata: ad.AnnData, gene: str) -> np.ndarray:
    lab = adata.obs["perturbation"].astype(str).to_numpy()
    x = np.asarray(adata.X)
    return x[lab == gene].mean(axis=0) - x[lab == "control"].mean(axis=0)


def test_registered_and_listed():
    assert "primed_network" in vc.perturb.list_methods()
    assert not vc.perturb.METHODS.entry("primed_network").baseline


def test_unseen_gene_from_the_network_beats_the_mean_and_learns_the_gate():
    adata = _chain_cells()
    held = "r3"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    model = vc.perturb.make_predictor("primed_network", prior="none").fit(train)
    w = model.summary()["weights"]
    assert w["mean"] == 1.0 and w["data"] + w["association"] > 0.2  # the network is used
    pred = model.predict([held]).X[0] - model.data_.control
    truth = _truth(adata, held)
    keep = np.ones(len(truth), dtype=bool)
    keep[list(adata.var_names).index(held)] = False  # target-excluded
    mean = vc.perturb.make_predictor("train_mean").fit(train).predict([held]).X[0]
    mean = mean - model.data_.control
    r_model = np.corrcoef(pred[keep], truth[keep])[0, 1]
    r_mean = np.corrcoef(mean[keep], truth[keep])[0, 1]
    assert r_model > 0.8 and r_model > r_mean + 0.2
    # the two direct targets move the right way
    assert pred[list(adata.var_names).index("t3")] < -0.5
    assert pred[list(adata.var_names).index("t4")] > 0.1


def test_without_signal_it_falls_back_to_the_mean():
    rng = np.random.default_rng(1)
    genes = [f"g{i}" for i in range(10)]
    labels = ["control"] * 100 + [g for g in genes[:6] for _ in range(30)]
    x = rng.uniform(1, 2, size=(len(labels), len(genes)))
    x[100:, 0] += 0.8  # every knockout shares one change; nothing predicts the rest
    a = ad.AnnData(x, obs=pd.DataFrame({"perturbation": labels},
                                       index=[f"c{i}" for i in range(len(labels))]),
                   var=pd.DataFrame(index=genes))  # fmt: skip
    model = vc.perturb.make_predictor("primed_network", prior="none").fit(a)
    contrib = model.contributions("g8")
    mean_part = np.linalg.norm(contrib["mean"])
    rest = sum(np.linalg.norm(v) for k, v in contrib.items() if k != "mean")
    assert mean_part > 3 * rest  # the prediction is (mostly) the training mean
    share = model.explain(["g8"])
    assert share.loc["g8", "mean"] > 0.8
    assert share.drop(columns="prior_vs_data").loc["g8"].sum() == pytest.approx(1.0)


def test_prior_is_used_but_can_be_overruled_and_is_reported():
    adata = _chain_cells(n_ko=6, n_cells=40)
    # one true edge (r0 -> t0, +) and one false edge with the wrong sign (r1 -> t3, -)
    prior = pd.DataFrame({"regulator": ["r0", "r1"], "target": ["t0", "t3"], "sign": [1, -1]})
    model = vc.perturb.make_predictor("primed_network", prior=prior).fit(adata)
    net = model.net_
    assert net.n_prior_edges == 2
    genes = list(adata.var_names)
    coef = net.full("coef")
    assert coef[genes.index("r0"), genes.index("t0")] > 0.3  # data and prior agree
    assert abs(coef[genes.index("r1"), genes.index("t3")]) < 0.1  # the data overrule it
    edges = net.edges()
    assert {"prior_sign", "prior_share"} <= set(edges.columns)
    assert ((edges["prior_share"] >= 0) & (edges["prior_share"] <= 1)).all()
    assert (edges.loc[edges["prior_sign"] == 0, "prior_share"] == 0).all()


def test_runs_without_a_store_and_says_so(capsys, tmp_path, monkeypatch):
    from virtualcell import settings

    monkeypatch.setattr(settings, "verbosity", 1)  # tests may run quietly
    adata = _chain_cells(n_ko=4, n_cells=20)
    missing = tmp_path / "no_store.sqlite"  # prior="auto" with no store built there
    model = vc.perturb.make_predictor("primed_network", kb=missing).fit(adata)
    err = capsys.readouterr().err
    assert "data alone" in err
    assert model.summary()["n_prior_edges"] == 0
    assert model.predict(["t1"]).n_obs == 1  # an unseen, measured gene


def test_bad_options_raise():
    with pytest.raises(ValidationError, match="prior"):
        vc.perturb.make_predictor("primed_network", prior="maybe")
    with pytest.raises(ValidationError, match="components"):
        vc.perturb.make_predictor("primed_network", components=("data",))
    adata = _chain_cells(n_ko=4, n_cells=20)
    model = vc.perturb.make_predictor("primed_network", prior="none").fit(adata)
    with pytest.raises(ValidationError, match="NOPE"):
        model.predict(["NOPE"])


def test_known_edges_predict_an_unseen_knockout_the_data_cannot():
    """Regulators do not vary in control cells, so only the known signed edges can say
    what knocking out an unseen regulator does; the gain comes from the training KOs."""
    rng = np.random.default_rng(4)
    n_ko, n = 8, 40
    regs, tgts = [f"r{i}" for i in range(n_ko)], [f"t{i}" for i in range(n_ko)]
    rows, labels = [], []
    for cond in ["control", *regs]:
        r = np.full((n, n_ko), 1.5) + rng.normal(scale=0.01, size=(n, n_ko))
        if cond != "control":
            r[:, regs.index(cond)] = 0.0
        t = 0.5 + 1.0 * r + rng.normal(scale=0.2, size=r.shape)
        rows.append(np.clip(np.hstack([r, t]), 0, None))
        labels += [cond] * n
    a = ad.AnnData(np.vstack(rows), obs=pd.DataFrame({"perturbation": labels},
                   index=[f"c{i}" for i in range(len(labels))]),
                   var=pd.DataFrame(index=regs + tgts))  # fmt: skip
    prior = pd.DataFrame({"regulator": regs, "target": tgts, "sign": 1})
    train = a[(a.obs["perturbation"] != "r5").to_numpy()].copy()
    primed = vc.perturb.make_predictor("primed_network", prior=prior).fit(train)
    alone = vc.perturb.make_predictor("primed_network", prior="none").fit(train)
    assert primed.summary()["weights"]["prior"] > 0.1
    t5 = (regs + tgts).index("t5")
    drop = _truth(a, "r5")[t5]
    assert drop < -1.0
    got = primed.predict(["r5"]).X[0, t5] - primed.data_.control[t5]
    base = alone.predict(["r5"]).X[0, t5] - alone.data_.control[t5]
    assert abs(got - drop) < 0.5 * abs(base - drop)
    assert primed.explain(["r5"]).loc["r5", "prior_vs_data"] > 0.5


def _feature_cells(seed: int = 0) -> tuple[ad.AnnData, pd.DataFrame]:
    """Knockouts whose effects on 20 readout genes are a linear map of a 3-number
    description of the knocked-out gene (a stand-in for its text embedding), plus one
    change shared by every knockout; nothing in the expression predicts them."""
    rng = np.random.default_rng(seed)
    kos = [f"k{i}" for i in range(12)]
    reads = [f"y{i}" for i in range(20)]
    feats = pd.DataFrame(rng.normal(size=(len(kos), 3)), index=kos, columns=["e0", "e1", "e2"])
    mix = rng.normal(size=(len(reads), 3))
    shared = rng.normal(scale=0.3, size=len(reads))
    rows, labels = [], []
    for cond in ["control", *kos]:
        n = 200 if cond == "control" else 40
        x = np.full((n, len(kos) + len(reads)), 3.0) + rng.normal(scale=0.3, size=(n, 32))
        if cond != "control":
            x[:, kos.index(cond)] = 0.5
            x[:, len(kos) :] += shared + mix @ feats.loc[cond].to_numpy()
        rows.append(np.clip(x, 0, None))
        labels += [cond] * n
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(np.vstack(rows), obs=obs, var=pd.DataFrame(index=kos + reads)), feats


def test_text_component_learns_from_gene_descriptions_and_is_optional():
    adata, feats = _feature_cells()
    held = "k5"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    truth = _truth(adata, held)
    keep = np.ones(len(truth), dtype=bool)
    keep[list(adata.var_names).index(held)] = False
    model = vc.perturb.make_predictor(
        "primed_network", prior="none", components=("mean", "data", "text"),
        text_features=feats, knowledge_size=None,  # the regressor's own size
    ).fit(train)  # fmt: skip
    w = model.summary()["weights"]
    assert w["mean"] == 1.0 and w["text"] > 0.5  # learned on the training genes only
    pred = model.predict([held]).X[0] - model.data_.control
    mean = vc.perturb.make_predictor("train_mean").fit(train).predict([held]).X[0]
    mean = mean - model.data_.control
    r_model = np.corrcoef(pred[keep], truth[keep])[0, 1]
    r_mean = np.corrcoef(mean[keep], truth[keep])[0, 1]
    assert r_model > 0.8 and r_model > r_mean + 0.2
    # the text component is the GenePT-ridge regressor minus the training mean: a gene
    # without a description gets no text change (the prediction falls back to the rest)
    bare = vc.perturb.make_predictor(
        "primed_network", prior="none", components=("mean", "data", "text"),
        text_features=feats.drop(index=held),
    ).fit(train)  # fmt: skip
    assert np.allclose(bare.contributions(held)["text"], 0.0)
    # the default (average) gate's knowledge part is the text regressor, sized; the stack
    # gate, as before, uses the GO forest and not the text one (no embedder needed)
    default = vc.perturb.make_predictor("primed_network")
    assert "text" in default.components and "neighbours" not in default.components
    assert default.knowledge_size == 0.25
    stack = vc.perturb.make_predictor("primed_network", gate="stack")
    assert "text" not in stack.components and "neighbours" in stack.components
    assert stack.knowledge_size is None


def _shared_shift_cells(seed: int = 0) -> ad.AnnData:
    """Every knockout shifts the same 6 genes by +0.4 except ``g0``, whose knockout moves
    everything by +3: the mean of the training changes is pulled by that one gene, a
    robust location is not."""
    rng = np.random.default_rng(seed)
    genes = [f"g{i}" for i in range(12)]
    kos = genes[:8]
    rows, labels = [], []
    for cond in ["control", *kos]:
        n = 120 if cond == "control" else 30
        x = rng.normal(2.0, 0.1, size=(n, len(genes)))
        if cond != "control":
            x[:, 6:] += 3.0 if cond == "g0" else 0.4
            x[:, genes.index(cond)] = 0.0
        rows.append(x)
        labels += [cond] * n
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(np.clip(np.vstack(rows), 0, None), obs=obs, var=pd.DataFrame(index=genes))


@pytest.mark.parametrize("anchor", ["median", "trim25"])
def test_robust_anchor_resists_one_extreme_training_knockout(anchor):
    from scipy.stats import trim_mean

    adata = _shared_shift_cells()
    held = "g7"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    fits = {
        a: vc.perturb.make_predictor("primed_network", prior="none", anchor=a,
                                     components=("mean",)).fit(train)
        for a in ("mean", anchor)
    }  # fmt: skip
    robust = fits[anchor]
    expected = (np.median(robust.deltas_, axis=0) if anchor == "median"
                else trim_mean(robust.deltas_, 0.25, axis=0))  # fmt: skip
    np.testing.assert_allclose(robust.contributions(held)["mean"], expected)
    np.testing.assert_allclose(fits["mean"].contributions(held)["mean"],
                               fits["mean"].deltas_.mean(axis=0))  # fmt: skip
    truth = _truth(adata, held)
    off = np.arange(12) != 7  # the knocked-out gene itself left out
    err = {a: np.abs((m.predict([held]).X[0] - m.data_.control) - truth)[off].mean()
           for a, m in fits.items()}  # fmt: skip
    assert err[anchor] < 0.5 * err["mean"], err
    with pytest.raises(ValidationError, match="anchor"):
        vc.perturb.make_predictor("primed_network", anchor="mode")


def test_average_gate_fixes_the_knowledge_weights_and_learns_only_the_network():
    """``gate="average"``: each knowledge regressor that knows the gene enters with weight
    1/k (k = how many know it), never learned; the network components are learned."""
    adata, feats = _feature_cells()
    held = "k5"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    both = vc.perturb.make_predictor(
        "primed_network", prior="none", features=feats, text_features=feats,
        components=("mean", "data", "neighbours", "text"), n_estimators=20, knowledge_size=None,
    ).fit(train)  # fmt: skip
    assert both.summary()["gate"] == "average" and both.summary()["anchor"] == "median"
    raw = both._component_table(held, both.data_, both.net_, both.train_genes_,
                                both.deltas_, None)  # fmt: skip
    contrib = both.contributions(held)
    for c in ("neighbours", "text"):
        np.testing.assert_allclose(contrib[c], 0.5 * raw[c])
    np.testing.assert_allclose(contrib["data"], both.weights_["data"] * raw["data"])
    # a gene only one regressor knows gets that one with weight 1
    only_forest = vc.perturb.make_predictor(
        "primed_network", prior="none", features=feats, text_features=feats.drop(index=held),
        components=("mean", "neighbours", "text"), n_estimators=20, knowledge_size=None,
    ).fit(train)  # fmt: skip
    raw = only_forest._component_table(held, only_forest.data_, only_forest.net_,
                                       only_forest.train_genes_, only_forest.deltas_, None)  # fmt: skip
    contrib = only_forest.contributions(held)
    np.testing.assert_allclose(contrib["neighbours"], raw["neighbours"])
    assert np.allclose(contrib["text"], 0.0)
    with pytest.raises(ValidationError, match="gate"):
        vc.perturb.make_predictor("primed_network", gate="vote")


def test_stack_refits_the_network_at_most_stack_groups_times(monkeypatch):
    """Screen scale: the held-out refits of the stack are leave-one-gene-out up to
    ``stack_groups`` training genes, then that many groups of genes (a bounded cost); a
    gate with nothing to learn refits nothing (and without a network component nothing
    is fitted at all)."""
    from virtualcell.perturb._primed import PrimedNetworkModel

    calls = []
    real = PrimedNetworkModel._network_fit

    def counted(self, cells, genes, held, prior):
        calls.append(frozenset(held))
        return real(self, cells, genes, held, prior)

    monkeypatch.setattr(PrimedNetworkModel, "_network_fit", counted)
    adata = _chain_cells(n_ko=6, n_cells=20)  # 6 training genes
    loo = vc.perturb.make_predictor("primed_network", prior="none").fit(adata)
    assert len(calls) == 1 + 6 and all(len(h) <= 1 for h in calls)
    calls.clear()
    grouped = vc.perturb.make_predictor("primed_network", prior="none", stack_groups=2).fit(adata)
    assert len(calls) == 1 + 2 and sorted(len(h) for h in calls) == [0, 3, 3]
    assert set().union(*calls) == set(grouped.train_genes_)
    assert set(grouped.weights_) == set(loo.weights_)
    calls.clear()
    vc.perturb.make_predictor("primed_network", prior="none",
                              components=("mean", "neighbours", "text")).fit(adata)  # fmt: skip
    assert len(calls) == 0  # no component reads the network: none is fitted
    with pytest.raises(ValidationError, match="stack_groups"):
        vc.perturb.make_predictor("primed_network", stack_groups=1)


def test_change_scale_multiplies_only_an_unseen_genes_change():
    """``change_scale=k``: an unseen gene's predicted change from control is k times the
    default's (every component alike, so its correlation with anything is unchanged);
    a gene seen in training keeps its observed profile; k <= 0 is refused."""
    adata, feats = _feature_cells()
    held = "k5"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    opts = {"prior": "none", "features": feats, "text_features": feats, "n_estimators": 20,
            "components": ("mean", "neighbours", "text")}  # fmt: skip
    base = vc.perturb.make_predictor("primed_network", **opts).fit(train)
    wide = vc.perturb.make_predictor("primed_network", change_scale=1.5, **opts).fit(train)
    assert wide.summary()["change_scale"] == 1.5 and base.summary()["change_scale"] == 1.0
    ctrl = base.data_.control
    off = np.arange(adata.n_vars) != list(adata.var_names).index(held)  # the target is clamped
    d_base = base.predict([held]).X[0] - ctrl
    d_wide = wide.predict([held]).X[0] - ctrl
    assert np.abs(d_base[off]).max() > 0.05  # a change to scale
    lifted = (ctrl + 1.5 * d_base)[off]
    np.testing.assert_allclose(d_wide[off], np.maximum(lifted, 0.0) - ctrl[off], atol=1e-12)
    seen = "k1"
    np.testing.assert_allclose(wide.predict([seen]).X[0], base.predict([seen]).X[0])
    for bad in (0, -1.0, float("nan"), "big"):
        with pytest.raises(ValidationError, match="change_scale"):
            vc.perturb.make_predictor("primed_network", change_scale=bad)


def _followers_cells(follow: set[str], n_ko: int = 8, seed: int = 0) -> ad.AnnData:
    """Control cells where every regulator ``r<i>`` drives its target ``t<i>`` (the network
    sees the edges); in the knockouts of ``follow`` the target follows the regulator's drop,
    in the others it does not (an unrelated target moves instead)."""
    rng = np.random.default_rng(seed)
    regs, tgts = [f"r{i}" for i in range(n_ko)], [f"t{i}" for i in range(n_ko)]
    rows, labels = [], []
    for cond in ["control", *regs]:
        n = 240 if cond == "control" else 60
        r = rng.uniform(0.5, 2.5, size=(n, n_ko))
        drive = r.copy()
        if cond != "control":
            r[:, regs.index(cond)] = 0.0
            drive = r if cond in follow else drive
        t = 1.0 + 0.8 * drive + rng.normal(scale=0.1, size=r.shape)
        if cond != "control" and cond not in follow:
            t[:, rng.integers(n_ko)] += 0.6
        rows.append(np.clip(np.hstack([r, t]), 0, None))
        labels += [cond] * n
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(np.vstack(rows), obs=obs, var=pd.DataFrame(index=regs + tgts))


def test_support_nested_keeps_a_supported_network_and_drops_an_unsupported_one():
    opts = {"prior": "none", "components": ("mean", "data", "association")}
    held = "r7"
    for follow, kept in (({f"r{i}" for i in range(8)}, True), ({"r0"}, False)):
        adata = _followers_cells(follow)
        train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
        plain = vc.perturb.make_predictor("primed_network", **opts).fit(train)
        nested = vc.perturb.make_predictor("primed_network", support="nested", **opts).fit(train)
        s = nested.summary()["support"]
        assert s["kept"] is kept and plain.support_ is None
        assert {"pearson_delta_with", "pearson_delta_without", "pds_targets_out_with",
                "pds_targets_out_without"} <= set(s)  # fmt: skip
        learned = ("data", "association")
        if kept:  # every target follows: the held-out training genes say the network helps
            assert s["pearson_delta_with"] > s["pearson_delta_without"] + 0.5
            assert nested.weights_ == plain.weights_
            np.testing.assert_array_equal(nested.predict([held]).X, plain.predict([held]).X)
        else:  # one training gene follows: in-sample weight > 0, held-out scores lower
            assert sum(plain.weights_[c] for c in learned) > 0
            assert (s["pearson_delta_with"] < s["pearson_delta_without"]
                    or s["pds_targets_out_with"] < s["pds_targets_out_without"])  # fmt: skip
            assert all(nested.weights_[c] == 0.0 for c in learned)
            anchor = nested.contributions(held)["mean"]
            pred = nested.predict([held]).X[0] - nested.data_.control
            keep = np.array(train.var_names) != held
            np.testing.assert_allclose(pred[keep], anchor[keep])
    with pytest.raises(ValidationError, match="support"):
        vc.perturb.make_predictor("primed_network", support="maybe")


@pytest.mark.parametrize("learn_mean", [False, True])
def test_support_nested_with_the_stack_gate(monkeypatch, learn_mean):
    opts = {"prior": "none", "components": ("mean", "data", "association"), "gate": "stack",
            "anchor": "mean", "learn_mean": learn_mean}  # fmt: skip
    adata = _followers_cells({f"r{i}" for i in range(8)})
    train = adata[(adata.obs["perturbation"] != "r7").to_numpy()].copy()
    plain = vc.perturb.make_predictor("primed_network", **opts).fit(train)
    nested = vc.perturb.make_predictor("primed_network", support="nested", **opts).fit(train)
    s = nested.support_
    assert s["kept"] and s["pearson_delta_with"] > s["pearson_delta_without"] + 0.5
    assert nested.weights_ == plain.weights_
    # a rejected learned part leaves the anchor alone, at weight 1 (also when its weight
    # was learned)
    from virtualcell.perturb._primed import PrimedNetworkModel

    monkeypatch.setattr(PrimedNetworkModel, "_nested_support", lambda *a: {"kept": False})
    dropped = vc.perturb.make_predictor("primed_network", support="nested", **opts).fit(train)
    assert dropped.weights_ == {"mean": 1.0, "data": 0.0, "association": 0.0}


def test_knowledge_size_keeps_the_direction_and_sets_the_size_from_the_training_genes():
    """``knowledge_size=s``: the knowledge part of an unseen gene points where the
    regressors point, its norm is s x the median norm of the training changes minus the
    anchor; the anchor and a gene without features are untouched; the time path sizes
    the same way; s <= 0 is refused."""
    adata, feats = _feature_cells()
    held = "k5"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    opts = {"prior": "none", "text_features": feats, "components": ("mean", "text")}
    base = vc.perturb.make_predictor("primed_network", knowledge_size=None, **opts).fit(train)
    sized = vc.perturb.make_predictor("primed_network", knowledge_size=0.25, **opts).fit(train)
    assert sized.summary()["knowledge_size"] == 0.25 and base.summary()["knowledge_size"] is None
    # the default ("auto" with the average gate) is the sized part: the same predictions
    default = vc.perturb.make_predictor("primed_network", **opts).fit(train)
    np.testing.assert_array_equal(default.predict([held]).X, sized.predict([held]).X)
    c_base, c_sized = base.contributions(held), sized.contributions(held)
    np.testing.assert_allclose(c_sized["mean"], c_base["mean"])
    deltas = sized.deltas_
    typical = np.median(np.linalg.norm(deltas - np.median(deltas, axis=0), axis=1))
    assert np.linalg.norm(c_sized["text"]) == pytest.approx(0.25 * typical, rel=1e-12)
    cos = c_sized["text"] @ c_base["text"]
    cos /= np.linalg.norm(c_sized["text"]) * np.linalg.norm(c_base["text"])
    assert cos == pytest.approx(1.0, abs=1e-12)
    assert abs(np.linalg.norm(c_base["text"]) - 0.25 * typical) > 0.05  # a real change
    off = np.arange(adata.n_vars) != list(adata.var_names).index(held)  # the target is clamped
    summed = np.maximum(sized.data_.control + c_sized["mean"] + c_sized["text"], 0.0)
    np.testing.assert_allclose(sized.predict([held]).X[0][off], summed[off], atol=1e-12)
    # change_scale still multiplies the whole change, the sized knowledge part included
    wide = vc.perturb.make_predictor("primed_network", knowledge_size=0.25, change_scale=2.0,
                                     **opts).fit(train)  # fmt: skip
    for part in ("mean", "text"):
        np.testing.assert_allclose(wide.contributions(held)[part], 2.0 * c_sized[part],
                                   rtol=1e-12)  # fmt: skip
    bare = vc.perturb.make_predictor(
        "primed_network", knowledge_size=0.25, **{**opts, "text_features": feats.drop(index=held)}
    ).fit(train)  # fmt: skip
    assert np.allclose(bare.contributions(held)["text"], 0.0)
    for bad in (0, -0.5, float("nan")):
        with pytest.raises(ValidationError, match="knowledge_size"):
            vc.perturb.make_predictor("primed_network", knowledge_size=bad)


def test_knowledge_size_on_the_time_path():
    """Per day the knowledge part (fitted on every day's changes side by side) has the
    sized norm over all days together; without the option the time path is as before."""
    adata, feats = _feature_cells()
    rng = np.random.default_rng(3)
    adata.obs["time"] = rng.choice(["d1", "d2"], size=adata.n_obs)
    held = "k5"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    opts = {"prior": "none", "text_features": feats, "components": ("mean", "text")}
    sized = vc.perturb.make_predictor("primed_network", knowledge_size=0.5, **opts).fit(train)
    sized.predict([held], time="d1")  # fits the time path
    genes, changes = sized.time_genes_, sized.time_changes_
    n, n_t, _ = changes.shape
    anchors = np.stack([np.median(changes[:, t], axis=0) for t in range(n_t)])
    base_t = sized._time_base(held, genes, changes)
    know = (base_t - anchors).reshape(-1)
    typical = np.median(np.linalg.norm(changes.reshape(n, -1) - anchors.reshape(-1), axis=1))
    assert np.linalg.norm(know) == pytest.approx(0.5 * typical, rel=1e-10)


def test_unmeasured_knockouts_are_predicted_from_knowledge_and_teach_the_anchor():
    """A perturbed gene the data does not measure (no column: common after HVG selection)
    has no network part, but its knowledge still predicts it, and a training knockout of
    an unmeasured gene still teaches the anchor and the knowledge regressors; a gene
    neither measured nor known is refused (a flagged fallback with ``flag``)."""
    adata, feats = _feature_cells()
    held, gone = "k5", "k1"  # k5 never perturbed in training, k1 is; neither is measured
    cut = adata[:, [g for g in adata.var_names if g not in (held, gone)]].copy()
    train = cut[(cut.obs["perturbation"] != held).to_numpy()].copy()
    opts = {"prior": "none", "text_features": feats}
    model = vc.perturb.make_predictor("primed_network", **opts).fit(train)
    assert gone in model.train_genes_ and len(model.train_genes_) == 11
    contrib = model.contributions(held)
    for part in ("data", "prior", "association"):
        assert not np.any(contrib[part])
    np.testing.assert_allclose(contrib["mean"], np.median(model.deltas_, axis=0))
    # the knowledge part is what a knowledge-only model gives on the same cells
    alone = vc.perturb.make_predictor("primed_network", components=("mean", "text"), **opts)
    np.testing.assert_allclose(contrib["text"], alone.fit(train).contributions(held)["text"])
    pred = model.predict([held], on_unsupported="flag")
    assert not pred.obs["fallback"].iloc[0]
    truth = _truth(cut[(cut.obs["perturbation"].isin(["control", held])).to_numpy()], held)
    r_model = np.corrcoef(pred.X[0] - model.data_.control, truth)[0, 1]
    r_mean = np.corrcoef(model.deltas_.mean(axis=0), truth)[0, 1]  # the training mean's
    assert r_model > r_mean + 0.1  # 0.81 against 0.63 here
    # per day too (the time path skips the unmeasured genes' network rows)
    cut.obs["time"] = np.random.default_rng(1).choice(["d1", "d2"], size=cut.n_obs)
    timed = cut[(cut.obs["perturbation"] != held).to_numpy()].copy()
    days = vc.perturb.make_predictor("primed_network", time_depth=1, **opts).fit(timed)
    by_day = days.predict([held], time="all", on_unsupported="flag")
    assert by_day.n_obs == 2 and not by_day.obs["fallback"].any()
    flagged = model.predict(["k99"], on_unsupported="flag")
    assert flagged.obs["fallback"].iloc[0]
    with pytest.raises(ValidationError, match="k99"):
        model.predict(["k99"])


def _paralog_text(adata: ad.AnnData, twin: str, of: str, seed: int = 0) -> pd.DataFrame:
    """16-number stand-ins for the GenePT embeddings of every measured gene, at random
    except ``twin``, a near-copy of ``of`` (cosine ~0.99, far above the 99th percentile
    of the random pairs)."""
    rng = np.random.default_rng(seed)
    emb = pd.DataFrame(rng.normal(size=(adata.n_vars, 16)), index=adata.var_names)
    emb.loc[twin] = emb.loc[of] + rng.normal(scale=0.1, size=16)
    return emb


def test_paralog_adds_a_near_duplicates_change_and_nothing_else():
    """``paralog=a``: an unseen gene whose embedding is a near-duplicate of a training
    gene's gets ``a`` x that gene's change minus the anchor on top of the rest (steady
    state and time path); a gene without one gets nothing; ``paralog=0`` predicts
    exactly as before the option; the threshold is the 99th percentile of the measured
    genes' cosines; the default is 0.5 with the average gate and 0 with the stack gate; a
    negative weight is refused."""
    adata, _ = _feature_cells()
    rng = np.random.default_rng(1)
    adata.obs["time"] = rng.choice(["d1", "d2"], size=adata.n_obs)
    text = _paralog_text(adata, "k5", "k3")
    opts = {"prior": "none", "text_features": text, "components": ("mean", "text")}
    for held, twin in (("k5", "k3"), ("k7", None)):
        train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
        plain = vc.perturb.make_predictor("primed_network", paralog=0, **opts).fit(train)
        para = vc.perturb.make_predictor("primed_network", **opts).fit(train)  # default
        v = text.to_numpy() / np.linalg.norm(text.to_numpy(), axis=1, keepdims=True)
        cos = (v @ v.T)[np.triu_indices(len(v), 1)]
        assert para.summary()["paralog_tau"] == pytest.approx(np.quantile(cos, 0.99))
        assert plain.summary()["paralog"] == 0.0 and plain.summary()["paralog_tau"] is None
        assert "paralog" not in plain.contributions(held)
        got = para.contributions(held)
        for part in ("mean", "text"):
            np.testing.assert_allclose(got[part], plain.contributions(held)[part], rtol=1e-12)
        if twin is None:  # nothing near: the prediction is the one without the option
            assert np.all(got["paralog"] == 0.0)
            np.testing.assert_array_equal(para.predict([held]).X, plain.predict([held]).X)
            continue
        row = para.train_genes_.index(twin)
        expect = 0.5 * (para.deltas_[row] - np.median(para.deltas_, axis=0))
        np.testing.assert_allclose(got["paralog"], expect, rtol=1e-10)
        assert para.explain([held]).loc[held, "paralog"] > 0.05
        # per day: the twin's change of that day minus that day's anchor, halved
        para.predict([held], time="d1")
        genes, changes = para.time_genes_, para.time_changes_
        anchors = np.stack([np.median(changes[:, t], axis=0) for t in range(changes.shape[1])])
        plain.predict([held], time="d1")
        diff = para._time_base(held, genes, changes) - plain._time_base(held, genes, changes)
        np.testing.assert_allclose(diff, 0.5 * (changes[genes.index(twin)] - anchors), atol=1e-10)
    assert vc.perturb.make_predictor("primed_network").paralog == 0.5
    assert vc.perturb.make_predictor("primed_network", gate="stack").paralog == 0.0
    with pytest.raises(ValidationError, match="paralog"):
        vc.perturb.make_predictor("primed_network", paralog=-1.0)


def test_no_network_is_fitted_when_no_component_uses_it(monkeypatch):
    """With components that read no network (``mean``, ``text``) the cells are never made
    dense and no network is fitted, and the predictions are those of the anchor and the
    knowledge part."""
    adata, feats = _feature_cells()  # 32 measured genes
    held = "k5"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    opts = {"prior": "none", "text_features": feats}
    with_net = vc.perturb.make_predictor("primed_network", components=("mean", "data", "text"),
                                         **opts).fit(train)  # fmt: skip
    assert with_net.uses_network and with_net.net_ is not None
    assert with_net.summary()["ridge"] is not None

    def dense_cells(*_a, **_k):
        raise AssertionError("the cells were made dense without a network to fit")

    monkeypatch.setattr(type(with_net), "_cells", dense_cells)
    bare = vc.perturb.make_predictor("primed_network", components=("mean", "text"), **opts)
    assert not bare.uses_network
    bare.fit(train)
    assert bare.net_ is None and bare.summary()["ridge"] is None
    c = bare.contributions(held)
    assert set(c) == {"mean", "text", "paralog"}
    np.testing.assert_allclose(c["text"], with_net.contributions(held)["text"], rtol=1e-12)
    np.testing.assert_allclose(c["mean"], np.median(bare.deltas_, axis=0), rtol=1e-12)
    monkeypatch.undo()
    with pytest.raises(ValidationError, match="max_regulators"):
        vc.perturb.make_predictor("primed_network", max_regulators=0)


def test_a_large_panel_fits_the_network_from_sparse_statistics(monkeypatch):
    """Above ``DENSE_NETWORK_GENES`` measured genes the cells stay sparse and the network
    is fitted from streamed statistics: with every gene a candidate it predicts as the
    in-memory fit; above ``max_regulators`` genes over that many candidates (the training
    knockouts first), the same network as the in-memory fit over those candidates, also
    for a stack refit without some genes' cells; an unseen gene outside the candidates
    gets an added row and a prediction."""
    from virtualcell.grn import fit_primed_network
    from virtualcell.perturb import _primed_components

    adata, feats = _feature_cells()  # 32 measured genes
    held = "k5"
    train = adata[(adata.obs["perturbation"] != held).to_numpy()].copy()
    genes = list(train.var_names)
    opts = {"prior": "none", "text_features": feats,
            "components": ("mean", "data", "association", "text")}  # fmt: skip
    dense = vc.perturb.make_predictor("primed_network", **opts).fit(train)
    assert dense.regulators_ is None and dense.summary()["weights"]["data"] > 0
    monkeypatch.setattr(_primed_components, "DENSE_NETWORK_GENES", 20)
    every = vc.perturb.make_predictor("primed_network", **opts).fit(train)
    assert list(every.regulators_) == list(range(32))
    np.testing.assert_allclose(every.net_.coef, dense.net_.coef, atol=1e-8)
    np.testing.assert_allclose(every.predict([held]).X, dense.predict([held]).X, atol=1e-8)
    model = vc.perturb.make_predictor("primed_network", max_regulators=25, **opts).fit(train)
    kos = {genes.index(f"k{i}") for i in range(12) if f"k{i}" != held}
    regs = model.regulators_
    assert regs.size == 25 and kos <= set(regs.tolist())
    assert genes.index(held) not in regs  # never knocked out in training: barely varies
    assert sp.issparse(model._net_cells["x"])
    labels = train.obs["perturbation"].to_numpy()
    x = np.asarray(train.X, dtype=np.float64)
    lists = [[] if lab == "control" else [genes.index(lab)] for lab in labels]
    ref = fit_primed_network(x, genes, regulators=regs, reference=labels == "control",
                             perturbed=lists, seed=model.seed)  # fmt: skip
    net = model.net_
    assert (net.ridge, net.strength, net.prior_mean) == (ref.ridge, ref.strength, ref.prior_mean)
    for part in ("coef", "association", "scale"):
        np.testing.assert_allclose(getattr(net, part), getattr(ref, part), atol=1e-8)
    out = {"k1", "k2"}
    keep = np.array([lab not in out for lab in labels])
    refit = model._network_fit(model._net_cells, genes, out, None)
    again = fit_primed_network(x[keep], genes, regulators=regs, reference=labels[keep] == "control",
                               perturbed=[p for p, k in zip(lists, keep, strict=True) if k],
                               ridges=(ref.ridge,), strengths=(1.0,), prior_means=(0.0,))  # fmt: skip
    np.testing.assert_allclose(refit.coef, again.coef, atol=1e-8)
    pred = model.predict([held]).X[0]
    assert genes.index(held) in net.added and np.isfinite(pred).all()
    assert not np.allclose(model.contributions(held)["data"], 0.0)
    with pytest.raises(ValidationError, match="max_regulators"):
        vc.perturb.make_predictor("primed_network", max_regulators=1.5)
