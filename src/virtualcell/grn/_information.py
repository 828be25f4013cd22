"""Information-theoretic methods: binned mutual information and PIDC-style partial
information decomposition (Chan et al. 2017), both vectorised with numpy.

Definitions (natural log, counts from discretised expression)
-------------------------------------------------------------
* specific information of target value ``y`` from source ``S``:
  ``Ispec(y; S) = sum_s p(s|y) log(p(s, y) / (p(s) p(y)))``;
  mutual information ``I(S; Y) = sum_y p(y) Ispec(y; S)``.
* redundancy of sources ``X, Z`` about ``Y`` (Williams-Beer ``I_min``):
  ``R(Y; X, Z) = sum_y p(y) min(Ispec(y; X), Ispec(y; Z))``; unique information
  ``U(X -> Y | Z) = I(X; Y) - R(Y; X, Z)``.
* proportional unique contribution
  ``PUC(X, Y) = sum_{Z != X, Y} [U(X -> Y | Z) + U(Y -> X | Z)] / I(X; Y)``.
* PIDC confidence: ``c(X, Y) = F_X(PUC(X, Y)) + F_Y(PUC(X, Y))`` with ``F_X`` the
  empirical CDF of ``PUC(X, .)`` over the partners of ``X``. Undirected (symmetric).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._base import GRNInput, Scores

__all__ = ["discretize", "mutual_information_matrix", "pidc_matrices"]

Binning = Literal["uniform", "quantile"]


def _default_bins(n_cells: int) -> int:
    return int(max(2, min(10, round(n_cells ** (1.0 / 3.0)))))


def discretize(
    X: np.ndarray, *, n_bins: int | None = None, binning: Binning = "uniform"
) -> np.ndarray:
    """Integer bin codes (cells x genes) in ``[0, n_bins)``.

    ``uniform``: equal-width bins over each gene's range; ``quantile``: equal-frequency
    bins (ties share a bin). Constant genes get a single bin (code 0).
    """
    X = np.asarray(X, dtype=np.float64)
    b = n_bins or _default_bins(X.shape[0])
    if binning == "quantile":
        from scipy.stats import rankdata

        r = (rankdata(X, axis=0, method="min") - 1) / X.shape[0]
        return np.minimum((r * b).astype(np.int64), b - 1)
    lo, hi = X.min(axis=0), X.max(axis=0)
    width = np.where(hi > lo, hi - lo, 1.0)
    return np.minimum(((X - lo) / width * b).astype(np.int64), b - 1)


def _joint_counts(codes: np.ndarray, n_bins: int) -> np.ndarray:
    """``N[i, a, j, b]`` = number of cells with gene i in bin a and gene j in bin b."""
    n, g = codes.shape
    onehot = np.zeros((n, g * n_bins), dtype=np.float64)
    onehot[np.repeat(np.arange(n), g), (np.arange(g) * n_bins + codes).ravel()] = 1.0
    return (onehot.T @ onehot).reshape(g, n_bins, g, n_bins)


def _specific_information(N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ISPEC[t, s, y] = Ispec(y_t; S)`` and marginals ``P[t, y]`` from joint counts."""
    n = N[0, :, 0, :].sum()
    marg = np.einsum("iaia->ia", N)  # counts of gene i in bin a
    Nt = marg[:, :, None, None]  # target marginal (axis t, y)
    Ns = marg[None, None, :, :]  # source marginal (axis s, bin)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(N > 0, N / Nt * np.log(N * n / (Nt * Ns)), 0.0)
    ispec = np.nan_to_num(term.sum(axis=3))  # (t, y, s)
    return ispec.transpose(0, 2, 1), marg / n


