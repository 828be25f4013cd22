"""Perturbation-response metrics and the one rule for control cells.

Control rule (used by every metric here and by :func:`score_perturbation`)
--------------------------------------------------------------------------
The control profile of a perturbation is :func:`control_mean`: the per-gene arithmetic
mean, in the space being scored (``.X`` or ``layer``, no further transformation), over
the cells whose ``obs["perturbation"]`` is ``"control"``. When ``groupby`` is given
(e.g. ``"cell_type"`` or ``"batch"``), only the control cells of the same group value
as the perturbed cells are averaged, and each (perturbation, group) is scored on its own.
A group without control cells is an error. The vector metrics below take this control
profile as their ``control`` argument.

Profiles (``true``, ``pred``, ``control``) are 1-D vectors over the same genes, in the same
order: mean expression of the perturbed cells, mean of the predicted cells, control mean.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from .._errors import ValidationError
from .._utils import doc_params
from ..data import CONTROL, PERTURBATION_KEY, select_matrix
from ._checks import GeneSubset, as_float_array, check_finite, check_same_shape
from ._regression import mse, pearson

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "control_mean",
    "de_fdp",
    "de_recall",
    "direction_agreement",
    "l2_top_expressed",
    "mean_profiles",
    "mse_top_de",
    "pearson_delta",
    "top_changed_genes",
]

ALL_GROUP = "all"
#: A predicted change below this share of the control's scale is float round-off.
NO_CHANGE_TOL = 1e-6

#: Parameters shared by the profile metrics (1-D gene vectors in one gene order).
PROFILE_PARAMS = {
    "true": "Observed mean profile of the perturbed cells (one value per gene), finite.",
    "pred": "Predicted mean profile, the same genes in the same order.",
    "control": "Control mean profile (:func:`control_mean`), the same genes.",
    "de_genes": (
        "The genes scored: names (with ``genes``), positions or a boolean mask; ``None``: "
        "the ``k`` genes with the largest ``|true - control|`` (:func:`top_changed_genes`)."
    ),
    "genes": "Gene names in the profiles' order (needed only when ``de_genes`` holds names).",
    "groupby": (
        "``obs`` column (cell type, batch) whose values are scored separately, each "
        "against its own control cells; ``None``: one group, ``all``."
    ),
}
_documented = doc_params(**PROFILE_PARAMS)


def _profiles(true: Any, pred: Any, control: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = as_float_array(true, "true")
    p = as_float_array(pred, "pred")
    c = as_float_array(control, "control")
    check_same_shape(t, p, ("true", "pred"))
    if t.ndim != 1:
        raise ValidationError(f"profiles must be 1-D gene vectors, got shape {t.shape}")
    check_same_shape(t, c, ("true", "control"))
    for arr, name in ((t, "true"), (p, "pred"), (c, "control")):
        check_finite(arr, name)
    return t, p, c


def _gene_index(de_genes: Any, n: int, genes: Sequence[str] | None) -> np.ndarray:
    arr = np.asarray(de_genes)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValidationError(f"boolean de_genes must have length {n}, got {arr.shape}")
        return np.flatnonzero(arr)
    if arr.size and np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() >= n:
            raise ValidationError(f"de_genes indices out of range [0, {n})")
        return arr.astype(int)
    if genes is None:
        raise ValidationError("de_genes given as names: pass genes= (the gene order)")
    lookup = {g: i for i, g in enumerate(genes)}
    missing = [g for g in arr.tolist() if g not in lookup]
    if missing:
        raise ValidationError(f"de_genes not among the genes: {missing[:10]}")
    return np.array([lookup[g] for g in arr.tolist()], dtype=int)


@_documented
def top_changed_genes(profile: ArrayLike, control: ArrayLike, *, k: int = 20) -> np.ndarray:
    """Indices of the ``k`` genes with the largest ``|profile - control|``.

    Ties are broken by gene order (stable sort); ``k`` larger than the number of genes
    gives all genes. This is the default DE-gene set of the metrics below.

    Parameters
    ----------
    profile
        A mean profile (one value per gene), e.g. the observed perturbed cells' mean.
    k
        Number of genes (at least 1).

    Returns
    -------
    Gene positions, the most changed first.
    """
    d = np.abs(as_float_array(profile, "profile") - as_float_array(control, "control"))
    if k < 1:
        raise ValidationError(f"k must be >= 1, got {k}")
    return np.argsort(-d, kind="stable")[:k]


@_documented
def pearson_delta(
    true_pert: ArrayLike, pred_pert: ArrayLike, control: ArrayLike
) -> float | np.ndarray:
    """Pearson correlation of predicted and true change from control.

    ``pearson(true_pert - control, pred_pert - control)`` over all genes. 2-D inputs
    (perturbations x genes, with a 1-D or matching 2-D control) give one value per row.
    NaN when either change is constant, and — by definition — when the predicted change
    is zero to float round-off (``max |pred - control| <= 1e-6 max |control|``, e.g. the
    ``no_change`` baseline): a constant zero change has no correlation.

    Parameters
    ----------
    true_pert
        Observed mean profile (genes), or perturbations x genes.
    pred_pert
        Predicted profile(s), the shape of ``true_pert``.
    control
        Control mean profile (genes), or one per row of ``true_pert``.

    Returns
    -------
    Pearson-delta in [-1, 1], higher is better (``METRIC_SPECS["pearson_delta"]``): a
    float for 1-D inputs, one value per row for 2-D inputs.
    """
    t = as_float_array(true_pert, "true_pert")
    p = as_float_array(pred_pert, "pred_pert")
    c = as_float_array(control, "control")
    check_same_shape(t, p, ("true_pert", "pred_pert"))
    if c.shape != t.shape and c.shape != t.shape[-1:]:
        raise ValidationError(f"control shape {c.shape} does not match profiles {t.shape}")
    out = pearson(t - c, p - c, axis=None if t.ndim == 1 else 1)
    scale = np.maximum(np.abs(c).max(axis=-1), 1e-300)
    flat = np.abs(p - c).max(axis=-1) <= NO_CHANGE_TOL * scale
    if t.ndim == 1:
        return float("nan") if bool(flat) else float(out)
    return np.where(flat, np.nan, out)


@_documented
def mse_top_de(
    true: ArrayLike,
    pred: ArrayLike,
    control: ArrayLike,
    *,
    de_genes: GeneSubset | None = None,
    k: int = 20,
    genes: Sequence[str] | None = None,
) -> float:
    """Mean squared error of ``pred`` vs ``true`` over the DE genes.

    DE genes are ``de_genes`` (names with ``genes=``, indices, or a boolean mask) or, when
    not given, the ``k`` genes with the largest absolute true change ``|true - control|``
    (:func:`top_changed_genes`).

    Parameters
    ----------
    k
        Size of the default DE set (ignored when ``de_genes`` is given).

    Returns
    -------
    ``mean((pred_g - true_g)^2)`` over the DE genes ``g``, in [0, inf), lower is better
    (``METRIC_SPECS["mse_top20_de"]`` with ``k = 20``).
    """
    t, p, c = _profiles(true, pred, control)
    idx = top_changed_genes(t, c, k=k) if de_genes is None else _gene_index(de_genes, len(t), genes)
    if len(idx) == 0:
        raise ValidationError("no DE genes to score")
    return float(mse(t[idx], p[idx]))


@_documented
def l2_top_expressed(
    true: ArrayLike, pred: ArrayLike, control: ArrayLike, *, k: int = 1000
) -> float:
    """Euclidean distance ``||pred - true||_2`` over the top-``k`` expressed genes.

    The genes are the ``k`` with the highest control mean (ties by gene order; all genes
    when ``k`` exceeds their number), so the gene set is the same for every perturbation
    and does not depend on the prediction.

    Parameters
    ----------
    k
        Number of most expressed genes (at least 1).

    Returns
    -------
    The distance, in [0, inf), lower is better (``METRIC_SPECS["l2"]`` with ``k = 1000``).
    """
    t, p, c = _profiles(true, pred, control)
    if k < 1:
        raise ValidationError(f"k must be >= 1, got {k}")
    idx = np.argsort(-c, kind="stable")[:k]
    return float(np.sqrt(((p[idx] - t[idx]) ** 2).sum()))


@_documented
def direction_agreement(
    true: ArrayLike,
    pred: ArrayLike,
    control: ArrayLike,
    *,
    de_genes: GeneSubset | None = None,
    k: int | None = 20,
    genes: Sequence[str] | None = None,
) -> float:
    """Fraction of genes whose predicted change has the sign of the true change.

    ``mean(sign(pred - control) == sign(true - control))`` over the DE genes
    (``de_genes``, or the top-``k`` by ``|true - control|``; ``k=None`` uses all genes).
    A gene with no change on both sides agrees (sign 0 == 0).

    Parameters
    ----------
    k
        Size of the default DE set (ignored when ``de_genes`` is given); ``None``: all
        genes.

    Returns
    -------
    The share of agreeing genes, in [0, 1], higher is better
    (``METRIC_SPECS["direction_agreement"]``).
    """
    t, p, c = _profiles(true, pred, control)
    if de_genes is not None:
        idx = _gene_index(de_genes, len(t), genes)
    elif k is None:
        idx = np.arange(len(t))
    else:
        idx = top_changed_genes(t, c, k=k)
    if len(idx) == 0:
        raise ValidationError("no genes to score")
    return float(np.mean(np.sign(p[idx] - c[idx]) == np.sign(t[idx] - c[idx])))


def _as_set(x: Collection[Any], name: str) -> set[Any]:
    if isinstance(x, str):
        raise ValidationError(f"{name} must be a collection of genes, not a string")
    return set(x)


_DE_SETS = {
    "true_de": "The true DE genes ``T`` (any collection of gene names; not a string).",
    "pred_de": "The predicted DE genes ``P`` (any collection of gene names; not a string).",
}


@doc_params(**_DE_SETS)
def de_recall(true_de: Collection[Hashable], pred_de: Collection[Hashable]) -> float:
    """Share of true DE genes that are predicted DE: ``|T ∩ P| / |T|`` (NaN if T empty).

    Returns
    -------
    DE recall in [0, 1], higher is better (``METRIC_SPECS["de_recall"]``).
    """
    t, p = _as_set(true_de, "true_de"), _as_set(pred_de, "pred_de")
    return float(len(t & p) / len(t)) if t else float("nan")


@doc_params(**_DE_SETS)
def de_fdp(true_de: Collection[Hashable], pred_de: Collection[Hashable]) -> float:
    """False discovery proportion ``|P \\ T| / |P|``; 0 when nothing is predicted.

    Returns
    -------
    The FDP in [0, 1], lower is better (``METRIC_SPECS["de_fdp"]``).
    """
    t, p = _as_set(true_de, "true_de"), _as_set(pred_de, "pred_de")
    return float(len(p - t) / len(p)) if p else 0.0


def _matrix(adata: AnnData, layer: str | None) -> tuple[Any, pd.Index]:
    # the one layer rule: None = X, a layer, "raw" = .raw (with its own genes)
    x, genes = select_matrix(adata, layer=layer)
    return x, genes.astype(str)


def _mean_rows(x: Any, mask: np.ndarray) -> np.ndarray:
    sub = x[np.flatnonzero(mask)]
    if sparse.issparse(sub):
        return np.asarray(sub.mean(axis=0), dtype=np.float64).ravel()
    return np.asarray(sub, dtype=np.float64).mean(axis=0)


def _obs_column(adata: AnnData, key: str) -> np.ndarray:
    if key not in adata.obs:
        raise ValidationError(f"adata.obs has no column {key!r}")
    return adata.obs[key].astype(str).to_numpy()


@_documented
def control_mean(
    adata: AnnData,
    *,
    groupby: str | None = None,
    perturbation_key: str = PERTURBATION_KEY,
    layer: str | None = None,
) -> pd.DataFrame:
    """Mean control profile (the one control rule of :mod:`vc.metrics`).

    Parameters
    ----------
    adata
        Cells x genes with ``obs[perturbation_key]``; not modified.
    groupby
        Optional ``obs`` column (cell type, batch): one control mean per group value.
    perturbation_key
        Column holding ``"control"`` / ``"GENE"`` / ``"A+B"`` labels.
    layer
        Layer to average (default ``.X``).

    Returns
    -------
    DataFrame groups x genes (a single row ``"all"`` when ``groupby`` is None).
    """
    labels = _obs_column(adata, perturbation_key)
    is_ctrl = labels == CONTROL
    if not is_ctrl.any():
        raise ValidationError(f"no {CONTROL!r} cells in adata.obs[{perturbation_key!r}]")
    x, genes = _matrix(adata, layer)
    if groupby is None:
        return pd.DataFrame([_mean_rows(x, is_ctrl)], index=[ALL_GROUP], columns=genes)
    groups = _obs_column(adata, groupby)
    values = sorted(set(groups))
    lacking = [g for g in values if not (is_ctrl & (groups == g)).any()]
    if lacking:
        raise ValidationError(f"no control cells for {groupby} = {lacking[:10]}")
    rows = [_mean_rows(x, is_ctrl & (groups == g)) for g in values]
    return pd.DataFrame(rows, index=values, columns=genes)


@_documented
def mean_profiles(
    adata: AnnData,
    *,
    groupby: str | None = None,
    perturbation_key: str = PERTURBATION_KEY,
    layer: str | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Mean profile and cell count of every (perturbation, group), controls included.

    Parameters
    ----------
    adata
        Cells x genes with ``obs[perturbation_key]``; not modified.
    groupby
        ``obs`` column (cell type, batch): one profile per (perturbation, group value);
        ``None``: one group, ``"all"``.
    perturbation_key
        ``obs`` column holding the ``"control"`` / ``"GENE"`` / ``"A+B"`` labels.
    layer
        Matrix averaged, as :func:`control_mean` (default ``.X``, no transformation).

    Returns
    -------
    ``(profiles, counts)``: a DataFrame indexed by ``(perturbation, group)`` (group
    ``"all"`` when ``groupby`` is None), sorted, with genes as columns, and the matching
    cell counts (a Series).
    """
    labels = _obs_column(adata, perturbation_key)
    groups = _obs_column(adata, groupby) if groupby else np.full(len(labels), ALL_GROUP)
    x, genes = _matrix(adata, layer)
    keys = pd.MultiIndex.from_arrays([labels, groups], names=["perturbation", "group"])
    uniq = keys.unique().sort_values()
    rows, counts = [], []
    for key in uniq:
        mask = (labels == key[0]) & (groups == key[1])
        rows.append(_mean_rows(x, mask))
        counts.append(int(mask.sum()))
    return pd.DataFrame(rows, index=uniq, columns=genes), pd.Series(counts, index=uniq)
