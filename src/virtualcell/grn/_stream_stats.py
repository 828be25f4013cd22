"""The one streamed pass of :mod:`._stream`: the sufficient statistics of the
knowledge-primed network (:class:`PrimedStatistics`, :func:`primed_statistics`), read from
a backed ``.h5ad``, a ``.zarr`` store or AnnData in row chunks and added up over workers.
What they hold and why they suffice is described in :mod:`._stream`."""

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
from .._utils import imap_tasks, log, n_workers

__all__ = ["PrimedStatistics", "primed_statistics"]


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
