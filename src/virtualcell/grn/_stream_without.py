"""The primed network's statistics of fewer cells, by subtraction
(:func:`statistics_without`): what ``primed_network``'s held-out refits use instead of a
second pass over the cells."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import ValidationError
from ._primed import group_codes
from ._stream_sets import PerturbedSet
from ._stream_stats import PrimedStatistics

__all__ = ["statistics_without"]


def statistics_without(
    stats: PrimedStatistics,
    x: Any,
    drop: Sequence[int],
    *,
    groups: Sequence[Any] | None = None,
    chunk_cells: int = 2000,
) -> PrimedStatistics:
    """``stats`` less the cells of the perturbed sets ``drop``, in one fold (no
    cross-validation), without reading the other cells again.

    The cells' standardisation (centres and scale) is kept as it is, so the result is the
    statistics of the remaining cells in the full fit's units: a fresh pass over them
    gives the same numbers wherever the dropped cells did not set a centre or the
    spread (they are not reference cells, and every group keeps at least two reference
    cells, as with the control cells of a screen).

    Parameters
    ----------
    stats
        From :func:`primed_statistics` (with ``perturbed=``).
    x
        The raw rows (as the pass read them) of exactly the cells of the sets ``drop``,
        in any order, dense or sparse.
    drop
        Indices into ``stats.perturbed`` of the sets whose cells leave.
    groups
        The group of each row of ``x`` (None: one group).
    chunk_cells
        Rows standardised at a time.

    Returns
    -------
    PrimedStatistics
        One fold; ``perturbed`` without the dropped sets, each kept set in one fold.
    """
    drop = sorted({int(i) for i in drop})
    if any(not 0 <= i < len(stats.perturbed) for i in drop):
        raise ValidationError(f"drop must index the {len(stats.perturbed)} perturbed sets")
    n_drop = int(sum(stats.perturbed[i].cells.sum() for i in drop))
    if x.shape[0] != n_drop:
        raise ValidationError(
            f"x has {x.shape[0]} rows for the {n_drop} cells of the {len(drop)} dropped sets"
        )
    codes = group_codes(stats.groups, groups, x.shape[0])
    regs = stats.regulators
    cross = stats.cross.sum(axis=0)
    sumsq = stats.sumsq.sum(axis=0)
    for a in range(0, x.shape[0], chunk_cells):
        rows = x[a : a + chunk_cells]
        rows = np.asarray(rows.toarray() if hasattr(rows, "toarray") else rows, dtype=np.float64)
        z = (rows - stats.centre[codes[a : a + chunk_cells]]) / stats.scale
        cross -= z[:, regs].T @ z
        sumsq -= np.einsum("ij,ij->j", z, z)
    gone = set(drop)
    kept = [
        PerturbedSet(
            label=ps.label, genes=ps.genes, regulator_rows=ps.regulator_rows,
            cells=ps.cells.sum(keepdims=True),
            cross=None if ps.cross is None else ps.cross.sum(axis=0, keepdims=True),
            rows=ps.rows, sumsq=ps.sumsq.sum(axis=0, keepdims=True), z=ps.z,
            cell_fold=None if ps.cell_fold is None else np.zeros_like(ps.cell_fold),
        )
        for i, ps in enumerate(stats.perturbed)
        if i not in gone
    ]  # fmt: skip
    return PrimedStatistics(
        genes=stats.genes, regulators=regs, groups=stats.groups, centre=stats.centre,
        scale=stats.scale, cross=cross[None], sumsq=sumsq[None],
        fold_cells=np.array([float(stats.n_cells - n_drop)]), folds=1, seed=stats.seed,
        perturbed=kept,
    )  # fmt: skip
