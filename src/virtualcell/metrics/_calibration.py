"""Calibration of classifier confidence: reliability bins and expected calibration error.

A classifier gives each item a predicted label and a confidence in ``[0, 1]`` (usually
the largest class probability). It is *calibrated* when, among the items predicted with
confidence ``c``, a fraction ``c`` is correct (Guo et al. 2017).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._checks import as_float_array, check_finite, paired_labels

__all__ = ["ece", "reliability_bins"]


def _confidence(confidence: Any, n: int) -> np.ndarray:
    conf = as_float_array(confidence, "confidence")
    if conf.ndim != 1 or len(conf) != n:
        raise ValidationError(f"confidence must be 1-D with {n} values, got shape {conf.shape}")
    check_finite(conf, "confidence")
    if conf.min() < 0 or conf.max() > 1:
        raise ValidationError(
            f"confidence must lie in [0, 1], got values in [{conf.min():.4g}, {conf.max():.4g}]"
        )
    return conf


def reliability_bins(
    truth: Sequence[Any],
    prediction: Sequence[Any],
    *,
    confidence: Sequence[float] | np.ndarray,
    n_bins: int = 15,
) -> pd.DataFrame:
    """Reliability table: accuracy and mean confidence in equal-width confidence bins.

    Bin ``b`` (``b = 0 .. n_bins - 1``) holds the items with confidence in
    ``(b / n_bins, (b + 1) / n_bins]``; confidence 0 goes to bin 0.

    Parameters
    ----------
    truth, prediction
        True and predicted labels, equal length.
    confidence
        Confidence of each prediction, in ``[0, 1]``.
    n_bins
        Number of bins (at least 1).

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``lower``, ``upper``, ``n`` (items), ``confidence`` (mean
        confidence, NaN if empty), ``accuracy`` (fraction correct, NaN if empty).
    """
    t, p = paired_labels(truth, prediction, ("truth", "prediction"))
    conf = _confidence(confidence, len(t))
    if int(n_bins) < 1:
        raise ValidationError(f"n_bins must be >= 1, got {n_bins}")
    n_bins = int(n_bins)
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    correct = (t == p).astype(float)
    n = np.bincount(idx, minlength=n_bins).astype(float)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(n > 0, sum_conf / n, np.nan)
        acc = np.where(n > 0, sum_acc / n, np.nan)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "n": n.astype(int),
            "confidence": mean_conf,
            "accuracy": acc,
        }
    )


def ece(
    truth: Sequence[Any],
    prediction: Sequence[Any],
    *,
    confidence: Sequence[float] | np.ndarray,
    n_bins: int = 15,
) -> float:
    """Expected calibration error (Guo et al. 2017), equal-width bins.

    ``ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|`` over the bins of
    :func:`reliability_bins` (empty bins contribute 0). In [0, 1], lower is better,
    0 = perfectly calibrated (``METRIC_SPECS["ece"]``).

    Parameters
    ----------
    truth, prediction
        True and predicted labels, equal length.
    confidence
        Confidence of each prediction, in ``[0, 1]``.
    n_bins
        Number of equal-width bins on [0, 1] (at least 1).

    Returns
    -------
    The expected calibration error.
    """
    table = reliability_bins(truth, prediction, confidence=confidence, n_bins=n_bins)
    used = table["n"].to_numpy() > 0
    w = table["n"].to_numpy()[used] / table["n"].sum()
    gap = np.abs(table["accuracy"].to_numpy()[used] - table["confidence"].to_numpy()[used])
    return float((w * gap).sum())
