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

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import dask_client, imap_tasks, log, n_workers
from ._parallel import map_targets
from ._primed import PrimedNetwork, prior_matrix

__all__ = ["PrimedStatistics", "fit_primed_network_stream", "primed_statistics", "solve_primed"]


@dataclass
class PrimedStatistics:
    """Sufficient statistics of the primed network, from one pass over the cells.

    Attributes
    ----------
    genes
        Gene names.
    regulators
        Column indices of the candidate regulators.
    groups
        Group names (rows of ``centre``).
    centre, scale
        The standardisation (as :class:`PrimedNetwork`).
    cross
        ``folds x regulators x genes``: ``sum z_k z_t`` over each fold's cells.
    sumsq
        ``folds x genes``: ``sum z_t^2`` over each fold's cells.
    fold_cells
        Cells per fold.
    folds, seed
        The cross-validation split (``folds = 1``: no cross-validation).
    timing
        Seconds of the pass (``wall_s``), cells and stored values read.
    """

    genes: list[str]
    regulators: np.ndarray
    groups: list[str]
    centre: np.ndarray
    scale: np.ndarray
    cross: np.ndarray
    sumsq: np.ndarray
    fold_cells: np.ndarray
    folds: int
    seed: int
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return int(self.fold_cells.sum())


# -- the statistics pass -------------------------------------------------------------


def _rows(matrix: Any, start: int, stop: int) -> sp.csr_matrix:
    """Rows ``start:stop`` as float64 CSR (values exactly as stored)."""
    block = matrix[start:stop]
    if hasattr(block, "to_memory"):
        block = block.to_memory()
    if sp.issparse(block):
        return sp.csr_matrix(block, dtype=np.float64)
    return sp.csr_matrix(np.asarray(block, dtype=np.float64))


def _stats_task(
    span: tuple[int, int],
    *,
    source: Any,
    layer: str | None,
    codes: np.ndarray,
    ref: np.ndarray,
    fold_of: np.ndarray,
    n_groups: int,
    n_folds: int,
    regulators: np.ndarray,
    chunk_cells: int,
) -> dict[str, Any]:
    """Raw sums over cells ``span``: per fold the regulator x gene cross-product, per
    (fold, group, reference) the count, gene sums and sums of squares; max ``|x|``."""
    from ..data import CellSource

    handle = CellSource.open(source, layer=layer) if isinstance(source, str) else None
    matrix = handle.matrix if handle is not None else source
    try:
        n_genes = int(matrix.shape[1])
        r = len(regulators)
        cross = np.zeros((n_folds, r, n_genes))
        count = np.zeros((n_folds, n_groups, 2))
        total = np.zeros((n_folds, n_groups, 2, n_genes))
        squares = np.zeros((n_folds, n_groups, 2, n_genes))
        absmax, nnz, seconds_read = 0.0, 0, 0.0
        for a in range(span[0], span[1], chunk_cells):
            b = min(a + chunk_cells, span[1])
            t0 = time.perf_counter()
            x = _rows(matrix, a, b)
            seconds_read += time.perf_counter() - t0
            nnz += int(x.nnz)
            if x.nnz:
                absmax = max(absmax, float(np.abs(x.data).max()))
            sq = x.multiply(x).tocsr()
            key = (fold_of[a:b] * n_groups + codes[a:b]) * 2 + ref[a:b]
            for k in np.unique(key):
                rows = np.flatnonzero(key == k)
                f, rest = divmod(int(k), 2 * n_groups)
                g, is_ref = divmod(rest, 2)
                count[f, g, is_ref] += rows.size
                total[f, g, is_ref] += np.asarray(x[rows].sum(axis=0)).ravel()
                squares[f, g, is_ref] += np.asarray(sq[rows].sum(axis=0)).ravel()
            for f in np.unique(fold_of[a:b]):
                xf = x[np.flatnonzero(fold_of[a:b] == f)]
                cross[f] += (xf[:, regulators].T @ xf).toarray()
    finally:
        if handle is not None:
            handle.close()
    return {
        "cross": cross, "count": count, "total": total, "squares": squares,
        "absmax": absmax, "nnz": nnz, "read_s": seconds_read,
    }  # fmt: skip


