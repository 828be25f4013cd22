"""Rows of genes that were not candidate regulators of a fitted
:class:`._primed.PrimedNetwork`, as if each had been one (what lets ``primed_network``
cap its candidates on a screen's panel and still predict any measured gene)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._primed import PrimedNetwork, group_codes, prior_matrix

__all__ = ["add_regulator_rows"]


def add_regulator_rows(
    net: PrimedNetwork,
    x: Any,
    new: Sequence[int],
    *,
    groups: Sequence[Any] | None = None,
    prior: pd.DataFrame | None = None,
    cells: Sequence[bool] | None = None,
) -> dict[int, dict[str, np.ndarray]]:
    """Rows of genes that were not candidate regulators, as if each had been one.

    For target ``t`` the ridge system over the regulators ``R`` plus gene ``g`` solves,
    by the block (Schur complement) formula, to::

        B[g, t] = (c_gt + lam_gt mu_gt - a' B[R, t]) / (s_g + lam_gt - a' A_t^-1 a)

    with ``a = Z_R' z_g``, ``c_gt = z_g' z_t``, ``s_g = z_g' z_g`` (the cells standardised
    as the network's), ``lam_gt`` and ``mu_gt`` the penalty and prior mean of a known edge
    ``g -> t`` of ``prior`` (as in the fit: ``ridge x n / strength`` and ``prior_mean x
    sign``), ``B[R, t]`` the fitted column (data and prior parts each) and ``A_t = Z_R' Z_R
    + ridge x n I`` with ``t``'s own coefficient pinned at 0. The regulators' rows are not
    changed and ``g``'s own column is 0. Exact for a target without known edges from
    ``R`` and without perturbed cells; otherwise ``A_t`` is that shared matrix (the
    Woodbury update of the target's known regulators and the removal of the cells
    perturbing it are not redone), an approximation. The ``association`` row is ``c_gt
    / s_g`` over all the cells. Each row is stored in :attr:`PrimedNetwork.added`.

    Parameters
    ----------
    net
        A fitted network that kept its Gram matrix (:attr:`PrimedNetwork.gram`).
    x
        The cells it was fitted on (cells x genes, dense or sparse, same scale as the
        fit), or a superset of them marked by ``cells``.
    new
        Gene columns to add (those already regulators or added are skipped).
    groups
        Each row's group (the fit's ``groups``), None for one group.
    prior
        The fit's known edges (None: none).
    cells
        Boolean mask of the rows of ``x`` that were fitted (default: all).

    Returns
    -------
    dict
        Gene column -> ``{part: genes-vector}`` of every row of ``new`` (also stored in
        ``net.added``).
    """
    if net.gram is None or not net.n_cells:
        raise ValidationError("this network kept no Gram matrix: refit it to add regulators")
    todo = [int(g) for g in dict.fromkeys(new)
            if int(g) not in net.added and not np.any(net.regulators == int(g))]  # fmt: skip
    if todo:
        net.added.update(_added_rows(net, x, np.asarray(todo), groups, prior, cells))
    return {int(g): net.added[int(g)] for g in new if int(g) in net.added}


def _added_rows(net, x, new, groups, prior, cells) -> dict[int, dict[str, np.ndarray]]:
    n, p = x.shape
    if p != len(net.genes):
        raise ValidationError(f"x has {p} genes, the network {len(net.genes)}")
    keep = np.ones(n, dtype=bool) if cells is None else np.asarray(cells, dtype=bool)
    if keep.shape != (n,) or int(keep.sum()) != net.n_cells:
        raise ValidationError(
            f"{int(keep.sum())} cells marked for a network fitted on {net.n_cells}"
        )
    codes = group_codes(net.groups, groups, n)
    cols = x[:, new]
    cols = np.asarray(cols.toarray() if hasattr(cols, "toarray") else cols, dtype=np.float64)
    zn = (cols - net.centre[:, new][codes]) / net.scale[new]
    zn[~keep] = 0.0
    sums = np.zeros((len(net.groups), new.size))
    np.add.at(sums, codes, zn)
    raw = x.T @ zn
    c = (np.asarray(raw, dtype=np.float64) - net.centre.T @ sums) / net.scale[:, None]  # p x k
    regs = net.regulators
    k = np.arange(new.size)
    a, s = c[regs], c[new, k]
    lamn = net.ridge * max(net.n_cells, 1)
    inv = np.linalg.inv(net.gram + lamn * np.eye(regs.size))
    u = inv @ a
    pinned = np.zeros((p, new.size))  # a target that is a regulator pins its own coefficient
    pinned[regs] = u**2 / np.diag(inv)[:, None]
    sign = np.zeros((new.size, p))
    if prior is not None:
        with warnings.catch_warnings():  # most added genes regulate nothing known
            warnings.simplefilter("ignore", UserWarning)
            sign = prior_matrix(prior, net.genes, new)
    lam = np.where(sign != 0, lamn / net.strength, lamn)
    den = s[:, None] + lam - (a * u).sum(axis=0)[:, None] + pinned.T
    data = (c.T - a.T @ net.data_part) / den
    prior_part = (lam * net.prior_mean * sign - a.T @ net.prior_part) / den
    data[k, new] = 0.0
    prior_part[k, new] = 0.0
    assoc = c.T / np.maximum(s, 1e-12)[:, None]
    return {
        int(gene): {"coef": data[i] + prior_part[i], "data_part": data[i],
                    "prior_part": prior_part[i], "prior": sign[i], "association": assoc[i]}
        for i, gene in enumerate(new)
    }  # fmt: skip
