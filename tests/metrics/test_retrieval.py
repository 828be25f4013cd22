"""recall@k and the energy distance against reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import top_k_accuracy_score

import virtualcell as vc
from virtualcell._errors import ValidationError


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_recall_at_k_equals_top_k_accuracy_with_one_relevant_item(seed, k):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(80, 6))  # continuous: no ties
    y = rng.integers(0, 6, 80)
    truth = y[:, None] == np.arange(6)[None, :]
    expected = top_k_accuracy_score(y, scores, k=k, labels=np.arange(6))
    assert vc.metrics.recall_at_k(truth, scores, k=k) == pytest.approx(expected)


def test_recall_at_k_brute_force_with_several_relevant_items():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(50, 9)).astype(float)  # many ties
    truth = rng.random((50, 9)) < 0.25
    for k in (1, 3, 9):
        hits, n = 0, 0
        for s, r in zip(scores, truth, strict=True):
            if not r.any():
                continue
            n += 1
            best = s[r].max()
            rank = 1 + int(((s >= best) & ~r).sum())  # pessimistic: ties count against
            hits += rank <= k
        assert vc.metrics.recall_at_k(truth, scores, k=k) == pytest.approx(hits / n)


def test_recall_at_k_ties_and_edge_cases():
    truth = np.array([[True, False, False]])
    const = np.zeros((1, 3))
    assert vc.metrics.recall_at_k(truth, const, k=1) == 0.0  # a constant score finds nothing
    assert vc.metrics.recall_at_k(truth, const, k=3) == 1.0
    nan = np.array([[np.nan, 0.0, 1.0]])
    assert vc.metrics.recall_at_k(truth, nan, k=2) == 0.0  # NaN ranks last
    with pytest.raises(ValidationError, match="positive integer"):
        vc.metrics.recall_at_k(truth, const, k=0)
    with pytest.raises(ValidationError, match="same shape"):
        vc.metrics.recall_at_k(truth, np.zeros((2, 3)), k=1)
    with pytest.raises(ValidationError, match="no query"):
        vc.metrics.recall_at_k(np.zeros((2, 3), bool), np.zeros((2, 3)), k=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_energy_distance_matches_scipy_in_one_dimension(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=40), rng.normal(0.5, 2.0, size=55)
    assert vc.metrics.energy_distance(x, y) == pytest.approx(stats.energy_distance(x, y))


def test_energy_distance_properties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5))
    assert vc.metrics.energy_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    y = x + 3.0
    d = vc.metrics.energy_distance(x, y)
    assert d > 1.0 and d == pytest.approx(vc.metrics.energy_distance(y, x))
    # same mean, no spread: still a distance (the type-mean baseline is penalised)
    assert vc.metrics.energy_distance(x, np.tile(x.mean(0), (30, 1))) > 0.3
    with pytest.raises(ValidationError, match="same features"):
        vc.metrics.energy_distance(x, np.zeros((4, 3)))
