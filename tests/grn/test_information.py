"""Mutual information and PIDC against hand-computed / brute-force references."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from virtualcell.grn._information import discretize, mutual_information_matrix, pidc_matrices


def test_mi_hand_computed():
    x = np.array([0, 0, 1, 1, 0, 0, 1, 1.0])
    X = np.c_[x, x, np.array([0, 1, 0, 1, 0, 1, 0, 1.0])]
    mi = mutual_information_matrix(X, n_bins=2)
    assert mi[0, 1] == pytest.approx(np.log(2))  # identical balanced binary genes
    assert mi[0, 2] == pytest.approx(0.0, abs=1e-12)  # independent
    assert np.allclose(mi, mi.T) and np.all(np.diag(mi) == 0)


def test_mi_matches_sklearn_on_codes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    X[:, 1] += X[:, 0]
    codes = discretize(X, n_bins=4)
    mi = mutual_information_matrix(X, n_bins=4)
    for i, j in [(0, 1), (2, 3), (1, 4)]:
        assert mi[i, j] == pytest.approx(mutual_info_score(codes[:, i], codes[:, j]), abs=1e-10)


def _reference_pidc(codes: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Literal loops over genes, values and third genes."""
    n, g = codes.shape

    def p(*cols_vals):
        mask = np.ones(n, dtype=bool)
        for c, v in cols_vals:
            mask &= codes[:, c] == v
        return mask.mean()

    def ispec(t, y, s):
        py = p((t, y))
        total = 0.0
        for v in range(b):
            pj = p((t, y), (s, v))
            if pj > 0:
                total += pj / py * np.log(pj / (p((s, v)) * py))
        return total

    def mi(x, y):
        return sum(p((y, v)) * ispec(y, v, x) for v in range(b) if p((y, v)) > 0)

    def unique(x, y, z):  # unique information of x about target y, relative to z
        red = sum(
            p((y, v)) * min(ispec(y, v, x), ispec(y, v, z)) for v in range(b) if p((y, v)) > 0
        )
        return mi(x, y) - red

    M = np.zeros((g, g))
    puc = np.zeros((g, g))
    for x, y in product(range(g), range(g)):
        if x == y:
            continue
        M[x, y] = mi(x, y)
        if M[x, y] > 0:
            s = sum(unique(x, y, z) + unique(y, x, z) for z in range(g) if z not in (x, y))
            puc[x, y] = s / M[x, y]
    return M, puc


def test_pidc_matches_brute_force():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 3, size=(60, 5))
    codes[:, 1] = np.where(rng.random(60) < 0.7, codes[:, 0], codes[:, 1])
    codes[:, 3] = np.where(rng.random(60) < 0.5, codes[:, 1], codes[:, 3])
    mi, puc, conf = pidc_matrices(codes.astype(float), n_bins=3)
    ref_mi, ref_puc = _reference_pidc(codes, 3)
    assert np.allclose(mi, ref_mi, atol=1e-10)
    assert np.allclose(puc, ref_puc, atol=1e-8)
    # confidence: F_x + F_y of the empirical CDFs; symmetric, in (0, 2]
    assert np.allclose(conf, conf.T)
    g = codes.shape[0 + 1]
    for x, y in [(0, 1), (2, 4)]:
        fx = np.mean([puc[x, k] <= puc[x, y] for k in range(g) if k != x])
        fy = np.mean([puc[y, k] <= puc[x, y] for k in range(g) if k != y])
        assert conf[x, y] == pytest.approx(fx + fy)
    # the strongest dependency is the most confident edge
    off = conf + np.diag(np.full(g, -np.inf))
    assert np.unravel_index(np.argmax(off), off.shape) in {(0, 1), (1, 0)}


def test_discretize_modes():
    X = np.c_[np.arange(10.0), np.zeros(10)]
    u = discretize(X, n_bins=5)
    assert u[:, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert (u[:, 1] == 0).all()
    q = discretize(X, n_bins=2, binning="quantile")
    assert q[:, 0].tolist() == [0] * 5 + [1] * 5
