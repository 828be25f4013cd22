"""``vc.grn`` method ``primed``: the knowledge-primed signed network as a GRN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell import ValidationError


def _cells(n: int = 400, n_pairs: int = 5, seed: int = 0) -> pd.DataFrame:
    """``r<i>`` activates ``t<i>``; ``r0`` also represses ``t1``; two time points shift
    every gene (a confounder the within-group standardisation removes)."""
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(n, n_pairs))
    t = 0.9 * r + rng.normal(scale=0.4, size=r.shape)
    t[:, 1] -= 0.7 * r[:, 0]
    x = np.hstack([r, t]) + 5.0
    cols = [f"r{i}" for i in range(n_pairs)] + [f"t{i}" for i in range(n_pairs)]
    return pd.DataFrame(x, columns=cols)


def test_registered():
    assert "primed" in vc.grn.METHODS.names()


def test_recovers_signed_edges_from_data_alone():
    edges = vc.grn.infer(_cells(), method="primed", prior="none")
    top = set(zip(edges["regulator"].head(12), edges["target"].head(12), strict=True))
    for i in range(5):
        assert (f"r{i}", f"t{i}") in top or (f"t{i}", f"r{i}") in top
    row = edges[(edges["regulator"] == "r0") & (edges["target"] == "t1")]
    assert len(row) == 1 and int(row["sign"].iloc[0]) == -1


def test_prior_helps_a_weak_edge_and_a_wrong_prior_is_overruled():
    x = _cells(n=60, seed=3)
    genes = list(x.columns)
    right = pd.DataFrame({"regulator": ["r2"], "target": ["t2"], "sign": [1]})
    wrong = pd.DataFrame({"regulator": ["r3"], "target": ["t4"], "sign": [-1]})
    prior = pd.concat([right, wrong], ignore_index=True)
    net = vc.grn.fit_primed_network(x.to_numpy(), genes, prior=prior, strengths=(100.0,),
                                    prior_means=(0.5,), ridges=(1.0,))  # fmt: skip
    alone = vc.grn.fit_primed_network(x.to_numpy(), genes, ridges=(1.0,))
    c, a = net.full("coef"), alone.full("coef")
    i, j = genes.index("r2"), genes.index("t2")
    assert c[i, j] > a[i, j] > 0  # the prior pulls a true edge up
    k, m = genes.index("r3"), genes.index("t4")
    assert c[k, m] > -0.25  # a strong wrong prior is not taken as the truth
    # data part + prior part is the whole
    np.testing.assert_allclose(net.data_part + net.prior_part, net.coef)
    assert net.n_prior_edges == 2 and alone.n_prior_edges == 0


def test_cross_validation_prefers_data_alone_when_the_prior_is_noise():
    x = _cells(n=300, seed=5)
    genes = list(x.columns)
    rng = np.random.default_rng(0)
    fake = pd.DataFrame({"regulator": rng.choice(genes, 15), "target": rng.choice(genes, 15),
                         "sign": rng.choice([-1, 1], 15)})  # fmt: skip
    net = vc.grn.fit_primed_network(x.to_numpy(), genes, prior=fake)
    assert net.prior_mean == 0.0 or net.strength == 1.0
    assert net.cv_mse and all(np.isfinite(list(net.cv_mse.values())))


def test_within_group_standardisation_removes_a_time_confounder():
    rng = np.random.default_rng(2)
    n = 300
    day = rng.integers(0, 3, size=n)
    a = rng.normal(size=n) + 2.0 * day  # a and b both rise with time, independently
    b = rng.normal(size=n) + 2.0 * day
    x = np.column_stack([a, b]) + 10
    grouped = vc.grn.fit_primed_network(x, ["a", "b"], groups=day, ridges=(0.01,))
    pooled = vc.grn.fit_primed_network(x, ["a", "b"], ridges=(0.01,))
    assert abs(grouped.coef[0, 1]) < 0.2 < abs(pooled.coef[0, 1])


def test_bad_input():
    with pytest.raises(ValidationError, match="prior"):
        vc.grn.infer(_cells(n=20), method="primed", prior="maybe")
    with pytest.raises(ValidationError, match="ridges"):
        vc.grn.fit_primed_network(np.ones((5, 3)), ["a", "b", "c"], ridges=())
    with pytest.raises(ValidationError, match="genes"):
        vc.grn.fit_primed_network(np.ones((5, 3)), ["a", "b"])