def mutual_information_matrix(
    X: np.ndarray, *, n_bins: int | None = None, binning: Binning = "uniform"
) -> np.ndarray:
    """Gene x gene mutual information (nats) of discretised expression."""
    b = n_bins or _default_bins(X.shape[0])
    codes = discretize(X, n_bins=b, binning=binning)
    n, g = codes.shape
    mi = np.zeros((g, g))
    block = max(1, int(2e7 // max(1, g * b * b)))
    # float32 counts are exact up to 2**24 cells and halve memory / time of the products
    onehot = np.zeros((n, g * b), dtype=np.float32 if n < 2**24 else np.float64)
    onehot[np.repeat(np.arange(n), g), (np.arange(g) * b + codes).ravel()] = 1.0
    p = onehot.sum(axis=0, dtype=np.float64).reshape(g, b) / n
    for start in range(0, g, block):
        stop = min(g, start + block)
        counts = onehot[:, start * b : stop * b].T @ onehot
        pj = counts.astype(np.float64).reshape(stop - start, b, g, b) / n
        outer = p[start:stop, :, None, None] * p[None, None, :, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(pj > 0, pj * np.log(pj / outer), 0.0)
        mi[start:stop] = t.sum(axis=(1, 3))
    np.fill_diagonal(mi, 0.0)
    return np.clip((mi + mi.T) / 2, 0.0, None)


def pidc_matrices(
    X: np.ndarray, *, n_bins: int | None = None, binning: Binning = "uniform"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(MI, PUC, confidence)`` gene x gene matrices of PIDC (see module docstring).

    Cost is O(genes^3 x bins) time and O(genes^2 x bins^2) memory: fine for a few hundred
    genes.
    """
    b = n_bins or _default_bins(X.shape[0])
    codes = discretize(X, n_bins=b, binning=binning)
    g = codes.shape[1]
    ispec, py = _specific_information(_joint_counts(codes, b))
    mi = np.einsum("tsy,ty->ts", ispec, py)  # mi[t, s] = I(S; T)
    mi = (mi + mi.T) / 2
    np.fill_diagonal(mi, 0.0)
    # su[x, y] = sum_{z != x, y} U(x -> y | z), target y
    su = np.zeros((g, g))
    for y in range(g):
        A = ispec[y]  # (source, bin)
        R = np.zeros((g, g))
        for a in range(b):
            if py[y, a] > 0:
                col = A[:, a]
                R += py[y, a] * np.minimum(col[:, None], col[None, :])
        total = R.sum(axis=1) - R[:, y] - np.diag(R)  # exclude z == y and z == x
        su[:, y] = (g - 2) * mi[:, y] - total
    with np.errstate(divide="ignore", invalid="ignore"):
        puc = np.where(mi > 0, (su + su.T) / mi, 0.0)
    np.fill_diagonal(puc, 0.0)
    puc = np.clip(puc, 0.0, None)
    conf = _ecdf_confidence(puc)
    return mi, puc, conf


def _ecdf_confidence(puc: np.ndarray) -> np.ndarray:
    """``F_x(puc[x, y]) + F_y(puc[x, y])``, ``F_x`` the empirical CDF of row ``x`` (off
    the diagonal)."""
    g = puc.shape[0]
    off = ~np.eye(g, dtype=bool)
    F = np.zeros_like(puc)
    for x in range(g):
        row = puc[x, off[x]]
        srt = np.sort(row)
        F[x, off[x]] = np.searchsorted(srt, row, side="right") / row.size
    conf = F + F.T
    np.fill_diagonal(conf, 0.0)
    return conf


def mutual_information(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    n_bins: int | None = None,
    binning: Binning = "uniform",
) -> Scores:
    """Binned mutual information ``I(X; Y)`` in nats (undirected).

    Parameters
    ----------
    n_bins
        Bins per gene; default ``clip(round(n_cells ** (1/3)), 2, 10)``.
    binning
        ``uniform`` (equal width) or ``quantile`` (equal frequency).
    """
    mi = mutual_information_matrix(data.X, n_bins=n_bins, binning=binning)
    return Scores(score=mi[data.regulators])


def pidc(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    n_bins: int | None = None,
    binning: Binning = "uniform",
) -> Scores:
    """PIDC-style confidence from proportional unique contributions (undirected).

    Parameters
    ----------
    n_bins, binning
        As for ``mutual_information``.
    """
    _, _, conf = pidc_matrices(data.X, n_bins=n_bins, binning=binning)
    return Scores(score=conf[data.regulators])
