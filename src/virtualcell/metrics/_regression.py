"""Regression metrics: MSE, RMSE, Pearson and Spearman correlation.

Every function takes ``(truth, prediction, *, axis=None)``:

* ``axis=None`` — all values are flattened and one number is returned;
* ``axis=1`` — reduce along columns (numpy convention): one value per row (e.g. per
  cell or per perturbation), shape ``(n_rows,)``;
* ``axis=0`` — one value per column (e.g. per gene).

Inputs may be lists, numpy arrays, pandas objects or scipy sparse matrices; shapes must
match and NaN/infinite values are an error. A correlation with a constant vector is
undefined: it is returned as NaN and a ``RuntimeWarning`` says how many were constant.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from .._errors import ValidationError
from .._utils import doc_params
from ._checks import as_float_array, check_finite, check_same_shape

__all__ = ["mse", "pearson", "rmse", "spearman"]

Axis = Literal[0, 1] | None

#: Parameters shared by the regression metrics (and :func:`~virtualcell.metrics.mae`).
REGRESSION_PARAMS = {
    "truth": (
        "True values: an array, DataFrame, Series, list or scipy sparse matrix (e.g. "
        "cells x genes); NaN or infinite values are an error."
    ),
    "prediction": "Predicted values, the same shape as ``truth``.",
    "axis": (
        "``None``: all values flattened into one number; ``1``: one value per row (e.g. "
        "per cell or perturbation); ``0``: one value per column (e.g. per gene). 2-D "
        "inputs only for 0 and 1."
    ),
}
_documented = doc_params(**REGRESSION_PARAMS)


def _pair(
    truth: ArrayLike, prediction: ArrayLike, axis: Axis
) -> tuple[np.ndarray, np.ndarray, int]:
    t = as_float_array(truth, "truth")
    p = as_float_array(prediction, "prediction")
    check_same_shape(t, p, ("truth", "prediction"))
    check_finite(t, "truth")
    check_finite(p, "prediction")
    if axis is None:
        t, p = t.reshape(1, -1), p.reshape(1, -1)
        red = 1
    else:
        if t.ndim != 2:
            raise ValidationError(f"axis={axis} needs 2-D inputs, got shape {t.shape}")
        if axis not in (0, 1):
            raise ValidationError(f"axis must be None, 0 or 1, got {axis!r}")
        red = axis  # numpy convention: the axis that is reduced
    if t.shape[red] == 0:
        raise ValidationError("inputs are empty along the reduced axis")
    return t, p, red


def _out(values: np.ndarray, axis: Axis) -> float | np.ndarray:
    return float(values[0]) if axis is None else values


@_documented
def mse(truth: ArrayLike, prediction: ArrayLike, *, axis: Axis = None) -> float | np.ndarray:
    """Mean squared error ``mean((prediction - truth) ** 2)``; in [0, inf), lower is
    better, 0 for a perfect prediction (``METRIC_SPECS["mse"]``).
    Returns
    -------
    A float with ``axis=None``, else an array of one value per row (``axis=1``) or per
    column (``axis=0``).
    """
    t, p, red = _pair(truth, prediction, axis)
    return _out(np.mean((p - t) ** 2, axis=red), axis)


@_documented
def rmse(truth: ArrayLike, prediction: ArrayLike, *, axis: Axis = None) -> float | np.ndarray:
    """Root mean squared error ``sqrt(mean((prediction - truth) ** 2))``; in [0, inf),
    lower is better, in the units of the values.
    Returns
    -------
    A float with ``axis=None``, else an array of one value per row (``axis=1``) or per
    column (``axis=0``).
    """
    t, p, red = _pair(truth, prediction, axis)
    return _out(np.sqrt(np.mean((p - t) ** 2, axis=red)), axis)


def _corr(t: np.ndarray, p: np.ndarray, red: int) -> np.ndarray:
    if t.shape[red] < 2:
        raise ValidationError("a correlation needs at least 2 values")
    tc = t - t.mean(axis=red, keepdims=True)
    pc = p - p.mean(axis=red, keepdims=True)
    num = (tc * pc).sum(axis=red)
    den = np.sqrt((tc**2).sum(axis=red) * (pc**2).sum(axis=red))
    # a vector is constant when its spread is at rounding level of its magnitude
    scale_t = np.abs(t).max(axis=red) + 1e-300
    scale_p = np.abs(p).max(axis=red) + 1e-300
    const = (np.abs(tc).max(axis=red) <= 1e-12 * scale_t) | (
        np.abs(pc).max(axis=red) <= 1e-12 * scale_p
    )
    out = np.full(num.shape, np.nan)
    ok = ~const
    out[ok] = np.clip(num[ok] / den[ok], -1.0, 1.0)
    if const.any():
        warnings.warn(
            f"{int(const.sum())} constant input vector(s): correlation set to NaN",
            RuntimeWarning,
            stacklevel=3,
        )
    return out


@_documented
def pearson(truth: ArrayLike, prediction: ArrayLike, *, axis: Axis = None) -> float | np.ndarray:
    """Pearson correlation ``cov(t, p) / (sd(t) sd(p))``; in [-1, 1], higher is better.

    NaN (with one ``RuntimeWarning`` per call) for a constant vector: one whose largest
    deviation from its mean is at most 1e-12 of its largest absolute value. At least 2
    values along the reduced axis.
    Returns
    -------
    A float with ``axis=None``, else an array of one value per row (``axis=1``) or per
    column (``axis=0``).
    """
    t, p, red = _pair(truth, prediction, axis)
    return _out(_corr(t, p, red), axis)


@_documented
def spearman(truth: ArrayLike, prediction: ArrayLike, *, axis: Axis = None) -> float | np.ndarray:
    """Spearman correlation: Pearson correlation of the ranks along the reduced axis (ties
    get their average rank); in [-1, 1], higher is better; NaN (with a
    ``RuntimeWarning``) for a constant vector.
    Returns
    -------
    A float with ``axis=None``, else an array of one value per row (``axis=1``) or per
    column (``axis=0``).
    """
    t, p, red = _pair(truth, prediction, axis)
    return _out(_corr(rankdata(t, axis=red), rankdata(p, axis=red), red), axis)
