"""All perturbation metrics for every perturbation in one table.

* :func:`score_profiles` — the per-condition metrics of ``vc.perturb.evaluate`` and
  ``vc.perturb.score`` from mean profiles (conditions x genes), implemented once here.
  By default every gene of the condition (``A`` and ``B`` of ``A+B``) is left out of every
  metric except ``target_abs_error``, which scores only those genes (definitions in
  ``docs/metrics.md``).
* :func:`score_perturbation` — the same family from two AnnData with a shared control.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data import CONTROL, PERTURBATION_KEY
from ._checks import as_float_array
from ._perturb_scores import (
    centroid_accuracy,
    discrimination_score,
    is_no_change,
    mae,
    pearson_delta_top_de,
    target_abs_error,
    target_mask,
)
from ._perturbation import (
    ALL_GROUP,
    control_mean,
    de_fdp,
    de_recall,
    direction_agreement,
    l2_top_expressed,
    mean_profiles,
    mse_top_de,
    pearson_delta,
    top_changed_genes,
)
from ._regression import mse, pearson

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["PROFILE_METRICS", "score_perturbation", "score_profiles"]

#: Columns of :func:`score_profiles` (after ``perturbation``), in order.
PROFILE_METRICS = (
    "pearson_delta",
    "pearson_delta_top20_de",
    "mse",
    "mae",
    "mse_top20_de",
    "l2",
    "direction_agreement",
    "target_abs_error",
    "pds",
    "centroid_accuracy",
    "pds_targets_out",
)


def score_profiles(
    true: Any,
    pred: Any,
    control: Any,
    *,
    labels: Sequence[str],
    genes: Sequence[str],
    pred_control: Any = None,
    include_targets: bool = False,
) -> pd.DataFrame:
    """Per-condition perturbation metrics of predicted vs true mean profiles.

    Parameters
    ----------
    true, pred
        Conditions x genes mean profiles, row ``i`` of both = condition ``labels[i]``.
    control
        True control mean (genes).
    labels, genes
        Condition labels (``A``, ``A+B``) and gene names (the columns).
    pred_control
        Control mean of the prediction's own file (cell-eval's convention: a predicted
        change is ``pred - pred_control``); default ``control``.
    include_targets
        Keep the perturbed genes in every metric (the numbers before target exclusion).

    Returns
    -------
    DataFrame, one row per condition: ``perturbation`` and :data:`PROFILE_METRICS`.
    With ``T_i`` = genes of condition ``i`` and ``K_i`` = all other genes (all genes with
    ``include_targets``): ``pearson_delta`` = Pearson of the true and predicted changes
    over ``K_i``; ``pearson_delta_top20_de``
    the same over the 20 genes of ``K_i`` with the largest ``|true - control|``
    (``D_i``); ``mse``, ``mae`` over ``K_i``; ``mse_top20_de`` over ``D_i``; ``l2`` =
    ``||pred - true||_2`` over the 1,000 genes of ``K_i`` with the highest control mean;
    the correlations of a condition whose predicted change is zero to round-off
    (:func:`is_no_change`) are 0 when other conditions have a predicted change and NaN
    when none has (a prediction of no change anywhere has no correlation, by definition);
    ``direction_agreement`` = share of ``D_i`` where the predicted change has the true
    sign; ``target_abs_error`` = mean over the measured genes of ``T_i`` of ``|predicted
    change - true change|`` (NaN when none is measured); ``pds`` (L1, ``T_i`` always left
    out, as in cell-eval), ``centroid_accuracy`` (Euclidean over ``K_i``) and
    ``pds_targets_out`` (``pds`` with the genes of every condition's ``T`` left out of every
    row: a prediction equal for all conditions scores chance) among all conditions (NaN
    with fewer than 2). Direction and bound of every column:
    :data:`~virtualcell.metrics.METRIC_SPECS` (the errors ``mse``, ``mae``,
    ``mse_top20_de``, ``l2``, ``target_abs_error`` are in [0, inf), lower is better; the
    others at most 1, higher is better).
    """
    import warnings

    t = as_float_array(true, "true")
    p = as_float_array(pred, "pred")
    c = as_float_array(control, "control")
    if t.ndim != 2 or p.shape != t.shape or c.shape != t.shape[1:]:
        raise ValidationError(
            f"true/pred must be conditions x genes and control genes: got {t.shape}, "
            f"{p.shape}, {c.shape}"
        )
    if len(labels) != t.shape[0] or len(genes) != t.shape[1]:
        raise ValidationError(
            f"{len(labels)} labels / {len(genes)} genes for profiles of shape {t.shape}"
        )
    pc = c if pred_control is None else as_float_array(pred_control, "pred_control")
    if pc.shape != c.shape:
        raise ValidationError(f"pred_control has shape {pc.shape}, control {c.shape}")
    # the prediction moved onto the true control: its change is pred - pred_control
    shifted = p if pred_control is None else p - pc[None, :] + c[None, :]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, label in enumerate(labels):
            free = target_mask(label, genes)
            keep = np.ones_like(free) if include_targets else free
            tk, pk, sk, ck = t[i, keep], p[i, keep], shifted[i, keep], c[keep]
            de = top_changed_genes(tk, ck, k=20)
            rows.append(
                {
                    "perturbation": str(label),
                    "pearson_delta": float(pearson_delta(tk, sk, ck)),
                    "pearson_delta_top20_de": pearson_delta_top_de(tk, sk, ck, de_genes=de)
                    if len(de) >= 2
                    else float("nan"),
                    "mse": float(mse(tk, pk)),
                    "mae": float(mae(tk, pk)),
                    "mse_top20_de": mse_top_de(tk, pk, ck, de_genes=de),
                    "l2": l2_top_expressed(tk, pk, ck, k=1000),
                    "direction_agreement": direction_agreement(tk, sk, ck, de_genes=de),
                    "target_abs_error": target_abs_error(
                        t[i], p[i], c, targets=~free, pred_control=pc
                    ),
                }
            )
    ranked = ("pds", "centroid_accuracy", "pds_targets_out")  # among all conditions
    table = pd.DataFrame(
        rows, columns=["perturbation", *(m for m in PROFILE_METRICS if m not in ranked)]
    )
    # a zero predicted change has no correlation: NaN when the prediction changes no
    # condition at all (no_change), else 0 for those conditions, so that predicting no
    # change for the hard conditions cannot raise a method's mean
    flat = np.array([is_no_change(shifted[i], c) for i in range(len(labels))], dtype=bool)
    if flat.any() and not flat.all():
        table.loc[flat, ["pearson_delta", "pearson_delta_top20_de"]] = 0.0
    if len(labels) >= 2:
        table["pds"] = discrimination_score(
            t, shifted, control=c, labels=list(labels), genes=list(genes), metric="l1"
        )
        table["centroid_accuracy"] = centroid_accuracy(
            t - c, shifted - c, labels=list(labels), genes=list(genes),
            exclude_target=not include_targets,
        )  # fmt: skip
        free = np.logical_and.reduce([target_mask(lab, genes) for lab in labels])
        table["pds_targets_out"] = discrimination_score(
            t, shifted, control=c, labels=list(labels), genes=list(genes), metric="l1",
            all_targets=True,
        ) if free.any() else np.nan  # fmt: skip
    else:
        table["pds"] = np.nan
        table["centroid_accuracy"] = np.nan
        table["pds_targets_out"] = np.nan
    return table


def _predicted_profiles(
    predicted: AnnData | pd.DataFrame,
    genes: pd.Index,
    groupby: str | None,
    perturbation_key: str,
) -> pd.DataFrame:
    if isinstance(predicted, pd.DataFrame):
        table = predicted.copy()
        if not isinstance(table.index, pd.MultiIndex):
            if groupby is not None:
                raise ValidationError(
                    "with groupby, a predicted DataFrame needs a (perturbation, group) index"
                )
            table.index = pd.MultiIndex.from_arrays(
                [table.index.astype(str), [ALL_GROUP] * len(table)],
                names=["perturbation", "group"],
            )
    else:
        table, _ = mean_profiles(predicted, groupby=groupby, perturbation_key=perturbation_key)
    table.columns = table.columns.astype(str)
    missing = genes.difference(table.columns)
    if len(missing):
        raise ValidationError(f"predictions lack {len(missing)} gene(s): {list(missing[:10])}")
    return table.loc[:, genes]


def score_perturbation(
    adata: AnnData,
    predicted: AnnData | pd.DataFrame,
    *,
    groupby: str | None = None,
    perturbation_key: str = PERTURBATION_KEY,
    layer: str | None = None,
    k_de: int = 20,
    k_expressed: int = 1000,
    true_de: Mapping[str, Collection[str]] | None = None,
    predicted_de: Mapping[str, Collection[str]] | None = None,
) -> pd.DataFrame:
    """Score predicted perturbation responses against observed ones, per perturbation.

    Parameters
    ----------
    adata
        Observed cells with ``obs[perturbation_key]``, including control cells.
    predicted
        Predicted cells (AnnData with the same ``obs`` columns; their mean is used) or a
        DataFrame of mean predicted profiles, perturbations x genes (index
        ``(perturbation, group)`` when ``groupby`` is given). Every predicted perturbation
        (``"control"`` excepted) is scored and must have observed cells; observed
        perturbations without a prediction are left out.
    groupby
        Optional ``obs`` column (cell type / batch): see the control rule in
        :func:`control_mean`.
    perturbation_key, layer
        Label column and expression layer (default ``.X``).
    k_de
        Size of the default DE-gene sets (top genes by ``|mean - control|``). The true
        DE set is also the gene set of ``mse_top_de`` and ``direction_agreement``.
    k_expressed
        Genes of :func:`l2_top_expressed`.
    true_de, predicted_de
        Optional DE-gene sets per perturbation (e.g. from a statistical test); when
        absent the top-``k_de`` genes by absolute change of the observed / predicted mean
        are used (then, both sets having ``k_de`` genes, ``de_fdp = 1 - de_recall``).

    Returns
    -------
    DataFrame with one row per (perturbation, group), sorted by both: ``perturbation``, ``group``,
    ``n_cells``, ``pearson_delta``, ``pearson``, ``mse``, ``mse_top_de``,
    ``l2_top_expressed``, ``direction_agreement``, ``de_recall``, ``de_fdp``.
    """
    genes = adata.var_names.astype(str)
    ctrl = control_mean(adata, groupby=groupby, perturbation_key=perturbation_key, layer=layer)
    observed, counts = mean_profiles(
        adata, groupby=groupby, perturbation_key=perturbation_key, layer=layer
    )
    pred_table = _predicted_profiles(predicted, genes, groupby, perturbation_key)
    keys = sorted(key for key in pred_table.index if key[0] != CONTROL)
    unknown = [key for key in keys if key not in observed.index]
    if unknown:
        raise ValidationError(f"predicted perturbations without observed cells: {unknown[:10]}")
    if not keys:
        raise ValidationError("no perturbation to score (predictions hold only controls)")
    rows = []
    for pert, group in keys:
        t = observed.loc[(pert, group)].to_numpy()
        p = pred_table.loc[(pert, group)].to_numpy(dtype=np.float64)
        c = ctrl.loc[group].to_numpy()
        t_de = (
            set(true_de[pert])
            if true_de and pert in true_de
            else set(genes[top_changed_genes(t, c, k=k_de)])
        )
        p_de = (
            set(predicted_de[pert])
            if predicted_de and pert in predicted_de
            else set(genes[top_changed_genes(p, c, k=k_de)])
        )
        unknown_de = sorted(map(str, t_de - set(genes)))
        if unknown_de:
            raise ValidationError(f"true_de[{pert!r}] names unknown genes: {unknown_de[:10]}")
        de_idx = np.flatnonzero(genes.isin(list(t_de)))
        rows.append(
            {
                "perturbation": pert,
                "group": group,
                "n_cells": int(counts.loc[(pert, group)]),
                "pearson_delta": pearson_delta(t, p, c),
                "pearson": pearson(t, p),
                "mse": mse(t, p),
                "mse_top_de": mse_top_de(t, p, c, de_genes=de_idx),
                "l2_top_expressed": l2_top_expressed(t, p, c, k=k_expressed),
                "direction_agreement": direction_agreement(t, p, c, de_genes=de_idx),
                "de_recall": de_recall(t_de, p_de),
                "de_fdp": de_fdp(t_de, p_de),
            }
        )
    return pd.DataFrame(rows)
