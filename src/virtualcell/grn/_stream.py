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

Not streamed: ``perturbed`` (a gene fitted without the cells perturbing it needs each
perturbed gene's own cell set); use :func:`fit_primed_network` for Perturb-seq data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import dask_client
from ._parallel import map_targets
from ._primed import PrimedNetwork, prior_matrix
from ._stream_stats import PrimedStatistics, primed_statistics

__all__ = ["PrimedStatistics", "fit_primed_network_stream", "primed_statistics", "solve_primed"]


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
    if len(settings) > 1 and stats.folds >= 2:
        inverses = {}
        for f in range(stats.folds):
            eig = np.linalg.eigh(gram - gram_f[f])
            for r in dict.fromkeys(s[0] for s in settings):
                lamn = r * max(n - stats.fold_cells[f], 1)
                inverses[(f, r)] = _inverse(lamn, eig)
        timing["cv_setup_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        err = map_targets(
            _cv_task, tg, n_jobs=n_jobs, dask=dask, chunk_size=target_chunk,
            description="primed cross-validation", cross=stats.cross, sumsq=stats.sumsq,
            prior=p8, regulators=regs, inverses=inverses, fold_cells=stats.fold_cells,
            grid=settings, with_prior=has_prior,
        ).sum(axis=0)  # fmt: skip
        del inverses
        timing["cv_s"] = time.perf_counter() - t1
        total = {s: float(e) for s, e in zip(settings, err, strict=True)}
        cv = {f"{s[0]:g}/{s[1]:g}/{s[2]:g}": v / (n * tg.size) for s, v in total.items()}
        best = min(settings, key=lambda s: (total[s], s[1], s[2], -s[0]))
    t2 = time.perf_counter()
    lamn = best[0] * max(n, 1)
    inverse = _inverse(lamn, np.linalg.eigh(gram))
    whole = stats.cross.sum(axis=0)
    rows = map_targets(
        _final_task, tg, n_jobs=n_jobs, dask=dask, chunk_size=target_chunk,
        description="primed solve", cross=whole, prior=p8, regulators=regs, inverse=inverse,
        lamn=lamn, strength=best[1], prior_mean=best[2],
    )  # fmt: skip
    timing["solve_s"] = time.perf_counter() - t2
    r = len(regs)
    d = np.zeros((r, len(genes)))
    q = np.zeros((r, len(genes)))
    d[:, tg] = rows[:, :r].T
    q[:, tg] = rows[:, r:].T
    del rows
    association = whole / np.maximum(np.diag(gram), 1e-12)[:, None]
    return PrimedNetwork(
        association=association, genes=list(genes), regulators=regs, coef=d + q, data_part=d,
        prior_part=q, prior=p, centre=stats.centre, scale=stats.scale, groups=stats.groups,
        ridge=best[0], strength=best[1], prior_mean=best[2], cv_mse=cv,
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
                missing=missing, n_jobs=n_jobs, dask=client,
            )  # fmt: skip
    single = len(ridges) * (len(strengths) * len(prior_means) if prior is not None else 1) <= 1
    stats = primed_statistics(
        source, regulators=regulators, groupby=groupby, reference=reference, layer=layer,
        folds=1 if single else folds, seed=seed, chunk_cells=chunk_cells, missing=missing,
        n_jobs=n_jobs, dask=dask,
    )  # fmt: skip
    return solve_primed(stats, prior=prior, ridges=ridges, strengths=strengths,
                        prior_means=prior_means, n_jobs=n_jobs, dask=dask)  # fmt: skip
