"""Perturbation scores that compare many perturbations at once, and DE-restricted errors.

``true`` and ``pred`` below are perturbations x genes matrices of mean profiles (row ``i``
of both is the same perturbation); ``control`` is the control mean profile (see the
control rule in :mod:`virtualcell.metrics._perturbation`).

* :func:`discrimination_score` — the Virtual Cell Challenge's perturbation
  discrimination score (cell-eval ``discrimination_score_l1``): for perturbation ``i``,
  the distances ``d_q = dist(pred_i - control, true_q - control)`` to every true
  perturbation ``q`` are sorted (ascending, stable); ``r_i`` is the 0-based position of
  ``q = i``; the score is ``1 - r_i / N`` (1 = the true perturbation is the closest,
  ``1/N`` = it is the farthest). By default the perturbation's own target gene(s) are left
  out of the distance (as cell-eval does). That leaves ``T_i`` out of row ``i``'s distance
  to its own truth but not ``T_q`` out of its distance to every other truth ``q``, where a
  knockout's own drop is usually the largest change: a prediction that is the same for
  every perturbation ranks ``true_i`` above chance. ``all_targets=True`` leaves the
  perturbed genes of *every* compared perturbation out of every row (one gene set for all
  rows: the metric ``pds_targets_out``), so such a prediction scores the chance value
  ``(N + 1) / (2N)`` exactly (without ties).
* :func:`centroid_accuracy` — Systema's centroid accuracy (Viñas Torné et al. 2025): the
  share of the other ``N - 1`` true profiles that are farther (Euclidean) from
  ``pred_i`` than ``true_i`` is. Euclidean distances do not change when every profile is
  shifted by the same reference, so this equals Systema's score on perturbation-specific
  effects (relative to the perturbed centroid).
* :func:`pearson_delta_top_de` — Pearson correlation of predicted and true change from
  control over the top-``k`` DE genes.
* :func:`mae` — mean absolute error.
* :func:`target_abs_error` — ``mean_{g in targets} |(pred_g - control_g) - (true_g -
  control_g)|``, the error of the perturbed gene(s) themselves (reported apart from the
  other metrics, which leave those genes out by default).
* :func:`target_mask` — which genes are not perturbed in a condition (``A+B`` -> every
  gene but ``A`` and ``B``): the gene set of the target-excluded metrics.

A predicted change that is zero to float round-off (``max |pred - control| <= 1e-6 *
max |control|``, e.g. the ``no_change`` baseline, whose control mean may be computed in
float32) has no correlation with anything: :func:`is_no_change` marks it and the
correlation metrics (``pearson_delta``, :func:`pearson_delta_top_de`) return NaN for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError
from .._utils import doc_params
from ..data import split_perturbation
from ._checks import as_float_array, check_finite, check_same_shape
from ._perturbation import NO_CHANGE_TOL, PROFILE_PARAMS, top_changed_genes
from ._regression import REGRESSION_PARAMS, _out, _pair, pearson

__all__ = [
    "centroid_accuracy",
    "discrimination_score",
    "is_no_change",
    "mae",
    "pearson_delta_top_de",
    "target_abs_error",
    "target_mask",
]


@doc_params(**PROFILE_PARAMS)
def is_no_change(pred: Any, control: Any) -> bool:
    """True when ``pred - control`` is zero up to float round-off (module docstring):
    ``max |pred - control| <= 1e-6 * max |control|`` (an empty profile counts as no
    change).

    Returns
    -------
    Whether the predicted change is zero to round-off.
    """
    p = as_float_array(pred, "pred")
    c = as_float_array(control, "control")
    scale = max(float(np.max(np.abs(c))) if c.size else 0.0, 1e-300)
    return bool(np.max(np.abs(p - c)) <= NO_CHANGE_TOL * scale) if p.size else True


def target_mask(label: str, genes: Sequence[str]) -> np.ndarray:
    """Boolean mask over ``genes``: True for the genes *not* perturbed in ``label``.

    Parameters
    ----------
    label
        A condition label in the package grammar (``A``, ``A+B``; ``control`` perturbs
        no gene).
    genes
        Gene names (the profiles' columns).

    Returns
    -------
    ``False`` at the perturbed genes of ``label`` that are measured, ``True`` elsewhere.
    """
    names = np.asarray([str(g) for g in genes])
    return ~np.isin(names, split_perturbation(str(label)))


@doc_params(**PROFILE_PARAMS)
def target_abs_error(
    true: Any, pred: Any, control: Any, *, targets: Any, pred_control: Any = None
) -> float:
    """Mean ``|(pred - pred_control) - (true - control)|`` over the ``targets`` genes.

    NaN when no target gene is measured (empty ``targets``).

    Parameters
    ----------
    targets
        Positions or a boolean mask of the perturbed gene(s) (e.g. ``~target_mask(...)``).
    pred_control
        Control mean of the prediction's own file (its change is ``pred - pred_control``);
        ``None``: ``control``.

    Returns
    -------
    The error in [0, inf), lower is better (``METRIC_SPECS["target_abs_error"]``).
    """
    t = as_float_array(true, "true")
    p = as_float_array(pred, "pred")
    c = as_float_array(control, "control")
    pc = c if pred_control is None else as_float_array(pred_control, "pred_control")
    check_same_shape(t, p, ("true", "pred"))
    check_same_shape(t, c, ("true", "control"))
    check_same_shape(t, pc, ("true", "pred_control"))
    arr = np.asarray(targets)
    idx = np.flatnonzero(arr) if arr.dtype == bool else arr.astype(int).ravel()
    if idx.size == 0:
        return float("nan")
    return float(np.mean(np.abs((p[idx] - pc[idx]) - (t[idx] - c[idx]))))


def _matrices(true: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = as_float_array(true, "true")
    p = as_float_array(pred, "pred")
    check_same_shape(t, p, ("true", "pred"))
    if t.ndim != 2:
        raise ValidationError(f"true and pred must be perturbations x genes, got shape {t.shape}")
    if t.shape[0] < 2:
        raise ValidationError("ranking scores need at least 2 perturbations")
    check_finite(t, "true")
    check_finite(p, "pred")
    return t, p


@doc_params(**REGRESSION_PARAMS)
def mae(truth: Any, prediction: Any, *, axis: Literal[0, 1] | None = None) -> float | np.ndarray:
    """Mean absolute error ``mean(|prediction - truth|)`` (``axis`` as in :func:`mse`);
    in [0, inf), lower is better (``METRIC_SPECS["mae"]``).

    Returns
    -------
    A float with ``axis=None``, else an array of one value per row (``axis=1``) or per
    column (``axis=0``).
    """
    t, p, red = _pair(truth, prediction, axis)
    return _out(np.mean(np.abs(p - t), axis=red), axis)


@doc_params(**PROFILE_PARAMS)
def pearson_delta_top_de(
    true: Any,
    pred: Any,
    control: Any,
    *,
    de_genes: Any = None,
    k: int = 20,
) -> float:
    """Pearson correlation of ``pred - control`` and ``true - control`` over DE genes.

    The genes are ``de_genes`` (indices or a boolean mask) or, by default, the ``k`` genes
    with the largest ``|true - control|`` (:func:`top_changed_genes`, ties by gene order).
    NaN when either change is constant over those genes, and when the predicted change
    is zero to round-off (:func:`is_no_change`).

    Parameters
    ----------
    de_genes
        Positions or a boolean mask of the genes scored (at least 2); ``None``: the top
        ``k`` by ``|true - control|``.
    k
        Size of the default DE set (ignored when ``de_genes`` is given).

    Returns
    -------
    The correlation in [-1, 1], higher is better
    (``METRIC_SPECS["pearson_delta_top20_de"]`` with ``k = 20``).
    """
    t = as_float_array(true, "true")
    p = as_float_array(pred, "pred")
    c = as_float_array(control, "control")
    check_same_shape(t, p, ("true", "pred"))
    check_same_shape(t, c, ("true", "control"))
    if t.ndim != 1:
        raise ValidationError(f"profiles must be 1-D gene vectors, got shape {t.shape}")
    if de_genes is None:
        idx = top_changed_genes(t, c, k=k)
    else:
        arr = np.asarray(de_genes)
        idx = np.flatnonzero(arr) if arr.dtype == bool else arr.astype(int)
    if len(idx) < 2:
        raise ValidationError("pearson_delta_top_de needs at least 2 DE genes")
    if is_no_change(p[idx], c[idx]):
        return float("nan")
    return float(pearson(t[idx] - c[idx], p[idx] - c[idx]))


def _target_masks(
    labels: Sequence[str] | None, genes: Sequence[str] | None, n: int, g: int, exclude: bool
) -> list[np.ndarray]:
    keep_all = np.ones(g, dtype=bool)
    if not exclude or labels is None or genes is None:
        return [keep_all] * n
    if len(labels) != n:
        raise ValidationError(f"{len(labels)} labels for {n} perturbations")
    if len(genes) != g:
        raise ValidationError(f"{len(genes)} gene names for {g} genes")
    names = np.asarray([str(x) for x in genes])
    return [~np.isin(names, split_perturbation(str(lab))) for lab in labels]


def discrimination_score(
    true: Any,
    pred: Any,
    *,
    control: Any = None,
    labels: Sequence[str] | None = None,
    genes: Sequence[str] | None = None,
    metric: Literal["l1", "l2", "cosine"] = "l1",
    exclude_target: bool = True,
    all_targets: bool = False,
) -> np.ndarray:
    """Perturbation discrimination score of every perturbation (VCC / cell-eval).

    Parameters
    ----------
    true, pred
        Perturbations x genes mean profiles, rows in the same order.
    control
        Control mean profile; the distances are between changes from it (it cancels out
        of ``l1``/``l2`` and is required for ``cosine``).
    labels, genes
        Perturbation labels (``A``, ``A+B``) and gene names; with ``exclude_target`` the
        perturbed gene(s) of each row are left out of its distances.
    metric
        ``l1`` (Manhattan, the VCC score), ``l2`` or ``cosine`` distance.
    exclude_target
        Leave each row's perturbed gene(s) out of its distances (needs ``labels`` and
        ``genes``; without them every gene counts).
    all_targets
        Leave the perturbed genes of all ``N`` perturbations out of every row's distances
        (needs ``labels`` and ``genes``; ``METRIC_SPECS["pds_targets_out"]``): a
        prediction that is the same for every perturbation then scores ``(N + 1) / (2N)``.

    Returns
    -------
    ``1 - r_i / N`` per perturbation (see the module docstring), in ``[1/N, 1]``, higher
    is better (``METRIC_SPECS["pds"]``: the mean over perturbations, ``l1``).
    """
    t, p = _matrices(true, pred)
    n, g = t.shape
    if control is not None:
        c = as_float_array(control, "control")
        if c.shape != (g,):
            raise ValidationError(f"control must have {g} genes, got shape {c.shape}")
        t, p = t - c, p - c
    elif metric == "cosine":
        raise ValidationError("the cosine discrimination score needs control=")
    if metric not in ("l1", "l2", "cosine"):
        raise ValidationError(f"metric must be 'l1', 'l2' or 'cosine', got {metric!r}")
    if all_targets:
        if labels is None or genes is None:
            raise ValidationError("all_targets needs labels= and genes=")
        masks = _target_masks(labels, genes, n, g, True)
        masks = [np.logical_and.reduce(masks)] * n
        if not masks[0].any():
            raise ValidationError("all_targets leaves no gene: every gene is perturbed")
    else:
        masks = _target_masks(labels, genes, n, g, exclude_target)
    out = np.empty(n)
    for i in range(n):
        m = masks[i]
        diff = t[:, m] - p[i, m][None, :]
        if metric == "l1":
            d = np.abs(diff).sum(axis=1)
        elif metric == "l2":
            d = np.sqrt((diff**2).sum(axis=1))
        else:
            a, b = t[:, m], p[i, m]
            den = np.linalg.norm(a, axis=1) * np.linalg.norm(b)
            with np.errstate(invalid="ignore", divide="ignore"):
                d = 1.0 - np.where(den > 0, a @ b / den, 0.0)
        rank = int(np.flatnonzero(np.argsort(d, kind="stable") == i)[0])
        out[i] = 1.0 - rank / n
    return out


def centroid_accuracy(
    true: Any,
    pred: Any,
    *,
    labels: Sequence[str] | None = None,
    genes: Sequence[str] | None = None,
    exclude_target: bool = True,
) -> np.ndarray:
    """Systema's centroid accuracy of every perturbation.

    For row ``i``: ``#{q != i : ||pred_i - true_q|| > ||pred_i - true_i||} / (N - 1)``
    (Euclidean). 1 when the prediction is closer to its own true profile than to every
    other perturbation's, 0 when it is the farthest. With ``labels`` and ``genes`` (and
    ``exclude_target``) the perturbed gene(s) of row ``i`` are left out of its distances,
    as in :func:`discrimination_score`; without them all genes count.

    Parameters
    ----------
    true, pred
        Perturbations x genes profiles (at least 2 rows), row ``i`` of both the same
        perturbation; pass changes from control or means alike (a common shift cancels).
    labels, genes
        Perturbation labels (``A``, ``A+B``) and gene names, for ``exclude_target``.
    exclude_target
        Leave each row's perturbed gene(s) out of its distances.

    Returns
    -------
    One value per perturbation in [0, 1], higher is better
    (``METRIC_SPECS["centroid_accuracy"]``: their mean).
    """
    t, p = _matrices(true, pred)
    n, g = t.shape
    masks = _target_masks(labels, genes, n, g, exclude_target)
    out = np.empty(n)
    for i in range(n):
        m = masks[i]
        d = np.sqrt(((t[:, m] - p[i, m][None, :]) ** 2).sum(axis=1))
        out[i] = (d > d[i]).sum() / (n - 1)
    return out
