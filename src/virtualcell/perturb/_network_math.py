"""The math of the ``network`` predictor (:mod:`._network`): the basis of monotone
shapes, the training rows, the fit of every gene's response to its regulators and the
propagation of a clamped condition to a fixed point. No model selection here: the
predictor class chooses regulators, cross-validates the settings and combines the fixed
points into predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import nnls

from ._data import knock_ratio

__all__ = [
    "N_BASIS",
    "Fit",
    "Rows",
    "basis",
    "fit_network",
    "garrote",
    "group_mean",
    "group_mean_matrix",
    "knock_clamps",
    "robust_sd",
    "spread",
    "steady_states",
]

_H = np.array([0.25, 0.5, 1.0, 2.0])
N_BASIS = 1 + len(_H)
_U_MAX = 5.0


def basis(u: np.ndarray) -> np.ndarray:
    """Dictionary of monotone shapes of scaled levels ``u`` -> ``u.shape + (B,)``."""
    u = np.clip(u, 0.0, _U_MAX)[..., None]
    u2 = u * u
    return np.concatenate([u, u2 / (_H**2 + u2)], axis=-1)


@dataclass
class Rows:
    """Training rows of the network model."""

    x: np.ndarray  # rows x genes
    perturbed: list[frozenset[int]]  # gene indices perturbed in each row
    single: np.ndarray  # index of the one perturbed gene, -1 otherwise
    group: np.ndarray  # group code per row
    ctrl_row: np.ndarray  # index of the control row of the same group
    sem: np.ndarray  # rows x genes standard errors (NaN without replicates)
    label: np.ndarray  # condition label per row
    primary: np.ndarray  # bool: row of a primary condition

    def subset(self, keep: np.ndarray) -> Rows:
        idx = np.flatnonzero(keep)
        new_pos = -np.ones(len(keep), dtype=int)
        new_pos[idx] = np.arange(len(idx))
        return Rows(
            self.x[idx],
            [self.perturbed[i] for i in idx],
            self.single[idx],
            self.group[idx],
            new_pos[self.ctrl_row[idx]],
            self.sem[idx],
            self.label[idx],
            self.primary[idx],
        )


@dataclass
class Fit:
    """A fitted network: responses of every gene."""

    link: str
    scale: np.ndarray  # genes
    eps: np.ndarray  # genes (log link offset)
    weights: sparse.csr_matrix  # genes x (genes * B)
    intercept: np.ndarray  # genes x groups
    has_model: np.ndarray  # genes (bool)
    resid_sd: np.ndarray  # genes: robust spread of fit residuals (link space -> expression)
    n_edges: int

    def __post_init__(self) -> None:
        # only regulators need their basis evaluated: keep their columns of the weights
        cols = np.unique(self.weights.indices // N_BASIS)
        self._regs = cols
        keep = (cols[:, None] * N_BASIS + np.arange(N_BASIS)[None, :]).ravel()
        self._w = self.weights[:, keep].tocsr()

    def respond(self, x: np.ndarray, group: np.ndarray) -> np.ndarray:
        """``f(x)`` for states ``x`` (states x genes) of groups ``group``."""
        regs = self._regs
        phi = basis(x[:, regs] / self.scale[regs]).reshape(x.shape[0], -1)  # states x (R*B)
        y = (self._w @ phi.T).T + self.intercept[:, group].T
        if self.link == "log":
            y = np.exp(np.minimum(y, 50.0)) - self.eps
        return np.maximum(y, 0.0)


def fit_network(rows: Rows, regs, signs, *, link: str, ridge: float, n_groups: int) -> Fit:
    """Fit every gene's response to its candidate regulators ``regs`` (edge signs
    ``signs``) by non-negative ridge least squares on the rows where it is not perturbed."""
    x = rows.x
    n_rows, n_genes = x.shape
    scale = np.maximum(np.percentile(x, 90, axis=0), 1e-3 * (x.max() + 1e-12))
    eps = 0.05 * scale
    y_all = x if link == "identity" else np.log(x + eps)
    phi = basis(x / scale)  # rows x genes x B
    data, ri, ci = [], [], []
    intercept = np.zeros((n_genes, n_groups))
    resid_sd = np.zeros(n_genes)
    has = np.zeros(n_genes, dtype=bool)
    n_edges = 0
    perturbed_rows: dict[int, list[int]] = {}
    for r, p in enumerate(rows.perturbed):
        for a in p:
            perturbed_rows.setdefault(a, []).append(r)
    for j in range(n_genes):
        use = np.ones(n_rows, dtype=bool)
        use[perturbed_rows.get(j, [])] = False
        g = rows.group[use]
        y = y_all[use, j]
        means = group_mean(y, g, n_groups)
        intercept[j] = means
        if not len(regs[j]) or use.sum() < 3:
            resid_sd[j] = spread(y - means[g])
            continue
        rows_j = np.flatnonzero(use)
        feats = phi[rows_j[:, None], regs[j][None, :], :] * signs[j][None, :, None]
        feats = feats.reshape(len(rows_j), -1)
        fm = group_mean_matrix(feats, g, n_groups)
        fc = feats - fm[g]
        yc = y - means[g]
        lam = ridge * len(y)
        a = np.vstack([fc, np.sqrt(lam) * np.eye(fc.shape[1])])
        b = np.concatenate([yc, np.zeros(fc.shape[1])])
        w, _ = nnls(a, b, maxiter=50 * fc.shape[1])
        intercept[j] = means - fm @ w
        resid_sd[j] = spread(yc - fc @ w)
        nz = np.flatnonzero(w > 0)
        if nz.size:
            has[j] = True
            k_of = regs[j][nz // N_BASIS]
            s_of = signs[j][nz // N_BASIS]
            data.append(w[nz] * s_of)
            ri.append(np.full(nz.size, j))
            ci.append(k_of * N_BASIS + nz % N_BASIS)
            n_edges += len(set(k_of.tolist()))
    weights = sparse.csr_matrix(
        (np.concatenate(data) if data else np.zeros(0),
         (np.concatenate(ri) if ri else np.zeros(0, int), np.concatenate(ci) if ci else np.zeros(0, int))),
        shape=(n_genes, n_genes * N_BASIS),
    )  # fmt: skip
    if link == "log":  # residual spread back on the expression scale (delta method)
        resid_sd = resid_sd * (np.median(x, axis=0) + eps)
    return Fit(link, scale, eps, weights, intercept, has, resid_sd, n_edges)


def spread(r: np.ndarray) -> float:
    """Robust spread (1.4826 MAD) of residuals ``r``; 0 for fewer than 2."""
    if r.size < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def knock_clamps(rows: Rows) -> tuple[dict, float]:
    """Clamp level of each gene perturbed alone in training, per group; and the median
    ratio (perturbed / control level) used for genes never perturbed."""
    levels: dict[tuple[int, int], float] = {}
    perturbed, control = [], []
    for r in np.flatnonzero((rows.single >= 0) & rows.primary):
        a = rows.single[r]
        levels[(a, rows.group[r])] = rows.x[r, a]
        perturbed.append(rows.x[r, a])
        control.append(rows.x[rows.ctrl_row[r], a])
    return levels, knock_ratio(perturbed, control)


def steady_states(fit: Fit, conds: list[frozenset[int]], rows: Rows, clamps, ratio, *,
                  n_groups: int, max_iter: int = 300, tol: float = 1e-7) -> np.ndarray:  # fmt: skip
    """Fixed points ``F(P)`` for every condition and group: conds x groups x genes."""
    ctrl_rows = [rows.ctrl_row[np.flatnonzero(rows.group == g)[0]] for g in range(n_groups)]
    start = rows.x[ctrl_rows]  # groups x genes
    states = np.repeat(start[None], len(conds), axis=0).reshape(-1, start.shape[1])
    group = np.tile(np.arange(n_groups), len(conds))
    mask = np.zeros_like(states, dtype=bool)
    value = np.zeros_like(states)
    for ci, cond in enumerate(conds):
        for g in range(n_groups):
            s = ci * n_groups + g
            for a in cond:
                mask[s, a] = True
                value[s, a] = clamps.get((a, g), ratio * start[g, a])
    free = ~mask & fit.has_model[None, :]
    x = np.where(mask, value, states)
    # plain sweeps reach the fixed point of an acyclic network in depth + 1 steps; if
    # they have not settled (cycles), continue with damped steps
    plain = min(max_iter, 60)
    for it in range(max_iter):
        new = np.where(free, fit.respond(x, group), x)
        step = new - x
        x = x + (1.0 if it < plain else 0.5) * step
        if np.max(np.abs(step)) < tol * (1.0 + np.max(np.abs(x))):
            break
    return x.reshape(len(conds), n_groups, -1)


def robust_sd(x: np.ndarray) -> np.ndarray:
    """Per-column robust spread (1.4826 MAD) with a small floor."""
    med = np.median(x, axis=0)
    sd = 1.4826 * np.median(np.abs(x - med), axis=0)
    floor = 1e-3 * (np.abs(x).max() + 1e-12)
    return np.maximum(sd, floor)


def garrote(r: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Non-negative garrote ``r max(0, 1 - sigma^2 / r^2)`` per gene."""
    r2 = np.maximum(r * r, 1e-300)
    return r * np.maximum(0.0, 1.0 - sigma**2 / r2)


def group_mean(y: np.ndarray, g: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``y`` within each of the ``n`` groups ``g`` (the overall mean for an
    empty group)."""
    s = np.bincount(g, weights=y, minlength=n)
    c = np.bincount(g, minlength=n)
    overall = float(y.mean()) if y.size else 0.0
    return np.where(c > 0, s / np.maximum(c, 1), overall)


def group_mean_matrix(f: np.ndarray, g: np.ndarray, n: int) -> np.ndarray:
    """Column means of ``f`` within each of the ``n`` groups ``g``: groups x columns."""
    onehot = np.zeros((len(g), n))
    onehot[np.arange(len(g)), g] = 1.0
    out = onehot.T @ f
    c = np.bincount(g, minlength=n)[:, None]
    overall = f.mean(axis=0, keepdims=True)
    return np.where(c > 0, out / np.maximum(c, 1), overall)
