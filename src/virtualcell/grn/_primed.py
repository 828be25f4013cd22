"""``primed``: a knowledge-primed, signed, linear gene network (the virtual cell's core).

Model
-----
Expression is standardised per gene, ``z = (x - m_group) / s``, with ``m_group`` the mean
of the *reference* cells (control cells where given, else all cells) of the cell's group
(a time point or cell type: time and group are not confounders), and ``s`` the spread of
the reference cells within groups. Every target ``t`` is regressed on the candidate
regulators ``k != t``::

    z_t ≈ sum_k B[k, t] z_k

over the cells where ``t`` itself is not perturbed (interventional cells of other genes
carry their drop as information), with a Gaussian prior on each coefficient::

    B[k, t] ~ N(mu[k, t], 1 / (lambda * n * kappa[k, t]))

``mu = m * sign`` and ``kappa = strength`` for a known edge of the knowledge base
(TRRUST / CollecTRI ... signed TF -> target), ``mu = 0`` and ``kappa = 1`` otherwise. The
posterior mean is ``B = (Z'Z + L)^-1 Z'z_t + (Z'Z + L)^-1 L mu``: the first term is what the
data say (:attr:`PrimedNetwork.data_part`), the second what the prior adds
(:attr:`PrimedNetwork.prior_part`; their sum is :attr:`PrimedNetwork.coef`). The prior is a
prior, not the truth: the data move a known edge away from ``mu`` (even to zero or the
other sign) when they disagree, and edges without prior remain possible.

``lambda``, ``strength`` and ``m`` are chosen by K-fold cross-validation over cells (mean
squared error of the held-out cells' standardised expression); the grid includes
``strength = 1, m = 0`` (the data alone), so the prior is used only where it predicts
held-out cells better. Without a knowledge store (or with ``prior="none"``) the model is
the data-alone ridge network, and a log line says so.

As a GRN method (``vc.grn.infer(adata, method="primed")``) the edge score is ``|B|`` and
the sign that of ``B``; the perturbation engine ``primed_network`` of ``vc.perturb``
propagates knockouts through the same :class:`PrimedNetwork`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import log
from ._base import GRNInput, Scores

__all__ = [
    "PrimedNetwork",
    "fit_primed_network",
    "knowledge_prior_or_none",
    "primed",
    "primed_inputs",
    "prior_matrix",
]


@dataclass
class PrimedNetwork:
    """A fitted knowledge-primed network (module docstring).

    Attributes
    ----------
    genes
        Gene names (columns of every matrix).
    regulators
        Column indices of the candidate regulators.
    coef
        ``regulators x genes`` signed effects in standardised units (``data_part +
        prior_part``).
    data_part, prior_part
        The two terms of the posterior mean.
    prior
        ``regulators x genes`` prior signs (0 where no edge is known).
    centre, scale
        Per-group reference mean (groups x genes) and per-gene spread of the
        standardisation.
    groups
        Group names (rows of ``centre``).
    ridge, strength, prior_mean
        The chosen ``lambda``, ``kappa`` of known edges and ``m``.
    cv_mse
        Cross-validated error of every setting tried (``"lambda/kappa/m"``).
    association
        ``regulators x genes`` marginal slopes ``cov(z_k, z_t) / var(z_k)`` of the
        standardised data (over the cells perturbing neither gene): the expected change
        of ``t`` when ``k`` is *seen* lower (conditioning, not intervening), i.e. direct
        plus indirect paths and common causes.
    """

    genes: list[str]
    regulators: np.ndarray
    coef: np.ndarray
    data_part: np.ndarray
    prior_part: np.ndarray
    prior: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    groups: list[str]
    ridge: float
    strength: float
    prior_mean: float
    cv_mse: dict[str, float] = field(default_factory=dict)
    association: np.ndarray | None = None
    gram: np.ndarray | None = field(default=None, repr=False)
    n_cells: int = 0
    added: dict[int, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def n_prior_edges(self) -> int:
        return int((self.prior != 0).sum())

    def row(self, gene: int, part: str = "coef") -> np.ndarray:
        """What gene column ``gene`` does to every gene (a copy): its row of ``part``
        (``coef``, ``data_part``, ``prior_part``, ``prior`` or ``association``), as a
        candidate regulator or as added by :func:`add_regulator_rows`; zeros for a gene
        that is neither (it regulates nothing in this network)."""
        if part not in ROW_PARTS:
            raise ValidationError(f"part must be one of {ROW_PARTS}, got {part!r}")
        pos = np.flatnonzero(self.regulators == gene)
        if pos.size:
            table = getattr(self, part)
            return np.array(table[pos[0]], dtype=np.float64)
        if gene in self.added:
            return self.added[gene][part].copy()
        return np.zeros(len(self.genes))

    def full(self, part: str = "coef") -> np.ndarray:
        """``genes x genes`` matrix of ``coef``, ``data_part`` or ``prior_part`` (rows of
        non-regulators are 0)."""
        out = np.zeros((len(self.genes), len(self.genes)))
        out[self.regulators] = getattr(self, part)
        return out

    def edges(self) -> pd.DataFrame:
        """Signed edges ``regulator, target, weight, sign, prior_sign, prior_share``
        (``prior_share = |prior_part| / (|data_part| + |prior_part|)``), strongest first."""
        ri, ti = np.nonzero(self.coef)
        keep = self.regulators[ri] != ti
        ri, ti = ri[keep], ti[keep]
        w = self.coef[ri, ti]
        d, p = np.abs(self.data_part[ri, ti]), np.abs(self.prior_part[ri, ti])
        g = np.asarray(self.genes, dtype=object)
        table = pd.DataFrame(
            {
                "regulator": g[self.regulators[ri]],
                "target": g[ti],
                "weight": np.abs(w),
                "sign": np.sign(w).astype(int),
                "prior_sign": self.prior[ri, ti].astype(int),
                "prior_share": p / np.maximum(d + p, 1e-300),
            }
        )
        return table.sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


#: the parts :meth:`PrimedNetwork.row` reads
ROW_PARTS = ("coef", "data_part", "prior_part", "prior", "association")


def prior_matrix(
    prior: pd.DataFrame | None, genes: Sequence[str], regulators: np.ndarray
) -> np.ndarray:
    """``regulators x genes`` matrix of known edge signs (+1 / -1; an unsigned known edge
    counts +1) from an edge table ``regulator``/``tf``/``Gene1``, ``target``/``Gene2``
    [, ``sign``]; names match case-insensitively."""
    out = np.zeros((len(regulators), len(genes)))
    if prior is None or not len(prior):
        return out
    p = prior.rename(columns={"tf": "regulator", "Gene1": "regulator", "Gene2": "target"})
    if not {"regulator", "target"} <= set(p.columns):
        raise ValidationError(f"prior needs regulator/target columns, has {list(prior.columns)}")
    upper = {str(g).upper(): i for i, g in enumerate(genes)}
    rpos = {int(g): i for i, g in enumerate(regulators)}
    signs = p["sign"] if "sign" in p.columns else pd.Series(1, index=p.index)
    for r, t, s in zip(p["regulator"].astype(str), p["target"].astype(str), signs, strict=True):
        ri, ti = upper.get(r.upper()), upper.get(t.upper())
        if ri is None or ti is None or ri not in rpos or ri == ti:
            continue
        s = float(s) if pd.notna(s) else 1.0
        out[rpos[ri], ti] = np.sign(s) or 1.0
    if not out.any():
        warnings.warn(
            f"the prior's {len(p)} edges link no regulator to a gene of the data (names "
            f"compared case-insensitively, e.g. {p['regulator'].iloc[0]} -> "
            f"{p['target'].iloc[0]}): the network is fitted from the data alone",
            UserWarning,
            stacklevel=2,
        )
    return out


def group_codes(names: Sequence[str], groups: Sequence[Any] | None, n: int) -> np.ndarray:
    """The index into ``names`` (a fit's sorted group names) of each of ``n`` rows'
    ``groups`` (None: one group); a group the fit does not know is an error naming them."""
    known = np.asarray(names, dtype=object)
    if known.size <= 1:
        return np.zeros(n, dtype=int)
    if groups is None:
        raise ValidationError(f"the fit standardised within groups {list(known)[:8]}: pass "
                              "each row's group")  # fmt: skip
    g = np.asarray(groups).astype(str)
    codes = np.searchsorted(known, g)
    bad = (codes >= known.size) | (known[np.minimum(codes, known.size - 1)] != g)
    if bad.any():
        raise ValidationError(
            f"groups {sorted(set(g[bad].tolist()))[:8]} are not among the fit's {list(known)[:8]}"
        )
    return codes


def _standardise(
    x: np.ndarray, groups: np.ndarray | None, reference: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    n = x.shape[0]
    g = np.zeros(n, dtype=object) if groups is None else np.asarray(groups).astype(str)
    ref = np.ones(n, dtype=bool) if reference is None else np.asarray(reference, dtype=bool)
    names = sorted(set(g.tolist()))
    centre = np.zeros((len(names), x.shape[1]))
    resid = np.zeros_like(x)
    for i, name in enumerate(names):
        rows = g == name
        base = rows & ref if (rows & ref).sum() >= 2 else rows
        centre[i] = x[base].mean(axis=0)
        resid[rows] = x[rows] - centre[i]
    spread = resid[ref].std(axis=0) if ref.sum() >= 3 else resid.std(axis=0)
    floor = 1e-3 * (np.abs(x).max() + 1e-12)
    scale = np.maximum(spread, floor)
    return resid / scale, centre, scale, [str(v) for v in names]


def _solve(
    z: np.ndarray,
    regulators: np.ndarray,
    excluded: dict[int, np.ndarray],
    prior: np.ndarray,
    *,
    ridge: float,
    strength: float,
    prior_mean: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(data_part, prior_part)`` of every target's posterior mean."""
    zr = z[:, regulators]
    gram = zr.T @ zr
    cross = zr.T @ z  # regulators x genes
    n_reg, n_genes = len(regulators), z.shape[1]
    data_part = np.zeros((n_reg, n_genes))
    prior_part = np.zeros((n_reg, n_genes))
    reg_pos = {int(r): i for i, r in enumerate(regulators)}
    for t in range(n_genes):
        g, c = gram, cross[:, t]
        rows = excluded.get(t)
        if rows is not None and rows.size:
            zx = zr[rows]
            g = g - zx.T @ zx
            c = c - zx.T @ z[rows, t]
        n = z.shape[0] - (0 if rows is None else rows.size)
        lam = np.full(n_reg, ridge * max(n, 1))
        known = prior[:, t] != 0
        lam[known] /= strength
        mu = prior_mean * prior[:, t]
        own = reg_pos.get(t)
        a = g + np.diag(lam)
        if own is not None:  # a target never regulates itself: pin its coefficient at 0
            a[own, :] = 0.0
            a[:, own] = 0.0
            a[own, own] = 1.0
            c = c.copy()
            c[own] = 0.0
            mu = mu.copy()
            mu[own] = 0.0
        data_part[:, t] = np.linalg.solve(a, c)
        prior_part[:, t] = np.linalg.solve(a, lam * mu) if np.any(mu) else 0.0
    return data_part, prior_part


def _association(z: np.ndarray, regs: np.ndarray, excl: dict[int, np.ndarray]) -> np.ndarray:
    ok = np.ones(z.shape, dtype=bool)
    for t, rows in excl.items():
        ok[rows, t] = False
    w = ok.astype(np.float64)
    zz = np.where(ok, z, 0.0)
    cross = zz[:, regs].T @ zz  # regulators x genes, over rows where both are free
    var = (zz[:, regs] ** 2).T @ w
    return cross / np.maximum(var, 1e-12)


def _choose(z, regs, excl, p, settings, folds, seed) -> tuple[tuple, dict[str, float]]:
    """The setting with the lowest K-fold cross-validated error over cells."""
    cv: dict[str, float] = {}
    if len(settings) > 1 and folds >= 2 and z.shape[0] >= 2 * folds:
        rng = np.random.default_rng(seed)
        fold_of = rng.permutation(z.shape[0]) % folds
        err = {s: 0.0 for s in settings}
        for f in range(folds):
            train, test = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
            pos = -np.ones(z.shape[0], dtype=int)
            pos[train] = np.arange(train.size)
            sub_excl = {t: pos[r][pos[r] >= 0] for t, r in excl.items()}
            mask = np.ones((test.size, z.shape[1]), dtype=bool)
            for t, r in excl.items():
                mask[np.isin(test, r), t] = False
            for s in settings:
                d, q = _solve(z[train], regs, sub_excl, p, ridge=s[0], strength=s[1],
                              prior_mean=s[2])  # fmt: skip
                pred = z[test][:, regs] @ (d + q)
                err[s] += float(np.sum(((pred - z[test]) ** 2)[mask]))
        cv = {f"{s[0]:g}/{s[1]:g}/{s[2]:g}": v / z.size for s, v in err.items()}
        best = min(settings, key=lambda s: (err[s], s[1], s[2], -s[0]))
    else:
        best = settings[0]
    return best, cv


def fit_primed_network(
    x: np.ndarray,
    genes: Sequence[str],
    *,
    prior: pd.DataFrame | None = None,
    regulators: Sequence[int] | None = None,
    groups: Sequence[Any] | None = None,
    reference: Sequence[bool] | None = None,
    perturbed: Sequence[Sequence[int]] | None = None,
    ridges: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    strengths: Sequence[float] = (1.0, 10.0, 100.0),
    prior_means: Sequence[float] = (0.0, 0.2),
    folds: int = 3,
    seed: int = 0,
) -> PrimedNetwork:
    """Fit a :class:`PrimedNetwork` (module docstring) on cells ``x`` (cells x genes).

    Parameters
    ----------
    x
        Expression, cells x genes (log scale; standardised here within ``groups``).
    genes
        Gene names of the columns of ``x``.
    prior
        Known edges (``regulator, target[, sign]``); None: the data alone.
    regulators
        Candidate regulator columns (default: every gene).
    groups
        Group (time point, cell type) of each cell; standardisation is within groups.
    reference
        Cells that define the group centres and spreads (e.g. the control cells).
    perturbed
        Gene columns perturbed in each cell; a gene is not fitted on cells perturbing it.
    ridges, strengths, prior_means
        The grid of ``lambda``, ``kappa`` and ``m`` (cross-validated when it has more than
        one point).
    folds
        Folds of the cross-validation over cells.
    seed
        Seed of the fold assignment.

    Returns
    -------
    PrimedNetwork
        The fitted network (weights, chosen grid point, standardisation).
    """
    x = np.asarray(x, dtype=np.float64)
    genes = [str(g) for g in genes]
    if x.ndim != 2 or x.shape[1] != len(genes):
        raise ValidationError(f"expression of shape {x.shape} for {len(genes)} genes")
    if x.shape[0] < 3:
        raise ValidationError(f"need >= 3 cells to fit a network, got {x.shape[0]}")
    for name, grid in (("ridges", ridges), ("strengths", strengths), ("prior_means", prior_means)):
        if not len(grid):
            raise ValidationError(f"{name} must not be empty")
    if min(ridges) <= 0 or min(strengths) < 1:
        raise ValidationError("ridges must be > 0 and strengths >= 1")
    regs = np.arange(len(genes)) if regulators is None else np.asarray(sorted(set(regulators)))
    z, centre, scale, group_names = _standardise(x, groups, reference)
    p = prior_matrix(prior, genes, regs)
    excluded: dict[int, list[int]] = {}
    for row, pert in enumerate(perturbed or []):
        for t in dict.fromkeys(int(g) for g in pert):  # a gene listed twice: once
            excluded.setdefault(int(t), []).append(row)
    excl = {t: np.asarray(rows, dtype=int) for t, rows in excluded.items()}
    has_prior = bool(np.any(p))
    settings = [
        (r, s, m)
        for r in ridges
        for s in (strengths if has_prior else (1.0,))
        for m in (prior_means if has_prior else (0.0,))
    ]
    settings = list(dict.fromkeys(settings))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # many small solves: threads cost more than they give
        best, cv = _choose(z, regs, excl, p, settings, folds, seed)
        d, q = _solve(z, regs, excl, p, ridge=best[0], strength=best[1], prior_mean=best[2])
    return PrimedNetwork(
        association=_association(z, regs, excl),
        genes=genes,
        regulators=regs,
        coef=d + q,
        data_part=d,
        prior_part=q,
        prior=p,
        centre=centre,
        scale=scale,
        groups=group_names,
        ridge=float(best[0]),
        strength=float(best[1]),
        prior_mean=float(best[2]),
        cv_mse=cv,
        gram=z[:, regs].T @ z[:, regs],
        n_cells=int(z.shape[0]),
    )


def knowledge_prior_or_none(
    genes: Sequence[str], who: str, *, path: Any = None
) -> pd.DataFrame | None:
    """Known edges among ``genes`` from the built store, or None (logged) without one;
    the one prior of ``primed`` and of the perturbation method ``primed_network``.

    Parameters
    ----------
    genes
        Gene names the edges must connect.
    who
        The method name the log lines start with.
    path
        The knowledge store (default: the installed one).

    Returns
    -------
    pandas.DataFrame or None
        ``regulator, target[, sign]`` rows; None without a store or without a known edge.
    """
    from ._prior import knowledge_prior_edges

    try:
        edges = knowledge_prior_edges(list(genes), path=path)
    except ValidationError:
        log(f"{who}: no knowledge store found, so no prior: the network is fitted from the "
            "data alone (build one with `vcell kb build`)")  # fmt: skip
        return None
    if not len(edges):
        log(f"{who}: the knowledge store knows no edge among these genes: data alone")
        return None
    return edges


def primed_inputs(
    obs: pd.DataFrame,
    genes: Sequence[str],
    *,
    prior: pd.DataFrame | str | None = "auto",
    groupby: str | None = "auto",
    reference: str | None = "auto",
    perturbed: str | None = None,
) -> tuple[pd.DataFrame | None, np.ndarray | None, np.ndarray | None, list | None]:
    """``(prior, groups, reference, perturbed)`` of :func:`primed` from the options and
    ``obs``, decided once for the in-memory and the streamed fit (module docstring)."""
    if isinstance(prior, str):
        if prior not in ("auto", "none"):
            raise ValidationError(f"prior must be 'auto', 'none' or an edge table, got {prior!r}")
        prior = knowledge_prior_or_none(genes, "grn primed") if prior == "auto" else None
    groups = None
    if groupby == "auto":
        groupby = "time" if "time" in obs else None
    if groupby is not None:
        if groupby not in obs:
            raise ValidationError(f"groupby column {groupby!r} not in obs")
        groups = obs[groupby].astype(str).to_numpy()
    from ._stream_stats import perturbed_columns

    per_cell = perturbed_columns(obs, perturbed, genes)
    ref = None
    if reference == "auto":
        if per_cell is not None:  # the cells perturbing no measured gene
            ref = np.array([not p for p in per_cell], dtype=bool)
    elif reference is not None:
        if reference not in obs:
            raise ValidationError(f"reference column {reference!r} not in obs")
        ref = obs[reference].astype(bool).to_numpy()
    return prior, groups, ref, per_cell


def primed(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    prior: pd.DataFrame | str | None = "auto",
    groupby: str | None = "auto",
    reference: str | None = "auto",
    perturbed: str | None = None,
    chunk_cells: int = 5000,
    dask: str | Any | None = None,
) -> Scores:
    """Knowledge-primed signed linear network (module docstring); score ``|B|``.

    Given a path to a ``.h5ad`` / ``.zarr`` or a backed AnnData,
    :func:`virtualcell.grn.infer` streams it (:func:`~virtualcell.grn.fit_primed_network_stream`,
    the same network); in memory the fit is :func:`fit_primed_network`.

    Parameters
    ----------
    prior
        Known edges, ``"auto"`` (the built knowledge store, data alone without one) or
        ``None`` / ``"none"`` (data alone).
    groupby
        ``obs`` column to standardise within (``"auto"``: ``time`` when present).
    reference
        ``obs`` boolean column of the cells that define the centres and spreads;
        ``"auto"``: the cells perturbing no gene when ``perturbed`` is given, else all.
    perturbed
        ``obs`` column of condition labels (``"control"``, ``"A"``, ``"A+B"``):
        interventional data, a gene is not fitted on the cells perturbing it.
    chunk_cells, dask
        Streamed input only: cells read at a time, and a Dask cluster (``"local"``, an
        address, a client) for the pass and the solve; the in-memory fit is one process.
    """
    prior, groups, ref, per_cell = primed_inputs(
        data.obs, data.genes, prior=prior, groupby=groupby, reference=reference,
        perturbed=perturbed,
    )  # fmt: skip
    net = fit_primed_network(data.X, data.genes, prior=prior, regulators=data.regulators,
                             groups=groups, reference=ref, perturbed=per_cell,
                             seed=seed)  # fmt: skip
    return Scores(score=np.abs(net.coef), sign=np.sign(net.coef))
