"""Rank-average ensemble of registered methods (wisdom of crowds, Marbach et al. 2012)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .._errors import ValidationError
from ._base import GRNInput, Scores
from ._perturbation import rank01

__all__: list[str] = []


def ensemble(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    methods: Sequence[str] = ("pidc", "grnboost2", "pearson"),
    weights: Sequence[float] | None = None,
    resolve: Callable[[str], Callable[..., Scores]],
) -> Scores:
    """Weighted average of the members' score ranks (each scaled to (0, 1]); the sign is
    taken from the first member that gives one.

    Parameters
    ----------
    methods
        Registered method names.
    weights
        One weight per method (default equal).
    resolve
        Method lookup by name (bound by the method table, :data:`virtualcell.grn.METHODS`).
    """
    if not methods or "ensemble" in methods:
        raise ValidationError("ensemble needs a non-empty list of other methods")
    w = np.ones(len(methods)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(methods),) or (w < 0).any() or w.sum() == 0:
        raise ValidationError(f"weights {weights} do not match methods {list(methods)}")
    off = data.regulators[:, None] != np.arange(data.n_genes)[None, :]
    total = np.zeros(off.shape)
    sign = None
    for m, wi in zip(methods, w, strict=True):
        res = resolve(m)(data, n_jobs=n_jobs, seed=seed)
        total += wi * rank01(np.asarray(res.score, dtype=float), off)
        if sign is None and res.sign is not None:
            sign = res.sign
    return Scores(score=np.where(off, total / w.sum(), 0.0), sign=sign)
