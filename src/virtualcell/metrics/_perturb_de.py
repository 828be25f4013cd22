"""Differential expression as the Virtual Cell Challenge scores it (Wilcoxon + BH).

The Virtual Cell Challenge 2025 (Arc Institute's ``cell-eval`` with ``pdex``) calls a gene
differentially expressed (DE) in a perturbation when, comparing the perturbation's cells
with the control cells gene by gene,

* a two-sided Wilcoxon rank-sum (Mann-Whitney U) test, normal approximation with tie
  correction and continuity correction (scipy's ``mannwhitneyu(method="asymptotic")``),
* Benjamini-Hochberg-adjusted over the genes of that perturbation (``fdr``),

gives ``fdr < 0.05``. DE genes are ranked by ``|log2 fold change|`` (largest first, ties
in gene order), the fold change of the pseudobulks ``expm1(mean(X))`` of log1p data
(geometric mean back in count space), ``0/0 -> 0``.

Scores of a prediction for one perturbation (``T`` = true DE genes, ``P`` = DE genes of
the predicted cells vs the same control cells, both ranked):

* ``de_overlap`` (VCC "DE score", cell-eval ``overlap_at_N``): ``|T[:k] ∩ P[:k]| / k``
  with ``k = |T|`` (or ``min(k, |T|)`` when ``k`` is given); 0 when ``T`` is empty;
* recall ``|T ∩ P| / |T|`` and false discovery proportion ``|P \\ T| / |P|``:
  :func:`~virtualcell.metrics.de_recall`, :func:`~virtualcell.metrics.de_fdp`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtr
from scipy.stats import rankdata

from .._errors import ValidationError
from ._checks import as_float_array, check_finite

__all__ = ["DE_COLUMNS", "bh_adjust", "de_genes", "de_overlap", "de_test", "mann_whitney_u"]

#: Columns of :func:`de_test`'s table.
DE_COLUMNS = ("gene", "log2_fold_change", "statistic", "p_value", "fdr")


def _dense(x: Any, name: str) -> np.ndarray:
    arr = as_float_array(x.toarray() if sparse.issparse(x) else x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValidationError(f"{name} must be cells x genes, got shape {arr.shape}")
    check_finite(arr, name)
    return arr


def mann_whitney_u(x: Any, y: Any, *, use_continuity: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Mann-Whitney U test of every column of ``x`` against the same column of ``y``.

    Parameters
    ----------
    x, y
        Samples x features (cells x genes); same number of columns.
    use_continuity
        Subtract 1/2 from ``|U - n_x n_y / 2|`` (scipy's default).

    Returns
    -------
    ``(U_x, p)``: the U statistic of ``x`` and the two-sided p-value per column, by the
    normal approximation with tie correction (equal to
    ``scipy.stats.mannwhitneyu(x, y, method="asymptotic")``); a column whose values are
    all equal gets ``p = 1``.
    """
    a, b = _dense(x, "x"), _dense(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValidationError(f"x and y differ in number of columns: {a.shape[1]} vs {b.shape[1]}")
    n1, n2 = a.shape[0], b.shape[0]
    if n1 == 0 or n2 == 0:
        raise ValidationError("both samples need at least one row")
    both = np.vstack([a, b])
    n = n1 + n2
    ranks = rankdata(both, axis=0)  # average ranks of ties
    s = np.sort(both, axis=0)
    new_run = np.ones_like(s, dtype=bool)
    new_run[1:] = s[1:] != s[:-1]
    n_cols = s.shape[1]
    run_id = (np.cumsum(new_run, axis=0) - 1) + (np.arange(n_cols) * n)[None, :]
    count = np.bincount(run_id.ravel(), minlength=n * n_cols).astype(np.float64)
    tie_term = (count**3 - count).reshape(n_cols, n).sum(axis=1)
    r1 = ranks[:n1].sum(axis=0)
    u1 = r1 - n1 * (n1 + 1) / 2.0
    u = np.maximum(u1, n1 * n2 - u1)
    mu = n1 * n2 / 2.0
    s2 = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else np.zeros(n_cols)
    num = u - mu - (0.5 if use_continuity else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = num / np.sqrt(s2)
    p = np.where(s2 > 0, np.clip(2.0 * ndtr(-z), 0.0, 1.0), 1.0)
    return u1, p


def bh_adjust(p_values: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (``statsmodels`` ``fdr_bh``): sorted
    ``p_(i) m / i``, made monotone from the largest down, capped at 1."""
    p = as_float_array(p_values, "p_values").ravel()
    check_finite(p, "p_values")
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def de_test(
    perturbed: Any,
    control: Any,
    *,
    genes: Sequence[str] | None = None,
    is_log1p: bool = True,
) -> pd.DataFrame:
    """Wilcoxon rank-sum DE test of perturbed cells against control cells, per gene.

    Parameters
    ----------
    perturbed, control
        Cells x genes matrices (dense or sparse) in the same gene order.
    genes
        Gene names (default ``"0", "1", ...``).
    is_log1p
        The values are ``log1p`` expression: pseudobulks are ``expm1(mean(X))``
        (cell-eval's default); otherwise ``expm1(mean(log1p(X)))``.

    Returns
    -------
    DataFrame with columns :data:`DE_COLUMNS` (one row per gene, in gene order):
    ``log2_fold_change`` = ``log2(bulk_perturbed / bulk_control)`` (``0/0 -> 0``,
    ``±inf`` when one side is 0), ``statistic`` = U of the perturbed cells, ``p_value``
    from :func:`mann_whitney_u`, ``fdr`` = :func:`bh_adjust` of the p-values.
    """
    a, b = _dense(perturbed, "perturbed"), _dense(control, "control")
    if genes is None:
        genes = [str(i) for i in range(a.shape[1])]
    genes = [str(g) for g in genes]
    if len(genes) != a.shape[1]:
        raise ValidationError(f"{len(genes)} gene names for {a.shape[1]} columns")
    u, p = mann_whitney_u(a, b)
    if is_log1p:
        bulk_a, bulk_b = np.expm1(a.mean(axis=0)), np.expm1(b.mean(axis=0))
    else:
        bulk_a, bulk_b = np.expm1(np.log1p(a).mean(axis=0)), np.expm1(np.log1p(b).mean(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        lfc = np.log2(bulk_a / bulk_b)
    lfc[np.isnan(lfc)] = 0.0
    return pd.DataFrame(
        {"gene": genes, "log2_fold_change": lfc, "statistic": u, "p_value": p, "fdr": bh_adjust(p)}
    )


def de_genes(table: pd.DataFrame, *, fdr_threshold: float = 0.05) -> list[str]:
    """Significant genes of a :func:`de_test` table (``fdr < fdr_threshold``), ranked by
    ``|log2_fold_change|`` (largest first; ties keep the table's gene order)."""
    missing = {"gene", "log2_fold_change", "fdr"} - set(table.columns)
    if missing:
        raise ValidationError(f"DE table lacks column(s) {sorted(missing)}")
    sig = table[table["fdr"].to_numpy(dtype=float) < fdr_threshold]
    order = np.argsort(-np.abs(sig["log2_fold_change"].to_numpy(dtype=float)), kind="stable")
    return [str(g) for g in sig["gene"].to_numpy()[order]]


def de_overlap(true_de: Sequence[Any], pred_de: Sequence[Any], *, k: int | None = None) -> float:
    """Overlap of ranked DE gene lists (VCC DE score, cell-eval ``overlap_at_N``).

    ``|T[:k] ∩ P[:k]| / k`` where ``k = |T|`` when not given, else ``min(k, |T|)``;
    0.0 when ``k`` is 0 (no true DE genes). ``T`` and ``P`` are ranked lists (most
    changed first), e.g. from :func:`de_genes`.
    """
    if isinstance(true_de, str) or isinstance(pred_de, str):
        raise ValidationError("DE gene lists must be sequences of genes, not strings")
    t, p = list(true_de), list(pred_de)
    if k is not None and k < 1:
        raise ValidationError(f"k must be >= 1, got {k}")
    k_eff = len(t) if k is None else min(k, len(t))
    if k_eff == 0:
        return 0.0
    return len(set(t[:k_eff]) & set(p[:k_eff])) / k_eff
