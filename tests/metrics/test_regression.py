"""Regression metrics against numpy/scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse, stats

import virtualcell as vc
from virtualcell._errors import ValidationError


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(6, 30))
    p = t + rng.normal(scale=0.5, size=t.shape)
    p[2, :10] = p[2, 0]  # ties for spearman
    return t, p


def test_scalar_against_scipy(pair):
    t, p = pair
    assert vc.metrics.mse(t, p) == pytest.approx(np.mean((t - p) ** 2))
    assert vc.metrics.rmse(t, p) == pytest.approx(np.sqrt(np.mean((t - p) ** 2)))
    assert vc.metrics.pearson(t, p) == pytest.approx(stats.pearsonr(t.ravel(), p.ravel())[0])
    assert vc.metrics.spearman(t, p) == pytest.approx(stats.spearmanr(t.ravel(), p.ravel())[0])


@pytest.mark.parametrize("axis", [0, 1])
def test_per_axis_against_scipy(pair, axis):
    t, p = pair
    n = t.shape[1 - axis]
    take = (lambda a, i: a[i]) if axis == 1 else (lambda a, i: a[:, i])
    want_r = [stats.pearsonr(take(t, i), take(p, i))[0] for i in range(n)]
    want_s = [stats.spearmanr(take(t, i), take(p, i))[0] for i in range(n)]
    np.testing.assert_allclose(vc.metrics.pearson(t, p, axis=axis), want_r, rtol=1e-10)
    np.testing.assert_allclose(vc.metrics.spearman(t, p, axis=axis), want_s, rtol=1e-10)
    np.testing.assert_allclose(vc.metrics.mse(t, p, axis=axis), ((t - p) ** 2).mean(axis=axis))


def test_sparse_input(pair):
    t, p = pair
    t = np.where(t > 0.5, t, 0)
    assert vc.metrics.mse(sparse.csr_matrix(t), p) == pytest.approx(np.mean((t - p) ** 2))


def test_constant_vector_gives_nan_with_warning():
    with pytest.warns(RuntimeWarning, match="constant"):
        assert np.isnan(vc.metrics.pearson([1, 1, 1], [1, 2, 3]))
    with pytest.warns(RuntimeWarning, match="1 constant"):
        out = vc.metrics.spearman([[1, 2, 3], [4, 4, 4]], [[1, 3, 2], [1, 2, 3]], axis=1)
    assert out[0] == pytest.approx(0.5) and np.isnan(out[1])


def test_bad_input():
    with pytest.raises(ValidationError, match="differ in shape"):
        vc.metrics.mse([1, 2, 3], [1, 2])
    with pytest.raises(ValidationError, match="NaN"):
        vc.metrics.pearson([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(ValidationError, match="2-D"):
        vc.metrics.pearson([1, 2, 3], [1, 2, 3], axis=1)
