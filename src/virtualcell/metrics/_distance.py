"""Distances between two samples of profiles (cells x features)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._errors import ValidationError
from ._checks import as_float_array

__all__ = ["energy_distance"]


def _mean_pairwise(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> float:
    total = 0.0
    for s in range(0, len(a), chunk):
        x = a[s : s + chunk]
        d2 = (x * x).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * x @ b.T
        total += float(np.sqrt(np.maximum(d2, 0.0)).sum())
    return total / (len(a) * len(b))


def energy_distance(x: ArrayLike, y: ArrayLike) -> float:
    """Energy distance between the samples ``x`` (n x d) and ``y`` (m x d).

    ``D(x, y) = sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|)`` with Euclidean distances and
    every pair counted, including a point with itself (the V-statistic; Székely & Rizzo
    2013). It is 0 when the samples are identical and grows with differences in location
    and in spread; in one dimension it equals ``scipy.stats.energy_distance``.

    Parameters
    ----------
    x
        First sample: ``n x d`` (a 1-D array is ``n x 1``), finite, at least one row.
    y
        Second sample: ``m x d`` over the same features.

    Returns
    -------
    The energy distance, in [0, inf); lower means the samples are more alike.
    """
    a = as_float_array(x, "x")
    b = as_float_array(y, "y")
    if a.ndim == 1:
        a = a[:, None]
    if b.ndim == 1:
        b = b[:, None]
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValidationError(
            f"x and y must be samples x features with the same features, got {a.shape} and {b.shape}"
        )
    if len(a) == 0 or len(b) == 0:
        raise ValidationError("x and y must each hold at least one sample")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValidationError("x and y must be finite")
    d = 2 * _mean_pairwise(a, b) - _mean_pairwise(a, a) - _mean_pairwise(b, b)
    return float(np.sqrt(max(d, 0.0)))
