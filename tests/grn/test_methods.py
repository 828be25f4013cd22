"""Every method recovers planted edges; signs, determinism, input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell._errors import DataFormatError, ValidationError

FAST_KW = {
    "genie3": {"n_estimators": 30},
    "genie3_et": {"n_estimators": 30},
    "grnboost2": {"max_rounds": 60},
    "ensemble": {"methods": ("pidc", "pearson", "partial_correlation")},
}
STEADY = [
    "pearson",
    "spearman",
    "partial_correlation",
    "mutual_information",
    "pidc",
    "genie3",
    "genie3_et",
    "grnboost2",
    "ensemble",
]


def _shuffled(edges: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    out = edges.copy()
    out["score"] = np.random.default_rng(seed).permutation(out["score"].to_numpy())
    return out


def test_method_table_has_all_and_takes_user_methods(linear_net):
    names = vc.grn.METHODS.names()
    for m in [*STEADY, "pseudotime", "perturbation", "ensemble", "prior", "attention"]:
        assert m in names
    assert set(vc.grn.METHODS.describe()) == set(names)
    assert vc.grn.METHODS.names(baseline=True) == ["pearson", "spearman"]
    X, _, _ = linear_net

    def constant(data, *, n_jobs=1, seed=0, value=1.0):
        """Every edge the same score."""
        return vc.grn.Scores(score=np.full((len(data.regulators), data.n_genes), value))

    table = vc.grn.METHODS
    table.add("constant_test", constant)
    try:
        edges = vc.grn.infer(X, method="constant_test", value=2.0)
        assert (edges["score"] == 2.0).all()
        # a composite method finds the user's method through the same table
        ens = vc.grn.infer(X, method="ensemble", methods=["constant_test", "pearson"])
        assert len(ens) == len(edges)
        with pytest.raises(vc.ValidationError, match="already registered"):
            table.add("constant_test", constant)
        with pytest.raises(vc.ValidationError, match="no option"):
            vc.grn.infer(X, method="constant_test", wrong=1)
    finally:
        table.remove("constant_test")
    assert "constant_test" not in table and "constant_test" not in vc.grn.METHODS.names()


@pytest.mark.parametrize("method", STEADY)
def test_recovers_planted_edges(method, linear_net):
    X, truth, _ = linear_net
    edges = vc.grn.infer(X, method=method, seed=0, **FAST_KW.get(method, {}))
    genes = list(X.columns)
    n = len(genes)
    assert len(edges) == n * (n - 1)
    assert (edges["regulator"] != edges["target"]).all()
    assert edges["score"].is_monotonic_decreasing
    res = vc.grn.evaluate(edges, truth, genes=genes)
    tr = truth[["regulator", "target"]]
    rand = np.mean(
        [vc.metrics.auprc_ratio(tr, _shuffled(edges, s), genes=genes) for s in range(20)]
    )
    # undirected methods can reach at most half the precision of a directed truth
    assert res["auprc_ratio"] > 1.6, res
    assert res["auprc_ratio"] > 1.3 * rand
    assert res["auroc"] > 0.65


def test_partial_correlation_beats_marginal(linear_net):
    X, truth, _ = linear_net
    genes = list(X.columns)
    pc = vc.grn.evaluate(vc.grn.infer(X, method="partial_correlation"), truth, genes=genes)
    pe = vc.grn.evaluate(vc.grn.infer(X, method="pearson"), truth, genes=genes)
    assert pc["auprc"] > pe["auprc"]


def test_correlation_signs():
    rng = np.random.default_rng(1)
    a = rng.normal(size=500)
    X = pd.DataFrame(
        {"a": a, "up": a + 0.3 * rng.normal(size=500), "down": -a + 0.3 * rng.normal(size=500)}
    )
    truth = pd.DataFrame({"regulator": ["a", "a"], "target": ["up", "down"], "sign": [1, -1]})
    for method in ("pearson", "spearman", "partial_correlation", "genie3_et"):
        edges = vc.grn.infer(X, method=method, **FAST_KW.get(method, {}))
        signs = edges.set_index(["regulator", "target"])["sign"]
        assert signs[("a", "up")] == 1 and signs[("a", "down")] == -1
        assert vc.grn.evaluate(edges, truth, genes=list(X.columns))["signed_accuracy"] == 1.0
    ref = np.corrcoef(X.to_numpy().T)[0, 1]
    e = vc.grn.infer(X, method="pearson").set_index(["regulator", "target"])
    assert e.loc[("a", "up"), "score"] == pytest.approx(abs(ref), abs=1e-12)


def test_regulator_restriction(linear_net):
    X, _, _ = linear_net
    edges = vc.grn.infer(X, method="pearson", regulators=["g0", "g1", "not_a_gene"])
    assert set(edges["regulator"]) == {"g0", "g1"}
    assert len(edges) == 2 * (X.shape[1] - 1)
    with pytest.raises(ValidationError, match="regulators"):
        vc.grn.infer(X, method="pearson", regulators=["nope"])


@pytest.mark.parametrize("method", ["genie3", "grnboost2", "pidc"])
def test_deterministic_with_seed(method, linear_net):
    X, _, _ = linear_net
    kw = FAST_KW.get(method, {})
    a = vc.grn.infer(X, method=method, seed=3, **kw)
    b = vc.grn.infer(X, method=method, seed=3, **kw)
    pd.testing.assert_frame_equal(a, b)
    if method == "genie3":
        d = vc.grn.infer(X, method=method, seed=4, **kw)
        assert not np.allclose(a["score"].to_numpy(), d["score"].to_numpy())


def test_processes_give_same_result(linear_net):
    X, _, _ = linear_net
    X = X.iloc[:80, :6]
    a = vc.grn.infer(X, method="genie3_et", seed=1, n_estimators=10)
    b = vc.grn.infer(X, method="genie3_et", seed=1, n_estimators=10, n_jobs=2)
    pd.testing.assert_frame_equal(a, b)


def test_input_validation_and_no_mutation(linear_net):
    X, _, _ = linear_net
    before = X.copy()
    vc.grn.infer(X, method="pearson")
    pd.testing.assert_frame_equal(X, before)
    bad = X.copy()
    bad.iloc[0, 2] = np.nan
    with pytest.raises(DataFormatError, match="g2"):
        vc.grn.infer(bad, method="pearson")
    with pytest.raises(ValidationError, match="unknown GRN method"):
        vc.grn.infer(X, method="nope")
    with pytest.raises(ValidationError, match="PseudoTime"):
        vc.grn.infer(X, method="pseudotime")
    with pytest.raises(ValidationError, match="perturbation"):
        vc.grn.infer(X, method="perturbation")


def test_unknown_method_option_names_the_option(linear_net):
    X, _, _ = linear_net
    with pytest.raises(ValidationError, match=r"'pearson' has no option\(s\) \['tfs'\].*none"):
        vc.grn.infer(X, method="pearson", tfs=["g0"])
    # wrappers forwarding **kw are checked against the function they forward to
    with pytest.raises(ValidationError, match=r"\['n_tree'\].*'n_estimators'"):
        vc.grn.infer(X, method="genie3", n_tree=5)
    with pytest.raises(ValidationError, match=r"\['rounds'\].*'max_rounds'"):
        vc.grn.infer(X, method="grnboost2", rounds=5)


def test_array_input_and_max_edges():
    X = np.random.default_rng(0).normal(size=(50, 4))
    e = vc.grn.infer(X, method="pearson", max_edges=5)
    assert len(e) == 5 and set(e["regulator"]) <= {"G0", "G1", "G2", "G3"}
    e2 = vc.grn.infer(X, method="pearson", genes=["a", "b", "c", "d"])
    assert set(e2["regulator"]) == {"a", "b", "c", "d"}


def test_knowledge_prior_blending(linear_net):
    X, truth, _ = linear_net
    genes = list(X.columns)
    known = truth.head(5).copy()  # half of the true edges "known", lower-case-insensitive
    known["regulator"] = known["regulator"].str.upper()
    base = vc.grn.infer(X, method="pearson")
    blended = vc.grn.infer(X, method="prior", base="pearson", prior=known, weight=0.5)
    top5 = set(zip(blended["regulator"].head(5), blended["target"].head(5), strict=True))
    assert top5 == set(zip(truth["regulator"].head(5), truth["target"].head(5), strict=True))
    s = blended.set_index(["regulator", "target"])["sign"]
    for r, t, sg in truth.head(5).itertuples(index=False):
        assert s[(r, t)] == sg
    b = vc.grn.evaluate(base, truth, genes=genes)["auprc"]
    assert vc.grn.evaluate(blended, truth, genes=genes)["auprc"] > b
    with pytest.raises(ValidationError, match="knowledge"):
        vc.grn.infer(X, method="prior", base="pearson")  # no store built in the test cache