def _standardisation(
    count: np.ndarray, total: np.ndarray, squares: np.ndarray, absmax: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centres and scale of :func:`._primed._standardise` from per-group sums."""
    n_g = count.sum(axis=0)  # groups x (non-ref, ref)
    s_g = total.sum(axis=0)
    q_g = squares.sum(axis=0)
    n_groups, n_genes = s_g.shape[0], s_g.shape[2]
    centre = np.zeros((n_groups, n_genes))
    for g in range(n_groups):
        if n_g[g, 1] >= 2:
            centre[g] = s_g[g, 1] / n_g[g, 1]
        else:
            centre[g] = s_g[g].sum(axis=0) / n_g[g].sum()
    use = [1] if n_g[:, 1].sum() >= 3 else [0, 1]  # the spread of the reference cells
    n = sum(n_g[g, k] for g in range(n_groups) for k in use)
    mean = np.zeros(n_genes)
    msq = np.zeros(n_genes)
    for g in range(n_groups):
        for k in use:
            mean += s_g[g, k] - n_g[g, k] * centre[g]
            msq += q_g[g, k] - 2.0 * centre[g] * s_g[g, k] + n_g[g, k] * centre[g] ** 2
    mean /= n
    spread = np.sqrt(np.maximum(msq / n - mean**2, 0.0))
    floor = 1e-3 * (absmax + 1e-12)
    return centre, np.maximum(spread, floor)


def _open_source(source: Any, layer: str | None) -> tuple[Any, Any, Any]:
    """``(what tasks read, CellSource, path or None)``: a path (or backed AnnData) travels
    to the tasks as a path each opens; a matrix in memory travels itself."""
    from ..data import CellSource

    if getattr(source, "isbacked", False) and getattr(source, "is_view", False):
        raise ValidationError(
            "a view of a backed AnnData would stream the whole file: pass the file path "
            "(cells are split into chunks here) or a subset loaded with .to_memory()"
        )
    if isinstance(source, str | Path):
        path = str(source)
    elif getattr(source, "isbacked", False) and getattr(source, "filename", None) and not layer:
        path = str(source.filename)
    else:
        path = None
    cells = CellSource.open(path if path is not None else source, layer=layer)
    if path is not None:
        return path, cells, path
    matrix = cells.matrix
    if hasattr(matrix, "to_memory"):
        matrix = matrix.to_memory()
    return matrix, cells, None


def _regulator_columns(
    regulators: Iterable[str] | None, genes: list[str], missing: str
) -> np.ndarray:
    if regulators is None:
        return np.arange(len(genes))
    wanted = [str(r) for r in regulators]
    pos = {g: i for i, g in enumerate(genes)}
    absent = [r for r in wanted if r not in pos]
    if absent and (missing == "error" or len(absent) == len(wanted)):
        shown = ", ".join(absent[:8]) + (f" and {len(absent) - 8} more" if len(absent) > 8 else "")
        raise ValidationError(
            f"{len(absent)} of {len(wanted)} regulators are not in var_names: {shown}"
            + (" (pass missing='drop' to fit the others)" if len(absent) < len(wanted) else "")
        )
    if absent:
        log(f"primed stream: {len(absent)} of {len(wanted)} regulators not in var_names, dropped")
    return np.array(sorted({pos[r] for r in wanted if r in pos}), dtype=int)


def _obs_values(obs: pd.DataFrame, value: Any, what: str, n: int) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in obs:
            raise ValidationError(f"{what} column {value!r} not in obs ({list(obs.columns)[:8]})")
        return obs[value].to_numpy()
    arr = np.asarray(value)
    if arr.shape != (n,):
        raise ValidationError(f"{what} has {arr.shape[0] if arr.ndim else 0} values for {n} cells")
    return arr


def primed_statistics(
    source: Any,
    *,
    regulators: Iterable[str] | None = None,
    groupby: str | Sequence[Any] | None = None,
    reference: str | Sequence[bool] | None = None,
    layer: str | None = None,
    folds: int = 3,
    seed: int = 0,
    chunk_cells: int = 5000,
    missing: str = "error",
    n_jobs: int = 1,
    dask: str | Any | None = None,
) -> PrimedStatistics:
    """One streamed pass over the cells: the :class:`PrimedStatistics` of the network.

    Parameters
    ----------
    source
        A path to a ``.h5ad`` (read backed) or ``.zarr`` store, or AnnData (backed or in
        memory).
    regulators
        Candidate regulator names (default: every gene); names not in ``var_names`` are an
        error (``missing="drop"``: dropped, logged).
    groupby
        ``obs`` column (or one value per cell) to standardise within.
    reference
        ``obs`` boolean column (or one flag per cell): the cells that define centres and
        spreads (e.g. controls).
    layer
        Matrix to read (``None``: ``X``; ``"raw"``; a layer name).
    folds, seed
        Cross-validation split of :func:`fit_primed_network` (``folds=1``: none).
    chunk_cells
        Cells read at a time (memory per worker grows with it).
    missing
        ``"error"`` or ``"drop"`` for regulators absent from ``var_names``.
    n_jobs, dask
        Where the chunks run (:func:`virtualcell._utils.map_tasks`).

    Returns
    -------
    PrimedStatistics
        Everything :func:`solve_primed` needs; the data are not read again.
    """
    if missing not in ("error", "drop"):
        raise ValidationError(f"missing must be 'error' or 'drop', got {missing!r}")
    if isinstance(chunk_cells, bool) or not isinstance(chunk_cells, int) or chunk_cells < 1:
        raise ValidationError(f"chunk_cells must be a positive integer, got {chunk_cells!r}")
    t0 = time.perf_counter()
    reader, cells, _ = _open_source(source, layer)
    try:
        genes = [str(g) for g in cells.var_names]
        obs, n = cells.obs, cells.n_obs
    finally:
        cells.close()
    if n < 3:
        raise ValidationError(f"need >= 3 cells to fit a network, got {n}")
    regs = _regulator_columns(regulators, genes, missing)
    groups = _obs_values(obs, groupby, "groupby", n)
    ref_values = _obs_values(obs, reference, "reference", n)
    g = np.zeros(n, dtype=object) if groups is None else np.asarray(groups).astype(str)
    names = sorted(set(g.tolist()))
    codes = np.searchsorted(np.asarray(names, dtype=object), g).astype(np.int64)
    ref = np.ones(n, dtype=np.int64) if ref_values is None else ref_values.astype(bool).astype(int)
    n_folds = folds if folds >= 2 and n >= 2 * folds else 1
    fold_of = (
        np.random.default_rng(seed).permutation(n) % n_folds
        if n_folds > 1
        else np.zeros(n, dtype=np.int64)
    )
    workers = n_workers(n_jobs=n_jobs, dask=dask)
    bounds = np.linspace(0, n, min(workers, n) + 1).astype(int)
    spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    acc: dict[str, Any] | None = None
    # partial sums are added as they arrive: the client holds two, whatever the workers
    for _, part in imap_tasks(
        _stats_task, spans, n_jobs=n_jobs, dask=dask, description="primed statistics",
        shared=dict(source=reader, layer=layer, codes=codes, ref=ref, fold_of=fold_of,
                    n_groups=len(names), n_folds=n_folds, regulators=regs,
                    chunk_cells=chunk_cells),
    ):  # fmt: skip
        if acc is None:
            acc = part
            continue
        for key in ("cross", "count", "total", "squares"):
            acc[key] += part[key]
        acc["absmax"] = max(acc["absmax"], part["absmax"])
        acc["nnz"] += part["nnz"]
        acc["read_s"] += part["read_s"]
        del part
    assert acc is not None
    centre, scale = _standardisation(acc["count"], acc["total"], acc["squares"], acc["absmax"])
    cross, total, squares, count = acc["cross"], acc["total"], acc["squares"], acc["count"]
    sumsq = np.zeros((n_folds, len(genes)))
    for f in range(n_folds):
        for k, c in enumerate(centre):
            s_fg, n_fg = total[f, k].sum(axis=0), count[f, k].sum()
            if not n_fg:
                continue
            cr = c[regs]
            cross[f] -= np.outer(cr, s_fg)
            cross[f] -= np.outer(s_fg[regs] - n_fg * cr, c)
            sumsq[f] += squares[f, k].sum(axis=0) - 2.0 * c * s_fg + n_fg * c**2
        cross[f] /= scale[regs][:, None]
        cross[f] /= scale[None, :]
        sumsq[f] /= scale**2
    wall = time.perf_counter() - t0
    return PrimedStatistics(
        genes=genes, regulators=regs, groups=[str(v) for v in names], centre=centre,
        scale=scale, cross=cross, sumsq=sumsq, fold_cells=count.sum(axis=(1, 2)),
        folds=n_folds, seed=seed,
        timing={"wall_s": wall, "read_s": acc["read_s"], "cells": float(n),
                "nnz": float(acc["nnz"]), "tasks": float(len(spans))},
    )  # fmt: skip


# -- the solve -------------------------------------------------------------------------


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
