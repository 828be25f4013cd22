"""The perturbed sets of the streamed primed network (:mod:`._stream`): what a target
among a set's genes subtracts from the network's statistics (:class:`PerturbedSet`), in
which form a set is held (its standardised cells or its per-fold Gram blocks, whichever
takes fewer bytes: :func:`keeps_cells`), and how the pass's raw sums of a set become its
standardised statistics (:func:`centred_set`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PerturbedSet", "centred_set", "keeps_cells"]


#: a perturbed set keeps its standardised cells (``cells x (r + k)`` doubles) instead of
#: its Gram blocks (``folds x r x (r + k)``) when they take fewer bytes than this share of
#: the blocks (:func:`keeps_cells`); tests set it to 0 (blocks only) or ``inf`` (cells only)
_CELLS_RATIO = 1.0


def keeps_cells(n_cells: int, folds: int, r: int, k: int) -> bool:
    """Whether a set of ``n_cells`` cells perturbing ``k`` genes is held as its cells: its
    values and folds (``8 B x n_cells x (r + k + 1)``) against its Gram blocks
    (``8 B x folds x r x (r + k)``), roughly ``n_cells < folds x r``."""
    return n_cells * (r + k + 1) < _CELLS_RATIO * folds * r * (r + k)


@dataclass
class PerturbedSet:
    """The standardised statistics of the cells that perturb one set of genes together
    (a single knockout ``A``, or a combination ``A+B``): what a target among ``genes``
    subtracts from the network's statistics, since it is not fitted on these cells.

    A set is held in whichever form takes fewer bytes: a set of few cells (roughly
    fewer than ``folds x regulators``, as in most CRISPR screens) keeps its cells'
    standardised values ``z`` and their folds, and its cross-products are formed from
    them when a target needs them; a larger set keeps its per-fold Gram blocks
    ``cross``. :meth:`fold_cross` gives the blocks either way.

    Attributes
    ----------
    label
        The genes joined by ``+``.
    genes
        Gene columns perturbed in these cells (sorted).
    regulator_rows
        Positions among the regulators of those of ``genes`` that are regulators.
    cells
        Cells per fold.
    cross
        ``folds x regulators x (regulators + len(genes))``: ``sum z_k z_u`` over the
        set's cells of each fold, ``u`` the regulators then ``genes``; ``None`` when the
        set keeps its cells (``z``).
    rows
        ``len(regulator_rows) x genes``: ``sum z_k z_t`` over all the set's cells for
        the set's genes ``k`` that are regulators (the association's rows).
    sumsq
        ``folds x len(genes)``: ``sum z_t^2`` of the set's genes over the set's cells of
        each fold.
    z
        ``cells x (regulators + len(genes))``: the set's cells standardised as the
        network's (minus their group's centre, over the scale), at the regulators then
        ``genes``, in file order; ``None`` when the set keeps ``cross``.
    cell_fold
        The fold of each row of ``z`` (``None`` with ``cross``).
    """

    label: str
    genes: np.ndarray
    regulator_rows: np.ndarray
    cells: np.ndarray
    cross: np.ndarray | None
    rows: np.ndarray
    sumsq: np.ndarray
    z: np.ndarray | None = None
    cell_fold: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (``cross`` or ``z`` and ``cell_fold``, and the rest)."""
        held = (self.genes, self.regulator_rows, self.cells, self.cross, self.rows,
                self.sumsq, self.z, self.cell_fold)  # fmt: skip
        return int(sum(a.nbytes for a in held if a is not None))

    def fold_cross(self) -> np.ndarray:
        """``folds x regulators x (regulators + len(genes))``: :attr:`cross`, formed from
        ``z`` when the set keeps its cells."""
        if self.cross is not None:
            return self.cross
        assert self.z is not None and self.cell_fold is not None
        r = self.z.shape[1] - self.genes.size
        out = np.zeros((self.cells.size, r, self.z.shape[1]))
        for f in range(self.cells.size):
            zf = self.z[self.cell_fold == f]
            out[f] = zf[:, :r].T @ zf
        return out


def centred_set(
    acc: dict[str, Any],
    i: int,
    set_genes: np.ndarray,
    regs: np.ndarray,
    centre: np.ndarray,
    scale: np.ndarray,
    names: Sequence[str],
    *,
    codes: np.ndarray,
    fold_of: np.ndarray,
) -> PerturbedSet:
    """Perturbed set ``i``'s raw sums turned into standardised statistics (the same
    algebra as the whole data's: subtract each group's centre, divide by the scale), or,
    for a set that keeps its cells, its cells standardised (``codes``, ``fold_of``: each
    cell's group and fold)."""
    reg_pos = {int(g): k for k, g in enumerate(regs)}
    cols = np.concatenate([regs, set_genes])
    row_genes = np.array([g for g in set_genes if int(g) in reg_pos], dtype=int)
    cross, rows = acc["s_cross"].get(i), acc["s_rows"][i]
    count, total, squares = acc["s_count"][i], acc["s_total"][i], acc["s_squares"][i]
    total_all = acc["s_total_all"][i]
    r = regs.size
    n_folds = count.shape[0]
    sumsq = np.zeros((n_folds, set_genes.size))
    z = cell_fold = None
    if cross is None:  # the set keeps its cells: standardised exactly as in memory
        parts = acc["s_cells"][i]
        idx = np.concatenate([p[0] for p in parts])
        order = np.argsort(idx, kind="stable")  # file order, whatever the workers' order
        idx = idx[order]
        z = np.vstack([p[1] for p in parts])[order]
        z -= centre[:, cols][codes[idx]]
        z /= scale[cols][None, :]
        cell_fold = fold_of[idx].astype(np.int32)
        for f in range(n_folds):
            zt = z[cell_fold == f, r:]
            sumsq[f] = np.einsum("ij,ij->j", zt, zt)
    for f in range(n_folds if cross is not None else 0):
        for k, c in enumerate(centre):
            s, n = total[f, k], count[f, k]  # s: sums at the columns ``cols``
            if not n:
                continue
            cross[f] -= np.outer(c[regs], s)
            cross[f] -= np.outer(s[:r] - n * c[regs], c[cols])
            cg = c[set_genes]
            sumsq[f] += squares[f, k] - 2.0 * cg * s[r:] + n * cg**2
        cross[f] /= scale[regs][:, None]
        cross[f] /= scale[cols][None, :]
        sumsq[f] /= scale[set_genes] ** 2
    if row_genes.size:
        for k, c in enumerate(centre):
            s, n = total_all[k], count[:, k].sum()
            rows -= np.outer(c[row_genes], s)
            rows -= np.outer(s[row_genes] - n * c[row_genes], c)
    rows /= scale[row_genes][:, None]
    rows /= scale[None, :]
    return PerturbedSet(
        label="+".join(names[int(g)] for g in set_genes), genes=set_genes,
        regulator_rows=np.array([reg_pos[int(g)] for g in row_genes], dtype=int),
        cells=count.sum(axis=1), cross=cross, rows=rows, sumsq=sumsq, z=z,
        cell_fold=cell_fold,
    )  # fmt: skip
