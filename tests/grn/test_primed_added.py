"""What lets the primed network run on a screen's panel: rows of genes that were not
candidate regulators, added after the fit (``add_regulator_rows``), and the statistics
of fewer cells by subtraction (``statistics_without``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_primed_stream import _adata

import virtualcell as vc
from virtualcell import ValidationError

ONE = dict(ridges=(0.3,), strengths=(10.0,), prior_means=(0.5,))
#: G3 is added; its known edges go to G9 and G12; G1's known edge onto G20 makes G20 a
#: target whose shared inverse is only approximate (the Woodbury update of its prior)
PRIOR = pd.DataFrame(
    {"regulator": ["G3", "G3", "G1"], "target": ["G9", "G12", "G20"], "sign": [-1, 1, 1]}
)


def _fit(a, regs, prior=PRIOR):
    genes = list(a.var_names)
    return vc.grn.fit_primed_network(
        a.X.toarray().astype(np.float64), genes, prior=prior, regulators=regs,
        groups=a.obs["time"].to_numpy(), reference=a.obs["control"].to_numpy(), **ONE,
    )  # fmt: skip


def test_an_added_row_is_the_row_the_gene_gets_as_a_candidate_regulator():
    a = _adata(n=300, seed=3)
    regs = [0, 1, 2, 4, 5, 6, 7]
    without, with_ = _fit(a, regs), _fit(a, sorted([*regs, 3]))
    np.testing.assert_array_equal(without.row(3, "coef"), np.zeros(a.n_vars))
    rows = vc.grn.add_regulator_rows(without, a.X, [3], groups=a.obs["time"], prior=PRIOR)
    assert set(rows) == {3} and 3 in without.added
    exact = np.arange(a.n_vars) != 20  # G20: a known edge from a regulator (approximate)
    for part in ("coef", "data_part", "prior_part", "prior", "association"):
        got, want = without.row(3, part), with_.row(3, part)
        np.testing.assert_allclose(got[exact], want[exact], atol=1e-10, err_msg=part)
    assert without.row(3, "prior")[9] == -1 and without.row(3, "prior_part")[9] < 0
    assert abs(without.row(3, "coef")[20] - with_.row(3, "coef")[20]) < 0.05
    assert without.row(3, "coef")[3] == 0.0  # a gene does not regulate itself
    # the regulators' own rows are untouched, and a regulator is not added again
    np.testing.assert_array_equal(without.row(1, "coef"), _fit(a, regs).row(1, "coef"))
    assert vc.grn.add_regulator_rows(without, a.X, [1]) == {}


def test_rows_added_from_a_subset_of_cells_marked_in_a_larger_matrix():
    a = _adata(n=300, seed=5)
    keep = np.arange(a.n_obs) % 4 != 0
    sub = a[keep].copy()
    net = _fit(sub, [0, 1, 2, 4], prior=None)
    alone = _fit(sub, [0, 1, 2, 4], prior=None)
    vc.grn.add_regulator_rows(net, a.X, [3, 8], groups=a.obs["time"], cells=keep)
    vc.grn.add_regulator_rows(alone, sub.X, [3, 8], groups=sub.obs["time"])
    for g in (3, 8):
        np.testing.assert_allclose(net.row(g), alone.row(g), atol=1e-12)
    with pytest.raises(ValidationError, match="cells marked"):
        vc.grn.add_regulator_rows(_fit(sub, [0, 1], prior=None), a.X, [3])


def test_statistics_without_some_sets_equal_a_pass_over_the_other_cells():
    a = _adata(n=360, seed=11)
    labels = np.random.default_rng(2).choice(
        ["control", "G1", "G2", "G9", "G1+G9", "G20"], size=a.n_obs, p=[0.4, 0.15, 0.1, 0.1, 0.1, 0.15]
    )  # fmt: skip
    a.obs["perturbation"] = labels
    a.obs["control"] = labels == "control"
    kw = dict(regulators=[f"G{i}" for i in range(8)], groupby="time", reference="control",
              perturbed="perturbation")  # fmt: skip
    stats = vc.grn.primed_statistics(a, folds=3, **kw)
    held = {"G1"}  # its single and the double leave
    genes = list(a.var_names)
    drop = [i for i, s in enumerate(stats.perturbed) if {genes[j] for j in s.genes} & held]
    gone = np.array([bool(set(lab.split("+")) & held) for lab in labels])
    less = vc.grn.statistics_without(stats, a.X[gone], drop, groups=a.obs["time"][gone])
    fresh = vc.grn.primed_statistics(a[~gone].copy(), folds=1, **kw)
    assert less.folds == 1 and less.n_cells == fresh.n_cells == int((~gone).sum())
    np.testing.assert_allclose(less.cross, fresh.cross, atol=1e-10)
    np.testing.assert_allclose(less.sumsq, fresh.sumsq, atol=1e-10)
    assert [s.label for s in less.perturbed] == [s.label for s in fresh.perturbed]
    n1 = vc.grn.solve_primed(less, prior=PRIOR, **ONE)
    n2 = vc.grn.solve_primed(fresh, prior=PRIOR, **ONE)
    for part in ("coef", "data_part", "prior_part", "association", "gram"):
        np.testing.assert_allclose(getattr(n1, part), getattr(n2, part), atol=1e-10)
    with pytest.raises(ValidationError, match="rows for the"):
        vc.grn.statistics_without(stats, a.X[:3], drop)
