"""All perturbation metrics for every perturbation in one table."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data._conventions import CONTROL, PERTURBATION_KEY
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

__all__ = ["score_perturbation"]


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
