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

__all__ = [
    "DE_COLUMNS",
    "DEReference",
    "bh_adjust",
    "de_genes",
    "de_overlap",
    "de_test",
    "mann_whitney_u",
]

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
    ``p_(i) m / i``, made monotone from the largest down, capped at 1.

    Parameters
    ----------
    p_values
        The ``m`` p-values of one family (any shape, flattened), finite.

    Returns
    -------
    The adjusted p-values (FDR), 1-D, in the input order, in [0, 1].
    """
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


class DEReference:
    """The control side of :func:`de_test`, prepared once for many tests against it.

    ``DEReference(control, genes=genes).test(perturbed)`` gives the table of
    ``de_test(perturbed, control, genes=genes)`` (the same U statistics, tie terms,
    p-values and fold changes, exactly; a test checks it) without ranking
    ``perturbed + control`` again for every test: with many perturbations against tens
    of thousands of control cells that ranking was the whole cost of scoring.

    How: the control's non-zero values are replaced by integer codes that keep their
    order (``2k + 1`` for the ``k``-th distinct value; a perturbed value between two
    control values gets the even code between them), shifted by the gene's column, and
    sorted once into one array; zeros are counted per gene. For each run of equal values
    in a perturbed gene, ``#(control < v)`` and ``#(control == v)`` are then two
    ``searchsorted`` calls (or the zero count), ``U = sum(#(control < v) + #(control ==
    v) / 2)`` over the perturbed cells, and the tie term is the control's own plus, per
    run of ``c_p`` equal perturbed values, ``(c_p + c_c)^3 - (c_p + c_c) - (c_c^3 -
    c_c)`` with ``c_c = #(control == v)``. All sums are of integers and halves: exact.
    """

    def __init__(
        self, control: Any, *, genes: Sequence[str] | None = None, is_log1p: bool = True
    ) -> None:
        if sparse.issparse(control):
            m = sparse.csc_matrix(control, dtype=np.float64, copy=True)
        else:
            m = sparse.csc_matrix(_dense(control, "control"))
        check_finite(m.data, "control")
        m.eliminate_zeros()
        n2, n_genes = m.shape
        if n2 == 0:
            raise ValidationError("both samples need at least one row")
        names = [str(g) for g in genes] if genes is not None else [str(i) for i in range(n_genes)]
        if len(names) != n_genes:
            raise ValidationError(f"{len(names)} gene names for {n_genes} columns")
        self.genes, self.n_control, self.n_genes, self.is_log1p = names, n2, n_genes, is_log1p
        nnz = np.diff(m.indptr)
        cols = np.repeat(np.arange(n_genes, dtype=np.int64), nnz)
        data = m.data + 0.0
        # positive float32 values (counts scaled to log1p per 10,000 are) order like
        # their bit patterns: the code is the pattern itself, no lookup table needed
        self._bits = bool(
            data.size == 0 or (np.all(data > 0) and np.array_equal(data.astype(np.float32), data))
        )
        if self._bits:
            self.values = np.zeros(0)
            self._step = np.int64(2**32)
            keys = cols * self._step + data.astype(np.float32).view(np.uint32).astype(np.int64)
            zero_code = np.int64(0)
        else:
            values, inverse = np.unique(np.concatenate([data, [0.0]]), return_inverse=True)
            self.values = values
            self._step = np.int64(2 * len(values) + 2)
            keys = cols * self._step + 2 * inverse[:-1].astype(np.int64) + 1
            zero_code = 2 * np.int64(np.searchsorted(values, 0.0)) + 1
        del data, cols
        keys.sort()
        self._keys = keys
        self._start = np.searchsorted(keys, np.arange(n_genes + 1, dtype=np.int64) * self._step)
        self._zeros = (n2 - nnz).astype(np.float64)
        self._negative = (
            np.searchsorted(keys, np.arange(n_genes, dtype=np.int64) * self._step + zero_code)
            - self._start[:-1]
        ).astype(np.float64)
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        starts = np.flatnonzero(first)
        count = np.diff(np.append(starts, len(keys))).astype(np.float64)
        tie = np.bincount(keys[starts] // self._step, weights=count**3 - count, minlength=n_genes)
        self._tie = tie + self._zeros**3 - self._zeros
        # pseudobulk of the control, computed as de_test does (dense means, in chunks)
        self.bulk = np.empty(n_genes)
        chunk = max(1, 2**24 // max(n2, 1))
        for lo in range(0, n_genes, chunk):
            b = np.ascontiguousarray(m[:, lo : lo + chunk].toarray())
            self.bulk[lo : lo + chunk] = np.expm1(
                b.mean(axis=0) if is_log1p else np.log1p(b).mean(axis=0)
            )

    def _bit_codes(self, v: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keys of positive values in the bit-pattern code (rounded down to float32 where
        not exact, flagged), and whether each value is exactly a float32."""
        f = np.abs(v).astype(np.float32)
        exact = f.astype(np.float64) == v
        down = ~exact & (f.astype(np.float64) > np.abs(v))
        f[down] = np.nextafter(f[down], np.float32(0))
        bits = f.view(np.uint32).astype(np.int64)
        return c.astype(np.int64) * self._step + bits, exact & (v > 0)

    def test(self, perturbed: Any) -> pd.DataFrame:
        """:func:`de_test` of ``perturbed`` (cells x the same genes) against the control."""
        a = _dense(perturbed, "perturbed")
        if a.shape[1] != self.n_genes:
            raise ValidationError(
                f"x and y differ in number of columns: {a.shape[1]} vs {self.n_genes}"
            )
        n1, n2, n_genes = a.shape[0], self.n_control, self.n_genes
        if n1 == 0:
            raise ValidationError("both samples need at least one row")
        flat = np.sort(a.T + 0.0, axis=1).ravel()  # gene-major, sorted within each gene
        new_run = np.ones(flat.shape, dtype=bool)
        new_run[1:] = flat[1:] != flat[:-1]
        new_run[::n1] = True
        starts = np.flatnonzero(new_run)
        length = np.diff(np.append(starts, flat.size)).astype(np.float64)
        value = flat[starts]
        col = starts // n1
        less = np.empty(len(starts))
        equal = np.empty(len(starts))
        zero = value == 0.0
        less[zero] = self._negative[col[zero]]
        equal[zero] = self._zeros[col[zero]]
        nz = ~zero
        v, c = value[nz], col[nz]
        if self._bits:
            keys, exact = self._bit_codes(v, c)
        else:
            order = np.argsort(v, kind="stable")  # sorted queries search much faster
            k = np.empty(len(v), dtype=np.int64)
            k[order] = np.searchsorted(self.values, v[order])
            exact = np.zeros(len(v), dtype=bool)
            inside = k < len(self.values)
            exact[inside] = self.values[k[inside]] == v[inside]
            keys = c.astype(np.int64) * self._step + 2 * k.astype(np.int64) + exact
        left = np.searchsorted(self._keys, keys, side="left")
        right = np.searchsorted(self._keys, keys, side="right")
        if self._bits:  # a value no control cell can hold: all codes <= its own are less
            left = np.where(exact, left, right)
            right = np.where(exact, right, left)
            below = v < 0  # the control has no negative values here
            left[below] = right[below] = self._start[c[below]]
        less[nz] = left - self._start[c] + np.where(v > 0, self._zeros[c], 0.0)
        equal[nz] = right - left
        u1 = np.bincount(col, weights=length * less, minlength=n_genes) + 0.5 * np.bincount(
            col, weights=length * equal, minlength=n_genes
        )
        total = length + equal
        extra = np.bincount(col, weights=(total**3 - total) - (equal**3 - equal), minlength=n_genes)
        tie_term = self._tie + extra
        n = n1 + n2
        u = np.maximum(u1, n1 * n2 - u1)
        mu = n1 * n2 / 2.0
        s2 = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else np.zeros(n_genes)
        num = u - mu - 0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            z = num / np.sqrt(s2)
        p = np.where(s2 > 0, np.clip(2.0 * ndtr(-z), 0.0, 1.0), 1.0)
        bulk_a = np.expm1(a.mean(axis=0) if self.is_log1p else np.log1p(a).mean(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            lfc = np.log2(bulk_a / self.bulk)
        lfc[np.isnan(lfc)] = 0.0
        return pd.DataFrame(
            {"gene": self.genes, "log2_fold_change": lfc, "statistic": u1, "p_value": p,
             "fdr": bh_adjust(p)}
        )  # fmt: skip


def de_genes(table: pd.DataFrame, *, fdr_threshold: float = 0.05) -> list[str]:
    """Significant genes of a :func:`de_test` table (``fdr < fdr_threshold``), ranked by
    ``|log2_fold_change|`` (largest first; ties keep the table's gene order).

    Parameters
    ----------
    table
        A :func:`de_test` table (columns ``gene``, ``log2_fold_change``, ``fdr`` at least).
    fdr_threshold
        A gene is DE when its ``fdr`` is strictly below this (the VCC's 0.05).

    Returns
    -------
    The DE gene names, most changed first.
    """
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

    Parameters
    ----------
    true_de
        The true DE genes ``T``, ranked (a sequence of names, not a string).
    pred_de
        The predicted DE genes ``P``, ranked.
    k
        Cut-off of both lists (at least 1; capped at ``|T|``); ``None``: ``|T|``.

    Returns
    -------
    The overlap in [0, 1], higher is better (``METRIC_SPECS["de_overlap"]``).
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
