"""The knowledge-primed network (:mod:`._primed`) fitted from a file streamed in cell chunks.

:func:`fit_primed_network` holds the whole cells x genes matrix in memory. Its model needs
much less: every ridge it solves (each target, each cross-validation fold, each grid
point) reads the data only through

* per group (time point / cell type) and reference flag: the number of cells, the sum
  and the sum of squares of every gene (the standardisation's centres and spreads), and
  the largest ``|x|`` (the spread's floor);
* per cross-validation fold: the raw regulator x gene cross-product ``X_f[:, R]' X_f``
  and, per group, the gene sums of the fold's cells (to centre it afterwards).

:func:`primed_statistics` reads the matrix once, in row chunks (a backed ``.h5ad``, a
``.zarr`` store, or AnnData in memory; CSR chunks stay sparse, so a chunk costs about
``nnz(regulators) x nnz(genes)`` per cell), on the package's one engine
(:func:`virtualcell._utils.map_tasks`: in this process, on local processes or on a Dask
cluster; one task per worker, each returning its partial sums, added here). From the
sums, the standardised statistics are exact algebra: centred, scaled cross-products
``Z_f[:, R]' Z_f`` per fold and ``sum z^2`` per fold and gene.

:func:`solve_primed` then solves the targets in parallel chunks (same engine). Per fold
and ridge, ``P = (Z'Z + lambda n I)^-1`` is formed once from one eigendecomposition of the
regulator Gram matrix; a target's prior (its known regulators' smaller penalty) is a
low-rank Woodbury update of ``P`` and "a target does not regulate itself" a Lagrange
correction, so a target costs a few matrix-vector products instead of a solve of the
regulator system per grid point. The held-out error of a fold comes from the same
statistics, ``sum_i (z_i B - z_i)^2 = B' G_f B - 2 B' C_f + sum z^2``. The result is the
in-memory fit (tests: max ``|diff| <= 1e-8``, serial vs processes vs Dask, chunk sizes).

Interventional data (``perturbed=``: a gene is not fitted on the cells perturbing it)
are streamed too: the pass also adds, per distinct set of genes perturbed together (a
single knockout or a combination), the same statistics over that set's cells
(:class:`PerturbedSet`: per fold the regulator Gram block and the regulators' products
with the set's genes, plus the rows of the set's genes that are regulators). A set of
few cells (fewer than about ``folds x r``, as in most CRISPR screens) keeps instead its
cells' standardised values at the regulators and its genes, and those products are
formed from them when a target needs them. A perturbed target subtracts its sets'
statistics and is solved directly (its own Gram matrix, so no shared inverse); the other
targets take the fast path, and a chunk of perturbed targets is sent only the sets of
its targets. Memory grows with the perturbed cells, ``8 B x n x (r + k + 1)`` for a set
of ``n`` cells and ``k`` genes, and at most ``8 B x folds x r x (r + k)`` per set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import dask_client
from ._parallel import map_targets
from ._primed import PrimedNetwork, prior_matrix
from ._stream_sets import PerturbedSet
from ._stream_stats import PrimedStatistics, primed_statistics
from ._stream_without import statistics_without

__all__ = [
    "PerturbedSet",
    "PrimedStatistics",
    "fit_primed_network_stream",
    "primed_statistics",
    "solve_primed",
    "statistics_without",
]


def _inverse(lamn: float, eig: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``(G + lamn I)^-1`` from ``eigh(G)``."""
    values, vectors = eig
    return (vectors / (values + lamn)) @ vectors.T


