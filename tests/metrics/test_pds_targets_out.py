"""``pds_targets_out``: the discrimination score with the perturbed genes of every compared
condition left out of every row (``discrimination_score(all_targets=True)``)."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell.metrics import discrimination_score, metric_spec, score_profiles

GENES = ["g1", "g2", "g3", "g4"]
LABELS = ["g1", "g2", "g3"]
# true changes from a zero control: each knockout drops its own gene by 3; g4 differs
TRUE = np.array([[-3.0, 0.0, 0.0, 0.5], [0.0, -3.0, 0.0, 1.0], [0.0, 0.0, -3.0, 0.0]])
CONST = np.tile([0.0, 0.0, 0.0, 0.4], (3, 1))  # the same prediction for every condition


def test_constant_prediction_hand_computed():
    # pds (own target left out, as cell-eval). Row g1 over g2, g3, g4: L1 to true g1 =
    # 0 + 0 + 0.1, to g2 = 3 + 0 + 0.6, to g3 = 0 + 3 + 0.4 -> its own truth first (1.0);
    # rows g2 (3.1, 0.6, 3.4) and g3 (3.1, 3.6, 0.4) alike: a constant scores 1.0, because
    # every other truth keeps its own knockout's drop in the distance
    own = discrimination_score(TRUE, CONST, labels=LABELS, genes=GENES)
    np.testing.assert_allclose(own, [1.0, 1.0, 1.0])
    # all targets out: only g4 is left, distances 0.1 / 0.6 / 0.4 in every row -> ranks
    # 0, 2, 1 -> 1, 1/3, 2/3; the mean is the chance value (N + 1) / (2N) = 2/3
    out = discrimination_score(TRUE, CONST, labels=LABELS, genes=GENES, all_targets=True)
    np.testing.assert_allclose(out, [1.0, 1 / 3, 2 / 3])
    assert out.mean() == pytest.approx(2 / 3)
    # every gene kept: the distances are again the same in every row (3.1, 3.6, 3.4)
    kept = discrimination_score(TRUE, CONST, labels=LABELS, genes=GENES, exclude_target=False)
    np.testing.assert_allclose(kept, [1.0, 1 / 3, 2 / 3])


def test_a_specific_prediction_is_rewarded():
    pred = CONST.copy()
    pred[1, 3] = 1.0  # row g2 predicts g2's own change of g4: distances 0.5, 0.0, 1.0
    out = discrimination_score(TRUE, pred, labels=LABELS, genes=GENES, all_targets=True)
    np.testing.assert_allclose(out, [1.0, 1.0, 2 / 3])


def test_equals_the_score_on_the_genes_no_condition_perturbs():
    rng = np.random.default_rng(0)
    genes = [f"g{k}" for k in range(30)]
    labels = ["g0", "g3+g7", "g12", "g20", "g29"]
    t = rng.normal(size=(5, 30))
    p = rng.normal(size=(5, 30))
    c = rng.normal(size=30)
    free = [k for k, g in enumerate(genes) if g not in {"g0", "g3", "g7", "g12", "g20", "g29"}]
    ref = discrimination_score(t[:, free], p[:, free], control=c[free], exclude_target=False)
    ours = discrimination_score(t, p, control=c, labels=labels, genes=genes, all_targets=True)
    np.testing.assert_array_equal(ours, ref)
    assert not np.array_equal(ours, discrimination_score(t, p, control=c, labels=labels,
                                                         genes=genes))  # fmt: skip


@pytest.mark.parametrize("n", [4, 7, 25])
def test_any_constant_scores_chance(n):
    rng = np.random.default_rng(n)
    genes = [f"g{k}" for k in range(40)]
    labels = genes[:n]
    t = rng.normal(size=(n, 40))
    t[np.arange(n), np.arange(n)] -= 5.0  # each knockout's own drop
    const = np.tile(rng.normal(size=40), (n, 1))
    out = discrimination_score(t, const, labels=labels, genes=genes, all_targets=True)
    assert out.mean() == pytest.approx((n + 1) / (2 * n))
    own = discrimination_score(t, const, labels=labels, genes=genes)
    assert own.mean() > (n + 1) / (2 * n) + 0.1  # the free signal of the own-target rule


def test_score_profiles_reports_both():
    c = np.zeros(4)
    table = score_profiles(TRUE + 1.0, CONST + 1.0, c + 1.0, labels=LABELS, genes=GENES)
    np.testing.assert_allclose(table["pds"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(table["pds_targets_out"], [1.0, 1 / 3, 2 / 3])
    assert "pds_targets_out" in vc.metrics.PROFILE_METRICS
    assert list(table.columns) == ["perturbation", *vc.metrics.PROFILE_METRICS]
    spec = metric_spec("pds_targets_out")
    assert spec.higher_is_better and spec.bound == 1.0
    # every gene perturbed by some condition: nothing left to compare, NaN (not an error)
    all_genes = score_profiles(TRUE[:, :3], CONST[:, :3], c[:3], labels=LABELS, genes=GENES[:3])
    assert all_genes["pds_targets_out"].isna().all()
    assert all_genes["pds"].notna().all()


def test_bad_input():
    with pytest.raises(vc.ValidationError, match="all_targets needs labels"):
        discrimination_score(TRUE, CONST, all_targets=True)
    with pytest.raises(vc.ValidationError, match="leaves no gene"):
        discrimination_score(TRUE[:, :3], CONST[:, :3], labels=LABELS, genes=GENES[:3],
                             all_targets=True)  # fmt: skip
