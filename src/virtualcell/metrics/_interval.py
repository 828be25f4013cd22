"""Confidence intervals of a mean over repeated runs (seeds, folds, draws).

:func:`mean_ci` — the two-sided Student-t interval of the mean of ``n`` independent
values: ``mean ± t_{1-(1-level)/2, n-1} · sd / sqrt(n)`` with ``sd`` the sample standard
deviation (``ddof=1``). It assumes the values are independent draws (one per seed) from a
roughly normal distribution; with few seeds the interval is wide by design.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._errors import ValidationError
from ._checks import as_float_array, check_finite

__all__ = ["MeanCI", "mean_ci"]


class MeanCI(NamedTuple):
    """Mean of ``n`` values with the ``level`` interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    n: int
    level: float


def mean_ci(values: Any, *, level: float = 0.95) -> MeanCI:
    """Mean and two-sided Student-t confidence interval over independent values.

    Parameters
    ----------
    values
        1-D values, one per independent run (e.g. a metric per seed); at least two.
    level
        Coverage of the interval, in (0, 1).

    Returns
    -------
    MeanCI
        ``mean``, ``low``, ``high`` (``mean ± t · sd / sqrt(n)``, ``sd`` with
        ``ddof=1``; ``low == high == mean`` when all values are equal), ``n``, ``level``.
    """
    from scipy import stats

    x = as_float_array(values, "values")
    if x.ndim != 1:
        raise ValidationError(f"values must be 1-D, got shape {x.shape}")
    check_finite(x, "values")
    if x.size < 2:
        raise ValidationError(f"values needs at least 2 values for an interval, got {x.size}")
    if isinstance(level, bool) or not 0 < float(level) < 1:
        raise ValidationError(f"level must lie in (0, 1), got {level!r}")
    n, mean = x.size, float(x.mean())
    half = float(stats.t.ppf(0.5 + float(level) / 2, n - 1)) * float(x.std(ddof=1)) / np.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, int(n), float(level))
