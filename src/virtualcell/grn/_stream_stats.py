"""The one streamed pass of :mod:`._stream`: the sufficient statistics of the
knowledge-primed network (:class:`PrimedStatistics`, :func:`primed_statistics`), read from
a backed ``.h5ad``, a ``.zarr`` store or AnnData in row chunks and added up over workers;
the perturbed sets' forms are in :mod:`._stream_sets`.
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
from ._stream_sets import PerturbedSet, centred_set, keeps_cells

__all__ = ["PrimedStatistics", "perturbed_columns", "primed_statistics"]


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
    perturbed
        One :class:`PerturbedSet` per distinct set of genes perturbed together (empty
        without ``perturbed=``): a target is fitted without the cells perturbing it.
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
    perturbed: list[PerturbedSet] = field(default_factory=list)

    @property
    def n_cells(self) -> int:
        return int(self.fold_cells.sum())

    def sets_of(self) -> dict[int, list[int]]:
        """Gene column -> indices of the :attr:`perturbed` sets that contain it."""
        out: dict[int, list[int]] = {}
        for i, pset in enumerate(self.perturbed):
            for g in pset.genes:
                out.setdefault(int(g), []).append(i)
        return out


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
    set_of: np.ndarray | None = None,
    set_genes: Sequence[np.ndarray] = (),
    keep_cells: np.ndarray | None = None,
) -> dict[str, Any]:
    """Raw sums over cells ``span``: per fold the regulator x gene cross-product, per
    (fold, group, reference) the count, gene sums and sums of squares; max ``|x|``.
    With perturbed sets (``set_of``: each cell's set, -1 for none), the same per set:
    regulators x (regulators + the set's genes) per fold, the rows of the set's genes
    that are regulators, and per (fold, group) the count, sums and sums of squares. A
    set flagged in ``keep_cells`` gets, instead of its cross-product, its cells' raw
    values at those columns (``s_cells``: a list of ``(cell indices, values)``), to be
    standardised once the centres and scale are known."""
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
        n_sets = len(set_genes)
        reg_pos = -np.ones(n_genes, dtype=int)
        reg_pos[regulators] = np.arange(r)
        set_cols = [np.concatenate([regulators, gs]) for gs in set_genes]
        set_rowgenes = [gs[reg_pos[gs] >= 0] for gs in set_genes]
        s_count = np.zeros((n_sets, n_folds, n_groups))
        # per set with cells in this span only (a worker holds the sets of its own cells,
        # not every set): sums at the columns each set needs — its cross-product's, its
        # genes' squares, and every gene's (over folds) only where a set gene is a
        # regulator (its rows)
        s_cross: dict[int, np.ndarray] = {}
        s_cells: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        s_rows: dict[int, np.ndarray] = {}
        s_total: dict[int, np.ndarray] = {}
        s_total_all: dict[int, np.ndarray] = {}
        s_squares: dict[int, np.ndarray] = {}
        for a in range(span[0], span[1], chunk_cells):
            b = min(a + chunk_cells, span[1])
            t0 = time.perf_counter()
            x = _rows(matrix, a, b)
            seconds_read += time.perf_counter() - t0
            nnz += int(x.nnz)
            if x.nnz and not np.isfinite(x.data).all():
                bad = np.unique(
                    np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))[~np.isfinite(x.data)]
                ).size
                raise ValidationError(
                    f"{bad} cell(s) among cells {a}..{b - 1} have NaN or infinite values "
                    f"in {'X' if layer is None else repr(layer)}: remove or impute them first"
                )
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
            if set_of is None:
                continue
            sets = set_of[a:b]
            for c in (int(c) for c in np.unique(sets[sets >= 0])):
                cells_kept = keep_cells is not None and bool(keep_cells[c])
                if c not in s_rows:
                    cols, rg = set_cols[c], set_rowgenes[c]
                    if cells_kept:
                        s_cells[c] = []
                    else:
                        s_cross[c] = np.zeros((n_folds, r, cols.size))
                    s_rows[c] = np.zeros((rg.size, n_genes))
                    s_total[c] = np.zeros((n_folds, n_groups, cols.size))
                    s_total_all[c] = np.zeros((n_groups, n_genes if rg.size else 0))
                    s_squares[c] = np.zeros((n_folds, n_groups, set_genes[c].size))
                in_set = sets == c
                xc = x[np.flatnonzero(in_set)]
                if set_rowgenes[c].size:
                    s_rows[c] += (xc[:, set_rowgenes[c]].T @ xc).toarray()
                if cells_kept:
                    s_cells[c].append((a + np.flatnonzero(in_set), xc[:, set_cols[c]].toarray()))
                for f in np.unique(fold_of[a:b][in_set]):
                    in_fold = in_set & (fold_of[a:b] == f)
                    if not cells_kept:
                        xf = x[np.flatnonzero(in_fold)]
                        s_cross[c][f] += (xf[:, regulators].T @ xf[:, set_cols[c]]).toarray()
                    for g in np.unique(codes[a:b][in_fold]):
                        rows = np.flatnonzero(in_fold & (codes[a:b] == g))
                        tot = np.asarray(x[rows].sum(axis=0)).ravel()
                        s_count[c, f, g] += rows.size
                        s_total[c][f, g] += tot[set_cols[c]]
                        if set_rowgenes[c].size:
                            s_total_all[c][g] += tot
                        squares_g = sq[rows][:, set_genes[c]].sum(axis=0)
                        s_squares[c][f, g] += np.asarray(squares_g).ravel()
    finally:
        if handle is not None:
            handle.close()
    return {
        "cross": cross, "count": count, "total": total, "squares": squares,
        "absmax": absmax, "nnz": nnz, "read_s": seconds_read, "s_cross": s_cross,
        "s_rows": s_rows, "s_count": s_count, "s_total": s_total, "s_squares": s_squares,
        "s_total_all": s_total_all, "s_cells": s_cells,
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
    if not wanted:
        raise ValidationError(
            "regulators is empty: name at least one regulator (or None: every gene)"
        )
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


def perturbed_columns(
    obs: pd.DataFrame, perturbed: Any, genes: Sequence[str]
) -> list[tuple[int, ...]] | None:
    """The gene columns each cell perturbs, from an ``obs`` column of condition labels
    (``"control"``, ``"A"``, ``"A+B"``: :func:`virtualcell.data.split_perturbation`;
    genes not among ``genes`` are not measured and left out, logged) or from one list
    of gene names or column indices per cell.

    Parameters
    ----------
    obs
        Cell annotations (one row per cell).
    perturbed
        ``None``, an ``obs`` column name, or one sequence per cell.
    genes
        Gene names of the matrix columns.

    Returns
    -------
    list of tuple of int, or None
        Per cell, the sorted unique columns it perturbs (``()`` for a control cell).
    """
    if perturbed is None:
        return None
    pos = {str(g): i for i, g in enumerate(genes)}
    n = obs.shape[0]
    if isinstance(perturbed, str):
        from ..data import split_perturbation

        if perturbed not in obs:
            raise ValidationError(
                f"perturbed column {perturbed!r} not in obs (columns: {list(obs.columns)[:8]})"
            )
        labels = obs[perturbed].astype(str).to_numpy()
        parsed: dict[str, tuple[int, ...]] = {}
        unmeasured: set[str] = set()
        for lab in dict.fromkeys(labels.tolist()):
            names = split_perturbation(lab)
            unmeasured.update(g for g in names if g not in pos)
            parsed[lab] = tuple(sorted({pos[g] for g in names if g in pos}))
        if unmeasured:
            shown = ", ".join(sorted(unmeasured)[:5])
            log(f"primed: {len(unmeasured)} perturbed gene(s) of obs[{perturbed!r}] are not "
                f"measured ({shown}): their cells are fitted for every gene")  # fmt: skip
        return [parsed[lab] for lab in labels]
    rows = list(perturbed)
    if len(rows) != n:
        raise ValidationError(f"perturbed has {len(rows)} entries for {n} cells")
    out = []
    for cell in rows:
        cols = set()
        for g in [cell] if isinstance(cell, str | int | np.integer) else cell:
            if isinstance(g, str):
                if g not in pos:
                    raise ValidationError(f"perturbed gene {g!r} is not in var_names")
                cols.add(pos[g])
            elif isinstance(g, int | np.integer) and 0 <= int(g) < len(pos):
                cols.add(int(g))
            else:
                raise ValidationError(
                    f"perturbed entries must be gene names or columns 0..{len(pos) - 1}, got {g!r}"
                )
        out.append(tuple(sorted(cols)))
    return out


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
    perturbed: str | Sequence[Any] | None = None,
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
    perturbed
        Interventional data: an ``obs`` column of condition labels (``"control"``,
        ``"A"``, ``"A+B"``) or one list of gene names / columns per cell
        (:func:`perturbed_columns`). A gene is then not fitted on the cells perturbing
        it, as ``fit_primed_network(perturbed=...)``; the pass also collects each
        distinct perturbed set's statistics (:class:`PerturbedSet`), in the smaller of
        two forms: its ``n`` cells' standardised values, ``8 B x n x (regulators +
        set size + 1)``, or its Gram blocks, ``8 B x folds x regulators x (regulators +
        set size)`` (chosen when ``n`` is at least about ``folds x regulators``). A
        screen's memory thus grows with its perturbed cells, not with
        ``sets x regulators^2``.

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
    dup = pd.Index(genes)[pd.Index(genes).duplicated()].unique().tolist()
    if dup:
        raise ValidationError(
            f"var_names has {len(dup)} duplicated gene name(s): {', '.join(dup[:8])}"
            " (make them unique, e.g. adata.var_names_make_unique(), or drop the copies)"
        )
    if n < 3:
        raise ValidationError(f"need >= 3 cells to fit a network, got {n}")
    regs = _regulator_columns(regulators, genes, missing)
    groups = _obs_values(obs, groupby, "groupby", n)
    ref_values = _obs_values(obs, reference, "reference", n)
    g = np.zeros(n, dtype=object) if groups is None else np.asarray(groups).astype(str)
    names = sorted(set(g.tolist()))
    codes = np.searchsorted(np.asarray(names, dtype=object), g).astype(np.int64)
    ref = np.ones(n, dtype=np.int64) if ref_values is None else ref_values.astype(bool).astype(int)
    per_cell = perturbed_columns(obs, perturbed, genes)
    set_of, set_genes = None, []
    if per_cell is not None:
        set_index: dict[tuple[int, ...], int] = {}
        set_of = np.array([set_index.setdefault(p, len(set_index)) if p else -1
                           for p in per_cell], dtype=np.int64)  # fmt: skip
        set_genes = [np.asarray(p, dtype=int) for p in set_index]
    n_folds = folds if folds >= 2 and n >= 2 * folds else 1
    fold_of = (
        np.random.default_rng(seed).permutation(n) % n_folds
        if n_folds > 1
        else np.zeros(n, dtype=np.int64)
    )
    keep_cells = None
    if set_of is not None:  # decided here, by bytes (the workers only follow)
        size = np.bincount(set_of[set_of >= 0], minlength=len(set_genes))
        keep_cells = np.array([keeps_cells(int(size[c]), n_folds, regs.size, gs.size)
                               for c, gs in enumerate(set_genes)], dtype=bool)  # fmt: skip
    workers = n_workers(n_jobs=n_jobs, dask=dask)
    bounds = np.linspace(0, n, min(workers, n) + 1).astype(int)
    spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    acc: dict[str, Any] | None = None
    # partial sums are added as they arrive: the client holds two, whatever the workers
    for _, part in imap_tasks(
        _stats_task, spans, n_jobs=n_jobs, dask=dask, description="primed statistics",
        shared=dict(source=reader, layer=layer, codes=codes, ref=ref, fold_of=fold_of,
                    n_groups=len(names), n_folds=n_folds, regulators=regs,
                    chunk_cells=chunk_cells, set_of=set_of, set_genes=set_genes,
                    keep_cells=keep_cells),
    ):  # fmt: skip
        if acc is None:
            acc = part
            continue
        for key in ("cross", "count", "total", "squares", "s_count"):
            acc[key] += part[key]
        for key in ("s_cross", "s_rows", "s_total", "s_total_all", "s_squares", "s_cells"):
            for c, theirs in part[key].items():  # the sets with cells in that span
                if c in acc[key]:
                    acc[key][c] += theirs  # a list of cells: extended
                else:
                    acc[key][c] = theirs
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
    psets = []
    for i, genes_i in enumerate(set_genes):
        psets.append(centred_set(acc, i, genes_i, regs, centre, scale, genes, codes=codes,
                                 fold_of=fold_of))  # fmt: skip
        acc["s_cells"].pop(i, None)  # its raw cells, now standardised: not held twice
    wall = time.perf_counter() - t0
    return PrimedStatistics(
        genes=genes, regulators=regs, groups=[str(v) for v in names], centre=centre,
        scale=scale, cross=cross, sumsq=sumsq, fold_cells=count.sum(axis=(1, 2)),
        folds=n_folds, seed=seed,
        timing={"wall_s": wall, "read_s": acc["read_s"], "cells": float(n),
                "nnz": float(acc["nnz"]), "tasks": float(len(spans))},
        perturbed=psets,
    )  # fmt: skip
