"""Baseline-normalised scores (the rule of Arc Institute's ``cell-eval``).

A model's metric value ``m`` is scored against a baseline's value ``b`` on the same
perturbations:

* metrics whose best value is 0 (errors: MSE, MAE, L2, FDP): ``1 - m / b``;
* metrics whose best value is 1 (scores: Pearson-delta, PDS, DE overlap, accuracies):
  ``(m - b) / (1 - b)``;

then, as cell-eval does, NaN becomes 0 and negative values are clipped to 0 (``clip``).
So 0 means "no better than the baseline" and 1 means "perfect"; without ``clip`` the
value is negative when the model is worse than the baseline.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._errors import ValidationError

__all__ = ["baseline_normalized"]


def baseline_normalized(
    value: Any,
    baseline: Any,
    *,
    best: Literal["zero", "one"],
    clip: bool = True,
) -> float | np.ndarray:
    """Score ``value`` relative to ``baseline`` with cell-eval's rule (module docstring):
    ``1 - value / baseline`` for errors, ``(value - baseline) / (1 - baseline)`` for
    scores.

    Parameters
    ----------
    value, baseline
        The model's and the baseline's metric values (numbers or arrays of equal shape).
    best
        ``"zero"`` for errors, ``"one"`` for scores bounded by 1.
    clip
        Replace NaN by 0 and clip below at 0 (cell-eval's ``score_agg_metrics``).

    Returns
    -------
    At most 1 (a perfect model), higher is better: 0 = no better than the baseline; with
    ``clip`` in [0, 1], without it negative when the model is worse. A float for scalar
    inputs, else an array of their shape.
    """
    m = np.asarray(value, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if m.shape != b.shape:
        raise ValidationError(f"value and baseline differ in shape: {m.shape} vs {b.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        if best == "zero":
            out = 1.0 - m / b
        elif best == "one":
            out = (m - b) / (1.0 - b)
        else:
            raise ValidationError(f"best must be 'zero' or 'one', got {best!r}")
    if clip:
        out = np.clip(np.nan_to_num(out, nan=0.0, posinf=np.inf, neginf=0.0), 0.0, None)
    return float(out) if out.ndim == 0 else out
