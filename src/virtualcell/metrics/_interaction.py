"""Genetic-interaction mode of a double perturbation from its expression profile.

Following Norman et al. (2019, *Science*), the change of a double perturbation ``A+B``
from control is fitted as a combination of the single changes (no intercept), over the
genes that are not themselves perturbed::

    delta_AB ≈ c_A delta_A + c_B delta_B          (least squares)

``magnitude = sqrt((c_A^2 + c_B^2) / 2)`` is 1 for an additive double (``c = (1, 1)``); the
mode is then

* ``synergy``      if ``magnitude > 1 + tolerance`` (the double does more than the sum),
* ``additive``     if ``1 / (1 + tolerance) <= magnitude <= 1 + tolerance``,
* ``buffering``    if ``suppression <= magnitude < 1 / (1 + tolerance)``,
* ``suppression``  if ``magnitude < suppression`` (the combination largely cancels the
  singles' effects).

Defaults ``tolerance = 0.25``, ``suppression = 0.5``. Norman's GI table gives
``ts_coef_first``/``ts_coef_second`` (Theil-Sen fits) for the same model, so the same rule
classifies its doubles (see ``vc.perturb.read_norman_gi``). For k > 2 genes the same
definitions hold with ``magnitude = sqrt(mean(c_i^2))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import ValidationError
from ._checks import as_float_array, check_finite

__all__ = ["INTERACTION_MODES", "interaction_fit", "interaction_mode", "mode_of_magnitude"]

#: The interaction modes, from most to least amplified.
INTERACTION_MODES = ("synergy", "additive", "buffering", "suppression")


def interaction_fit(
    double: Any,
    singles: Sequence[Any],
    *,
    control: Any = None,
    exclude: Any = None,
) -> dict[str, Any]:
    """Fit ``delta_double ≈ sum_i c_i delta_i`` (module docstring).

    Parameters
    ----------
    double
        Mean profile of the combination (genes).
    singles
        Mean profiles of its single perturbations (one vector per gene of the combination).
    control
        Control mean profile; deltas are taken from it (default: the inputs are deltas).
    exclude
        Gene indices (or a boolean mask) left out of the fit, e.g. the perturbed genes.

    Returns
    -------
    dict with ``coefficients`` (array), ``magnitude``, ``r2`` (share of ``|delta_double|^2``
    explained by the fit; NaN for a zero double) and ``n_genes`` used.
    """
    d = as_float_array(double, "double")
    if d.ndim != 1:
        raise ValidationError(f"double must be a 1-D gene vector, got shape {d.shape}")
    if len(singles) < 2:
        raise ValidationError("an interaction needs at least 2 single profiles")
    s = np.vstack([as_float_array(x, "singles") for x in singles])
    if s.shape[1] != d.shape[0]:
        raise ValidationError(f"singles have {s.shape[1]} genes, double has {d.shape[0]}")
    if control is not None:
        c = as_float_array(control, "control")
        if c.shape != d.shape:
            raise ValidationError(f"control shape {c.shape} does not match {d.shape}")
        d, s = d - c, s - c[None, :]
    check_finite(d, "double")
    check_finite(s, "singles")
    keep = np.ones(d.shape[0], dtype=bool)
    if exclude is not None:
        ex = np.asarray(exclude)
        if ex.dtype == bool:
            keep &= ~ex
        else:
            keep[ex.astype(int)] = False
    d, s = d[keep], s[:, keep]
    coef, *_ = np.linalg.lstsq(s.T, d, rcond=None)
    ss = float(d @ d)
    r2 = 1.0 - float(np.sum((d - s.T @ coef) ** 2)) / ss if ss > 0 else float("nan")
    return {
        "coefficients": coef,
        "magnitude": float(np.sqrt(np.mean(coef**2))),
        "r2": r2,
        "n_genes": int(keep.sum()),
    }


def mode_of_magnitude(
    magnitude: float, *, tolerance: float = 0.25, suppression: float = 0.5
) -> str:
    """The interaction mode of a fitted magnitude (module docstring); ``"additive"``
    for NaN (no measurable effect).

    Parameters
    ----------
    magnitude
        ``sqrt(mean(c_i^2))`` of the fitted coefficients (:func:`interaction_fit`).
    tolerance
        Band around 1 called additive: ``[1 / (1 + tolerance), 1 + tolerance]`` (> 0).
    suppression
        Below this magnitude the mode is ``suppression`` (in ``(0, 1 / (1 +
        tolerance))``).

    Returns
    -------
    One of :data:`INTERACTION_MODES`.
    """
    if tolerance <= 0 or not 0 < suppression < 1 / (1 + tolerance):
        raise ValidationError("need tolerance > 0 and 0 < suppression < 1 / (1 + tolerance)")
    m = float(magnitude)
    if np.isnan(m):
        return "additive"
    if m > 1 + tolerance:
        return "synergy"
    if m >= 1 / (1 + tolerance):
        return "additive"
    if m >= suppression:
        return "buffering"
    return "suppression"


def interaction_mode(
    double: Any,
    singles: Sequence[Any],
    *,
    control: Any = None,
    exclude: Any = None,
    tolerance: float = 0.25,
    suppression: float = 0.5,
) -> str:
    """Interaction mode (``synergy``/``additive``/``buffering``/``suppression``) of a double
    perturbation: :func:`interaction_fit` then :func:`mode_of_magnitude`.

    Parameters
    ----------
    double
        Mean profile of the combination (genes).
    singles
        Mean profiles of its single perturbations (one vector per gene of the combination).
    control
        Control mean profile; deltas are taken from it (default: the inputs are deltas).
    exclude
        Gene positions (or a boolean mask) left out of the fit, e.g. the perturbed genes.
    tolerance, suppression
        Thresholds of :func:`mode_of_magnitude`.

    Returns
    -------
    One of :data:`INTERACTION_MODES`.
    """
    fit = interaction_fit(double, singles, control=control, exclude=exclude)
    return mode_of_magnitude(fit["magnitude"], tolerance=tolerance, suppression=suppression)