def _posterior(
    inv: np.ndarray,
    cross_t: np.ndarray,
    prior_t: np.ndarray,
    own_t: np.ndarray,
    *,
    lamn: float,
    strength: float,
    with_prior: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(data_part, prior_part at m = 1)`` of targets whose columns are ``cross_t``: the
    solves of :func:`._primed._solve`, via ``inv = (G + lamn I)^-1``, Woodbury for known
    edges (penalty ``lamn / strength``) and a Lagrange pin of a target's own coefficient."""
    d = inv @ cross_t
    q = np.zeros_like(d)
    known = prior_t != 0
    has = known.any(axis=0)
    if with_prior and has.any():
        cols = np.flatnonzero(has)
        q[:, cols] = inv @ np.where(known[:, cols], prior_t[:, cols] * (lamn / strength), 0.0)
    woodbury = has & (strength > 1.0)
    delta = lamn * (1.0 - 1.0 / strength)
    for t in np.flatnonzero(woodbury):
        k = np.flatnonzero(known[:, t])
        pk = inv[:, k]
        m = np.eye(k.size) / delta - inv[np.ix_(k, k)]
        d[:, t] += pk @ np.linalg.solve(m, d[k, t])
        if with_prior:
            q[:, t] += pk @ np.linalg.solve(m, q[k, t])
        j = own_t[t]
        if j >= 0:
            e = inv[:, j] + pk @ np.linalg.solve(m, inv[k, j])
            d[:, t] -= e * (d[j, t] / e[j])
            q[:, t] -= e * (q[j, t] / e[j])
    pin = np.flatnonzero((own_t >= 0) & ~woodbury)
    if pin.size:
        js = own_t[pin]
        e = inv[:, js]
        diag = e[js, np.arange(js.size)]
        d[:, pin] -= e * (d[js, pin] / diag)
        q[:, pin] -= e * (q[js, pin] / diag)
    own = np.flatnonzero(own_t >= 0)
    d[own_t[own], own] = 0.0
    q[own_t[own], own] = 0.0
    return d, q


def _own(targets: np.ndarray, regulators: np.ndarray) -> np.ndarray:
    pos = -np.ones(int(max(targets.max(initial=0), regulators.max(initial=0))) + 1, dtype=int)
    pos[regulators] = np.arange(regulators.size)
    return pos[targets]


def _cv_task(
    targets: np.ndarray,
    *,
    cross: np.ndarray,
    sumsq: np.ndarray,
    prior: np.ndarray,
    regulators: np.ndarray,
    inverses: dict[tuple[int, float], np.ndarray],
    fold_cells: np.ndarray,
    grid: list[tuple[float, float, float]],
    with_prior: bool,
) -> np.ndarray:
    """Held-out squared error of each grid point (columns) for each target (rows),
    summed over folds."""
    from threadpoolctl import threadpool_limits

    own = _own(targets, regulators)
    p = prior[:, targets].astype(np.float64)
    n = fold_cells.sum()
    out = np.zeros((targets.size, len(grid)))
    whole = cross[:, :, targets].sum(axis=0)
    with threadpool_limits(1):
        for f in range(cross.shape[0]):
            c_test = cross[f][:, targets]
            c_train = whole - c_test
            g_test = cross[f][:, regulators]
            pairs = dict.fromkeys((r, s) for r, s, _ in grid)
            for r, s in pairs:
                lamn = r * max(n - fold_cells[f], 1)
                d, q = _posterior(inverses[(f, r)], c_train, p, own, lamn=lamn, strength=s,
                                  with_prior=with_prior)  # fmt: skip
                gd = g_test @ d
                dd = np.einsum("ij,ij->j", d, gd)
                dc = np.einsum("ij,ij->j", d, c_test)
                cols = np.flatnonzero(np.any(q != 0, axis=0))
                dq, qq, qc = (np.zeros(targets.size) for _ in range(3))
                if cols.size:
                    gq = g_test @ q[:, cols]
                    dq[cols] = np.einsum("ij,ij->j", d[:, cols], gq)
                    qq[cols] = np.einsum("ij,ij->j", q[:, cols], gq)
                    qc[cols] = np.einsum("ij,ij->j", q[:, cols], c_test[:, cols])
                base = sumsq[f, targets]
                for i, (r2, s2, m) in enumerate(grid):
                    if (r2, s2) == (r, s):
                        out[:, i] += dd + 2 * m * dq + m * m * qq - 2 * (dc + m * qc) + base
    return out


def _final_task(
    targets: np.ndarray,
    *,
    cross: np.ndarray,
    prior: np.ndarray,
    regulators: np.ndarray,
    inverse: np.ndarray,
    lamn: float,
    strength: float,
    prior_mean: float,
) -> np.ndarray:
    """``[data_part | prior_part]`` rows (one per target) of the chosen grid point."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        p = prior[:, targets].astype(np.float64)
        d, q = _posterior(inverse, cross[:, targets], p, _own(targets, regulators), lamn=lamn,
                          strength=strength, with_prior=prior_mean != 0)  # fmt: skip
    return np.hstack([d.T, (prior_mean * q).T])


def _solve_target(
    g: np.ndarray,
    c: np.ndarray,
    prior_t: np.ndarray,
    own: int,
    *,
    lamn: float,
    strength: float,
    with_prior: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(data_part, prior_part at m = 1)`` of one target from its own Gram matrix ``g``
    and cross-products ``c``: the solve of :func:`._primed._solve` itself (a target
    fitted without the cells perturbing it has its own ``g``, so no shared inverse)."""
    lam = np.full(c.size, lamn)
    known = prior_t != 0
    lam[known] /= strength
    a = g + np.diag(lam)
    c = c.copy()
    mu = prior_t.astype(np.float64)
    if own >= 0:  # a target never regulates itself: pin its coefficient at 0
        a[own, :] = 0.0
        a[:, own] = 0.0
        a[own, own] = 1.0
        c[own] = 0.0
        mu[own] = 0.0
    d = np.linalg.solve(a, c)
    q = np.linalg.solve(a, lam * mu) if with_prior and np.any(mu) else np.zeros_like(d)
    return d, q


def _excluded(
    t: int, sets: Mapping[int, PerturbedSet] | Sequence[PerturbedSet], members: list[int], r: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per fold, over the cells perturbing target ``t``: the regulator Gram matrix, the
    regulators' cross-products with ``t``, the cell count and ``sum z_t^2``. A set that
    keeps its cells contributes ``Z_f[:, R]' Z_f[:, R]`` and ``Z_f[:, R]' z_t`` of its
    fold-``f`` cells, formed here (the cells of all such sets stacked: one product)."""
    folds = sets[members[0]].cells.size
    gram, col = np.zeros((folds, r, r)), np.zeros((folds, r))
    cells, sq = np.zeros(folds), np.zeros(folds)
    z_reg, z_t, z_fold = [], [], []
    for i in members:
        ps = sets[i]
        j = r + int(np.searchsorted(ps.genes, t))
        cells += ps.cells
        sq += ps.sumsq[:, j - r]
        if ps.cross is not None:
            gram += ps.cross[:, :, :r]
            col += ps.cross[:, :, j]
        else:
            assert ps.z is not None and ps.cell_fold is not None
            z_reg.append(ps.z[:, :r])
            z_t.append(ps.z[:, j])
            z_fold.append(ps.cell_fold)
    if z_reg:
        zr, zt, fold = np.vstack(z_reg), np.concatenate(z_t), np.concatenate(z_fold)
        for f in range(folds):
            in_f = fold == f
            if in_f.any():
                zf = zr[in_f]
                gram[f] += zf.T @ zf
                col[f] += zf.T @ zt[in_f]
    return gram, col, cells, sq


def _with_sets(
    sets: Sequence[PerturbedSet], members: dict[int, list[int]]
) -> Callable[[np.ndarray], tuple[np.ndarray, dict[int, PerturbedSet], dict[int, list[int]]]]:
    """``map_targets(per_chunk=...)`` for the perturbed targets: each chunk of targets
    carries only the sets its targets are in (not every set to every worker)."""

    def item(chunk: np.ndarray) -> tuple[np.ndarray, dict[int, PerturbedSet], dict[int, list[int]]]:
        mine = {int(t): members[int(t)] for t in chunk}
        need = sorted({i for ids in mine.values() for i in ids})
        return chunk, {i: sets[i] for i in need}, mine

    return item


def _excluded_cv_task(
    item: tuple[np.ndarray, dict[int, PerturbedSet], dict[int, list[int]]],
    *,
    cross: np.ndarray,
    sumsq: np.ndarray,
    prior: np.ndarray,
    regulators: np.ndarray,
    fold_cells: np.ndarray,
    grid: list[tuple[float, float, float]],
    with_prior: bool,
) -> np.ndarray:
    """:func:`_cv_task` for targets perturbed in some cells (``item``: the targets, the
    sets they are in, by index, and each target's sets): each fold's training and
    held-out statistics lose the cells perturbing the target."""
    from threadpoolctl import threadpool_limits

    targets, sets, members = item

    r = regulators.size
    own = _own(targets, regulators)
    gram_f = cross[:, :, regulators]
    gram = gram_f.sum(axis=0)
    n = fold_cells.sum()
    out = np.zeros((targets.size, len(grid)))
    pairs = list(dict.fromkeys((a, b) for a, b, _ in grid))
    with threadpool_limits(1):
        for i, t in enumerate(targets):
            e_gram, e_col, e_cells, e_sq = _excluded(int(t), sets, members[int(t)], r)
            e_gram_all, e_col_all, e_cells_all = e_gram.sum(0), e_col.sum(0), e_cells.sum()
            whole_t = cross[:, :, t].sum(axis=0)
            p = prior[:, t].astype(np.float64)
            for f in range(cross.shape[0]):
                g_train = (gram - gram_f[f]) - (e_gram_all - e_gram[f])
                c_train = (whole_t - cross[f][:, t]) - (e_col_all - e_col[f])
                n_train = (n - fold_cells[f]) - (e_cells_all - e_cells[f])
                g_test = gram_f[f] - e_gram[f]
                c_test = cross[f][:, t] - e_col[f]
                base = sumsq[f, t] - e_sq[f]
                for ridge, strength in pairs:
                    d, q = _solve_target(g_train, c_train, p, int(own[i]),
                                         lamn=ridge * max(n_train, 1), strength=strength,
                                         with_prior=with_prior)  # fmt: skip
                    for k, (r2, s2, m) in enumerate(grid):
                        if (r2, s2) == (ridge, strength):
                            b = d + m * q
                            out[i, k] += b @ g_test @ b - 2.0 * b @ c_test + base
    return out


def _excluded_final_task(
    item: tuple[np.ndarray, dict[int, PerturbedSet], dict[int, list[int]]],
    *,
    cross: np.ndarray,
    prior: np.ndarray,
    regulators: np.ndarray,
    n_cells: int,
    ridge: float,
    strength: float,
    prior_mean: float,
) -> np.ndarray:
    """:func:`_final_task` for targets perturbed in some cells (``item`` as
    :func:`_excluded_cv_task`)."""
    from threadpoolctl import threadpool_limits

    targets, sets, members = item

    r = regulators.size
    own = _own(targets, regulators)
    gram = cross[:, :, regulators].sum(axis=0)
    out = np.zeros((targets.size, 2 * r))
    with threadpool_limits(1):
        for i, t in enumerate(targets):
            e_gram, e_col, e_cells, _ = _excluded(int(t), sets, members[int(t)], r)
            d, q = _solve_target(
                gram - e_gram.sum(0), cross[:, :, t].sum(axis=0) - e_col.sum(0),
                prior[:, t].astype(np.float64), int(own[i]),
                lamn=ridge * max(n_cells - e_cells.sum(), 1), strength=strength,
                with_prior=prior_mean != 0,
            )  # fmt: skip
            out[i, :r], out[i, r:] = d, prior_mean * q
    return out


def _association(stats: PrimedStatistics, whole: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """``PrimedNetwork.association`` (:func:`._primed._association`): over the cells
    perturbing neither the regulator nor the target, so each perturbed set's cells leave
    the rows of its genes that are regulators and the columns of its genes."""
    num = whole.copy()
    var = np.broadcast_to(np.diag(gram)[:, None], whole.shape).copy()
    r = len(stats.regulators)
    for ps in stats.perturbed:
        if ps.cross is not None:
            both = ps.cross.sum(axis=0)
            block, sq = both[:, r:], np.diag(both[:, :r])
        else:  # from the cells: the regulators x set genes block and sum z_k^2 only
            assert ps.z is not None
            zr = ps.z[:, :r]
            block, sq = zr.T @ ps.z[:, r:], np.einsum("ij,ij->j", zr, zr)
        # block: regulators x set genes; sq: sum z_k^2 over the set's cells
        rows, cols = ps.regulator_rows, ps.genes
        num[rows, :] -= ps.rows
        num[:, cols] -= block
        num[np.ix_(rows, cols)] += block[rows]
        var[rows, :] -= sq[rows][:, None]
        var[:, cols] -= sq[:, None]
        var[np.ix_(rows, cols)] += sq[rows][:, None]
    return num / np.maximum(var, 1e-12)


def solve_primed(
    stats: PrimedStatistics,
    *,
    prior: pd.DataFrame | None = None,
    ridges: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    strengths: Sequence[float] = (1.0, 10.0, 100.0),
    prior_means: Sequence[float] = (0.0, 0.2),
    targets: Sequence[int] | None = None,
    target_chunk: int | None = None,
    n_jobs: int = 1,
    dask: str | Any | None = None,
    timing: dict[str, float] | None = None,
) -> PrimedNetwork:
    """Cross-validate the grid and fit every target from :class:`PrimedStatistics`.

    Parameters
    ----------
    stats
        From :func:`primed_statistics`.
    prior, ridges, strengths, prior_means
        As :func:`fit_primed_network`.
    targets
        Target columns to fit (default: every gene). A subset also restricts the
        cross-validation to those targets; the other columns of the result are 0 (for
        timing a subset).
    target_chunk
        Targets per task (default: about 8 tasks per worker).
    n_jobs, dask
        Where the target chunks run (:func:`virtualcell._utils.map_tasks`).
    timing
        A dict to fill with the wall seconds of the phases (``cv_setup_s``, ``cv_s``,
        ``solve_s``).

    Returns
    -------
    PrimedNetwork
        The fitted network.
    """
    for name, grid in (("ridges", ridges), ("strengths", strengths), ("prior_means", prior_means)):
        if not len(grid):
            raise ValidationError(f"{name} must not be empty")
    if min(ridges) <= 0 or min(strengths) < 1:
        raise ValidationError("ridges must be > 0 and strengths >= 1")
    genes, regs = stats.genes, stats.regulators
    tg = np.arange(len(genes)) if targets is None else np.asarray(sorted(set(targets)), dtype=int)
    p = prior_matrix(prior, genes, regs)
    has_prior = bool(np.any(p))
    p8 = p.astype(np.int8)
    settings = [
        (float(r), float(s), float(m))
        for r in ridges
        for s in (strengths if has_prior else (1.0,))
        for m in (prior_means if has_prior else (0.0,))
    ]
    settings = list(dict.fromkeys(settings))
    n = stats.n_cells
    timing = {} if timing is None else timing
    t0 = time.perf_counter()
    gram_f = stats.cross[:, :, regs]
    gram = gram_f.sum(axis=0)
    cv: dict[str, float] = {}
    best = settings[0]
    members = stats.sets_of()
    hit = np.array([t for t in tg if int(t) in members], dtype=int)
    free = np.setdiff1d(tg, hit)
    if len(settings) > 1 and stats.folds >= 2:
        inverses = {}
        for f in range(stats.folds):
            eig = np.linalg.eigh(gram - gram_f[f])
            for r in dict.fromkeys(s[0] for s in settings):
                lamn = r * max(n - stats.fold_cells[f], 1)
                inverses[(f, r)] = _inverse(lamn, eig)
        timing["cv_setup_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        err = np.zeros(len(settings))
        if free.size:
            err += map_targets(
                _cv_task, free, n_jobs=n_jobs, dask=dask, chunk_size=target_chunk,
                description="primed cross-validation", cross=stats.cross, sumsq=stats.sumsq,
                prior=p8, regulators=regs, inverses=inverses, fold_cells=stats.fold_cells,
                grid=settings, with_prior=has_prior,
            ).sum(axis=0)  # fmt: skip
        del inverses
        if hit.size:
            err += map_targets(
                _excluded_cv_task, hit, per_chunk=_with_sets(stats.perturbed, members),
                n_jobs=n_jobs, dask=dask, chunk_size=target_chunk,
                description="primed cross-validation (perturbed targets)", cross=stats.cross,
                sumsq=stats.sumsq, prior=p8, regulators=regs, fold_cells=stats.fold_cells,
                grid=settings, with_prior=has_prior,
            ).sum(axis=0)  # fmt: skip
        timing["cv_s"] = time.perf_counter() - t1
        total = {s: float(e) for s, e in zip(settings, err, strict=True)}
        cv = {f"{s[0]:g}/{s[1]:g}/{s[2]:g}": v / (n * tg.size) for s, v in total.items()}
        best = min(settings, key=lambda s: (total[s], s[1], s[2], -s[0]))
    t2 = time.perf_counter()
    lamn = best[0] * max(n, 1)
    inverse = _inverse(lamn, np.linalg.eigh(gram))
    whole = stats.cross.sum(axis=0)
    r = len(regs)
    d = np.zeros((r, len(genes)))
    q = np.zeros((r, len(genes)))
    if free.size:
        rows = map_targets(
            _final_task, free, n_jobs=n_jobs, dask=dask, chunk_size=target_chunk,
            description="primed solve", cross=whole, prior=p8, regulators=regs,
            inverse=inverse, lamn=lamn, strength=best[1], prior_mean=best[2],
        )  # fmt: skip
        d[:, free] = rows[:, :r].T
        q[:, free] = rows[:, r:].T
        del rows
    if hit.size:
        rows = map_targets(
            _excluded_final_task, hit, per_chunk=_with_sets(stats.perturbed, members),
            n_jobs=n_jobs, dask=dask, chunk_size=target_chunk, description="primed solve (perturbed targets)",
            cross=stats.cross, prior=p8, regulators=regs, n_cells=n, ridge=best[0],
            strength=best[1], prior_mean=best[2],
        )  # fmt: skip
        d[:, hit] = rows[:, :r].T
        q[:, hit] = rows[:, r:].T
        del rows
    timing["solve_s"] = time.perf_counter() - t2
    association = _association(stats, whole, gram)
    return PrimedNetwork(
        association=association, genes=list(genes), regulators=regs, coef=d + q, data_part=d,
        prior_part=q, prior=p, centre=stats.centre, scale=stats.scale, groups=stats.groups,
        ridge=best[0], strength=best[1], prior_mean=best[2], cv_mse=cv, gram=gram,
        n_cells=n,
    )  # fmt: skip


def fit_primed_network_stream(
    source: Any,
    *,
    regulators: Iterable[str] | None = None,
    prior: pd.DataFrame | None = None,
    groupby: str | Sequence[Any] | None = None,
    reference: str | Sequence[bool] | None = None,
    layer: str | None = None,
    ridges: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    strengths: Sequence[float] = (1.0, 10.0, 100.0),
    prior_means: Sequence[float] = (0.0, 0.2),
    folds: int = 3,
    seed: int = 0,
    chunk_cells: int = 5000,
    missing: str = "error",
    n_jobs: int = 1,
    dask: str | Any | None = None,
    perturbed: str | Sequence[Any] | None = None,
) -> PrimedNetwork:
    """:func:`fit_primed_network` on cells streamed from a file, on local processes or Dask.

    One pass over the cells (:func:`primed_statistics`), then the targets in parallel
    chunks (:func:`solve_primed`); the result equals the in-memory fit of the same cells
    (module docstring). ``dask="local"`` or an address opens one client for both phases.

    Parameters
    ----------
    source
        A ``.h5ad`` path (read backed), a ``.zarr`` store, or AnnData.
    regulators
        Candidate regulator names (an absent name is an error unless ``missing="drop"``).
    prior
        Known edges (``regulator, target[, sign]``); None: the data alone.
    groupby, reference, layer, folds, seed, chunk_cells, missing
        As :func:`primed_statistics`.
    ridges, strengths, prior_means
        The grid of :func:`fit_primed_network`.
    n_jobs, dask
        Local worker processes, or a Dask cluster (``"local"``, an address, a client).
    perturbed
        Interventional data (:func:`primed_statistics`): an ``obs`` column of condition
        labels or one list of perturbed genes per cell; a gene is not fitted on the
        cells perturbing it.

    Returns
    -------
    PrimedNetwork
        The fitted network.

    Examples
    --------
    >>> net = vc.grn.fit_primed_network_stream("atlas.h5ad", regulators=tfs,
    ...                                        dask="tcp://scheduler:8786")  # doctest: +SKIP
    >>> net.edges().head()  # doctest: +SKIP
    """
    if isinstance(dask, str):
        with dask_client(dask, n_workers=n_jobs if n_jobs > 1 else None) as client:
            return fit_primed_network_stream(
                source, regulators=regulators, prior=prior, groupby=groupby,
                reference=reference, layer=layer, ridges=ridges, strengths=strengths,
                prior_means=prior_means, folds=folds, seed=seed, chunk_cells=chunk_cells,
                missing=missing, n_jobs=n_jobs, dask=client, perturbed=perturbed,
            )  # fmt: skip
    single = len(ridges) * (len(strengths) * len(prior_means) if prior is not None else 1) <= 1
    stats = primed_statistics(
        source, regulators=regulators, groupby=groupby, reference=reference, layer=layer,
        folds=1 if single else folds, seed=seed, chunk_cells=chunk_cells, missing=missing,
        n_jobs=n_jobs, dask=dask, perturbed=perturbed,
    )  # fmt: skip
    return solve_primed(stats, prior=prior, ridges=ridges, strengths=strengths,
                        prior_means=prior_means, n_jobs=n_jobs, dask=dask)  # fmt: skip
