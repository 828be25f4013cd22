"""Pseudotime-aware regression (in the spirit of dynGENIE3 / SINCERITIES).

For each trajectory (every ``obs`` column whose name starts with ``PseudoTime``, else a ``Time``
column; NaN for cells off that branch) cells are ordered by pseudotime and expression is smoothed with a
moving average over ``window`` of the branch's cells. The response of target ``t`` is
the change over a lag of ``lag`` of the branch's cells,
``dx_t(i) = s_t(i + L) - s_t(i)``, predicted from the smoothed regulators ``s(i)`` (the
target's own level is a feature too, standing for decay, but its importance is not
reported) with extra-trees fitted on every other cell of the ordering. Score = the
regulator's share of the non-self importance times the model's R^2 on the remaining
cells (so targets whose change nothing explains rank low); sign = sign of the
correlation between regulator level and the target's change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._errors import ValidationError
from ._base import GRNInput, Scores
from ._parallel import map_targets

__all__ = ["lagged_design", "pseudotime_columns"]


def pseudotime_columns(obs) -> list[str]:
    """Names of the pseudotime columns of ``obs``: ``PseudoTime``, ``PseudoTime1`` ...,
    or a BEELINE ``Time`` column (simulation time of the linear / cycle data sets).

    Parameters
    ----------
    obs
        The ``obs`` table of the cells.
    """
    cols = [c for c in obs.columns if str(c).lower().startswith("pseudotime")]
    return cols or [c for c in obs.columns if str(c).lower() == "time"]


def _moving_average(A: np.ndarray, w: int) -> np.ndarray:
    if w <= 1:
        return A
    c = np.cumsum(np.vstack([np.zeros((1, A.shape[1])), A]), axis=0)
    half = w // 2
    idx = np.arange(A.shape[0])
    lo = np.clip(idx - half, 0, A.shape[0])
    hi = np.clip(idx + half + 1, 0, A.shape[0])
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def lagged_design(
    X: np.ndarray, obs, *, window: float = 0.05, lag: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """``(S, dS)``: smoothed levels and their change over the lag, stacked over branches.

    ``window`` and ``lag`` are fractions of each branch's cell count (>= 1 cell).
    """
    cols = pseudotime_columns(obs)
    if not cols:
        raise ValidationError(
            "pseudotime-aware inference needs obs columns named 'PseudoTime*' "
            "(e.g. from a BEELINE PseudoTime.csv); none found"
        )
    feats, resp = [], []
    for c in cols:
        pt = np.asarray(obs[c], dtype=np.float64)
        ok = np.flatnonzero(np.isfinite(pt))
        if ok.size < 5:
            continue
        order = ok[np.argsort(pt[ok], kind="stable")]
        m = order.size
        S = _moving_average(X[order], max(1, round(window * m)))
        L = max(1, round(lag * m))
        feats.append(S[:-L])
        resp.append(S[L:] - S[:-L])
    if not feats:
        raise ValidationError(f"pseudotime columns {cols} have fewer than 5 cells each")
    return np.vstack(feats), np.vstack(resp)


def _dyn_chunk(
    targets: np.ndarray,
    *,
    S: np.ndarray,
    dS: np.ndarray,
    regulators: np.ndarray,
    n_estimators: int,
    seed: int,
) -> np.ndarray:
    from sklearn.ensemble import ExtraTreesRegressor

    out = np.zeros((len(targets), len(regulators)))
    for row, t in enumerate(targets):
        y = dS[:, t]
        if y.std() == 0:
            continue
        cols = np.union1d(regulators, [t])
        model = ExtraTreesRegressor(
            n_estimators=n_estimators,
            max_features="sqrt" if len(cols) > 30 else 1.0,
            min_samples_leaf=5,
            random_state=seed + int(t),
            n_jobs=1,
        )
        fit, held = slice(0, None, 2), slice(1, None, 2)
        model.fit(S[fit][:, cols], y[fit])
        r2 = max(0.0, float(model.score(S[held][:, cols], y[held])))
        imp = dict(zip(cols.tolist(), model.feature_importances_, strict=True))
        vals = np.array([0.0 if r == t else imp[r] for r in regulators])
        total = vals.sum()
        out[row] = r2 * vals / total if total > 0 else vals
    return out


def pseudotime(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    window: float = 0.05,
    lag: float = 0.05,
    n_estimators: int = 100,
) -> Scores:
    """Pseudotime-aware regression (see module docstring).

    Parameters
    ----------
    window
        Moving-average width as a fraction of each branch's cells.
    lag
        Lag as a fraction of each branch's cells.
    n_estimators
        Trees per target.
    """
    S, dS = lagged_design(data.X, data.obs, window=window, lag=lag)
    sd = S.std(axis=0)
    sd[sd == 0] = 1.0
    S = (S - S.mean(axis=0)) / sd
    imp = map_targets(
        _dyn_chunk,
        np.arange(data.n_genes),
        n_jobs=n_jobs,
        description="pseudotime targets",
        S=S,
        dS=dS,
        regulators=data.regulators,
        n_estimators=n_estimators,
        seed=seed,
    )
    Sz = (S - S.mean(axis=0)) / S.shape[0]
    dz = dS - dS.mean(axis=0)
    sign = np.sign(Sz.T @ dz)[data.regulators]
    return Scores(score=imp.T, sign=sign)


def lead_lag_matrix(X: np.ndarray, obs, *, window: float = 0.02, lag: float = 0.05) -> np.ndarray:
    """``C[r, t]``: correlation of smoothed ``r`` with smoothed ``t`` a lag later along
    pseudotime, averaged over branches weighted by their cell counts."""
    cols = pseudotime_columns(obs)
    if not cols:
        raise ValidationError("lead-lag orientation needs obs columns named 'PseudoTime*'")
    g = X.shape[1]
    total, weight = np.zeros((g, g)), 0
    for c in cols:
        pt = np.asarray(obs[c], dtype=np.float64)
        ok = np.flatnonzero(np.isfinite(pt))
        if ok.size < 5:
            continue
        order = ok[np.argsort(pt[ok], kind="stable")]
        m = order.size
        S = _moving_average(X[order], max(1, round(window * m)))
        L = max(1, round(lag * m))
        A, B = S[:-L], S[L:]
        sa, sb = A.std(axis=0), B.std(axis=0)
        sa[sa == 0], sb[sb == 0] = np.inf, np.inf
        A, B = (A - A.mean(axis=0)) / sa, (B - B.mean(axis=0)) / sb
        total += (A.T @ B) / A.shape[0] * m
        weight += m
    if weight == 0:
        raise ValidationError(f"pseudotime columns {cols} have fewer than 5 cells each")
    return total / weight


def pidc_leadlag(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    base: str = "pidc",
    window: float = 0.02,
    lag: float = 0.1,
    resolve: Callable[[str], Callable[..., Scores]],
) -> Scores:
    """Undirected association (``base``, default PIDC) plus a directed, time-lagged one,
    by rank: ``score(r -> t) = rank(base[r, t]) + rank(|C[r, t]|)`` with ``C`` the
    :func:`lead_lag_matrix` (smoothed ``r`` against smoothed ``t`` a lag later). Ranks are
    scaled to (0, 1]. Sign = sign of ``C[r, t]``.

    Parameters
    ----------
    base
        Registered method giving the association score.
    window, lag
        Smoothing width and lag as fractions of each branch's cells (chosen on the BEELINE
        curated + synthetic data sets, see docs/grn.md).
    resolve
        Method lookup by name (bound by the method table, :data:`virtualcell.grn.METHODS`).
    """
    from ._perturbation import rank01

    C = lead_lag_matrix(data.X, data.obs, window=window, lag=lag)
    lagged = np.abs(C)[data.regulators]
    off = data.regulators[:, None] != np.arange(data.n_genes)[None, :]
    b = resolve(base)(data, n_jobs=n_jobs, seed=seed)
    score = rank01(np.asarray(b.score, dtype=float), off) + rank01(lagged, off)
    return Scores(score=np.where(off, score, 0.0), sign=np.sign(C[data.regulators]))
