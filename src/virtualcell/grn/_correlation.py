"""Correlation methods: Pearson, Spearman and shrinkage partial correlation."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from ._base import GRNInput, Scores

__all__ = ["correlation_matrix", "partial_correlation_matrix"]


def _standardize(X: np.ndarray) -> np.ndarray:
    Z = X - X.mean(axis=0)
    sd = Z.std(axis=0)
    sd[sd == 0] = np.inf  # constant genes correlate with nothing
    return Z / sd


def correlation_matrix(X: np.ndarray, *, rank: bool = False) -> np.ndarray:
    """Gene x gene Pearson (or Spearman with ``rank=True``) correlation; constant genes
    get 0."""
    if rank:
        X = rankdata(X, axis=0)
    Z = _standardize(np.asarray(X, dtype=np.float64))
    C = (Z.T @ Z) / Z.shape[0]
    return np.clip(C, -1.0, 1.0)


def partial_correlation_matrix(X: np.ndarray, *, shrinkage: float | None = None) -> np.ndarray:
    """Partial correlation from a shrunk precision matrix.

    The correlation matrix ``R`` is shrunk towards the identity,
    ``(1 - a) R + a I``, with ``a`` from the Ledoit-Wolf estimate when ``shrinkage`` is
    None; then ``pcor_ij = -P_ij / sqrt(P_ii P_jj)`` with ``P`` its inverse.
    """
    Z = _standardize(np.asarray(X, dtype=np.float64))
    Z[:, ~np.isfinite(Z).all(axis=0)] = 0.0
    if shrinkage is None:
        from sklearn.covariance import ledoit_wolf_shrinkage

        a = float(ledoit_wolf_shrinkage(Z, assume_centered=True))
    else:
        a = float(shrinkage)
    R = (Z.T @ Z) / Z.shape[0]
    const = np.diag(R) == 0
    R[np.diag_indices_from(R)] = 1.0
    S = (1.0 - a) * R + a * np.eye(R.shape[0])
    P = np.linalg.pinv(S, hermitian=True)
    d = np.sqrt(np.clip(np.diag(P), 1e-12, None))
    pc = -P / np.outer(d, d)
    pc[const, :] = 0.0
    pc[:, const] = 0.0
    np.fill_diagonal(pc, 1.0)
    return np.clip(pc, -1.0, 1.0)


def _signed(data: GRNInput, C: np.ndarray) -> Scores:
    sub = C[data.regulators]
    return Scores(score=np.abs(sub), sign=np.sign(sub))


def pearson(data: GRNInput, *, n_jobs: int = 1, seed: int = 0) -> Scores:
    """Pearson correlation; score ``|r|``, sign of ``r``."""
    return _signed(data, correlation_matrix(data.X))


def spearman(data: GRNInput, *, n_jobs: int = 1, seed: int = 0) -> Scores:
    """Spearman rank correlation; score ``|rho|``, sign of ``rho``."""
    return _signed(data, correlation_matrix(data.X, rank=True))


def partial_correlation(
    data: GRNInput, *, n_jobs: int = 1, seed: int = 0, shrinkage: float | None = None
) -> Scores:
    """Partial correlation (shrunk precision matrix); score ``|pcor|``, sign kept.

    Parameters
    ----------
    shrinkage
        Weight of the identity target in ``[0, 1]``; None = Ledoit-Wolf estimate.
    """
    return _signed(data, partial_correlation_matrix(data.X, shrinkage=shrinkage))
