"""Building blocks of :func:`~virtualcell.data.validate`: chunked scan and checks.

:class:`_Scan` reads ``X`` in blocks (rows for dense / CSR / backed matrices, columns
for CSC) and counts, per cell and per gene, NaN, +-inf, negative, non-whole and non-zero
entries; the ``check_*`` functions turn those tallies and the names into
:class:`Problem` records that say where the problem is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from ._conventions import COMBO_SEP, CONTROL, PERTURBATION_KEY
from ._layers import counts_rule

__all__ = [
    "Problem",
    "check_matrix",
    "check_names",
    "check_perturbations",
    "check_vocabulary",
    "scan_matrix",
]

Severity = Literal["error", "warning"]
#: Largest plausible count: counts are stored as int32 (2**31 - 1); a larger value in a
#: count matrix is corruption (an overflow, a unit mix-up, 1e30 written by a bug).
MAX_COUNT = 2**31 - 1
_SHOW = 5
_CHUNK_ELEMENTS = 4_000_000


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


@dataclass(frozen=True)
class Problem:
    """One problem found by :func:`validate`.

    Attributes
    ----------
    code
        Stable machine-readable name (module documentation lists them).
    message
        One sentence naming the problem and where it is.
    severity
        ``"error"`` or ``"warning"``.
    count
        How many elements / cells / genes / labels are affected.
    """

    code: str
    message: str
    severity: Severity = "error"
    count: int = 0


def _where(names: pd.Index, counts: np.ndarray, noun: str) -> str:
    """``"3 cells (c1: 5, c7: 2, c9: 1)"`` for the non-zero entries of ``counts``."""
    hit = np.flatnonzero(counts)
    shown = ", ".join(f"{names[i]}: {int(counts[i])}" for i in hit[:_SHOW])
    more = f", ... {len(hit) - _SHOW} more" if len(hit) > _SHOW else ""
    plural = noun if len(hit) == 1 else noun + "s"
    return f"{len(hit):,} {plural} ({shown}{more})"


def _first(names: pd.Index | list[str], n: int = _SHOW) -> str:
    values = [str(v) for v in list(names)[:n]]
    more = f", ... {len(names) - n} more" if len(names) > n else ""
    return ", ".join(values) + more


class _Scan:
    """Per-cell and per-gene tallies accumulated over chunks."""

    KEYS = ("nan", "inf", "neg", "frac", "nz", "huge")

    def __init__(self, n_obs: int, n_vars: int) -> None:
        self.cell = {k: np.zeros(n_obs, np.int64) for k in self.KEYS}
        self.gene = {k: np.zeros(n_vars, np.int64) for k in self.KEYS}
        self.min, self.max = np.inf, -np.inf
        self.nonzero_finite = 0
        self.whole_nonzero = 0

    def _masks(self, values: np.ndarray) -> dict[str, np.ndarray]:
        masks: dict[str, np.ndarray] = {"nz": values != 0, "neg": values < 0}
        with np.errstate(invalid="ignore"):
            masks["huge"] = (
                np.isfinite(values) & (values > MAX_COUNT)
                if values.dtype.kind == "f"
                else values > MAX_COUNT
            )
        if np.issubdtype(values.dtype, np.floating):
            masks["nan"] = np.isnan(values)
            masks["inf"] = np.isinf(values)
            finite = ~(masks["nan"] | masks["inf"])
            with np.errstate(invalid="ignore"):
                masks["frac"] = finite & (values != np.floor(values))
            finite_nonzero = finite & masks["nz"]
            self.nonzero_finite += int(np.count_nonzero(finite_nonzero))
            self.whole_nonzero += int(np.count_nonzero(finite_nonzero & ~masks["frac"]))
            fin = values[finite]
        elif np.issubdtype(values.dtype, np.number) or values.dtype == bool:
            self.nonzero_finite += int(np.count_nonzero(masks["nz"]))
            self.whole_nonzero += int(np.count_nonzero(masks["nz"]))
            fin = values
        else:
            raise TypeError(f"non-numeric dtype {values.dtype}")
        if fin.size:
            self.min = min(self.min, float(fin.min()))
            self.max = max(self.max, float(fin.max()))
        return masks

    def add_dense(self, block: np.ndarray, start: int) -> None:
        """Tally a dense row block starting at row ``start``."""
        for key, mask in self._masks(block).items():
            if mask.any():
                self.cell[key][start : start + block.shape[0]] += mask.sum(axis=1)
                self.gene[key] += mask.sum(axis=0)

    def add_sparse(self, values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
        """Tally stored sparse entries at global ``rows`` / ``cols``."""
        n_obs, n_vars = len(self.cell["nz"]), len(self.gene["nz"])
        for key, mask in self._masks(values).items():
            if mask.any():
                self.cell[key] += np.bincount(rows[mask], minlength=n_obs)
                self.gene[key] += np.bincount(cols[mask], minlength=n_vars)


def scan_matrix(X: Any, n_obs: int, n_vars: int) -> _Scan:
    """Read ``X`` in blocks of about ``_CHUNK_ELEMENTS`` and tally it (never writes)."""
    scan = _Scan(n_obs, n_vars)
    if getattr(X, "format", None) == "csc":  # column blocks are the cheap slices
        step = max(1, _CHUNK_ELEMENTS // max(n_obs, 1))
        for start in range(0, n_vars, step):
            block = sparse.coo_matrix(X[:, start : start + step])
            scan.add_sparse(block.data, block.row, block.col + start)
        return scan
    step = max(1, _CHUNK_ELEMENTS // max(n_vars, 1))
    for start in range(0, n_obs, step):
        chunk = X[start : min(start + step, n_obs)]
        if sparse.issparse(chunk) or hasattr(chunk, "tocoo"):
            block = sparse.coo_matrix(chunk)
            scan.add_sparse(block.data, block.row + start, block.col)
        else:
            scan.add_dense(np.asarray(chunk), start)
    return scan


def check_matrix(scan: _Scan, obs_names: pd.Index, var_names: pd.Index, expect_counts: bool | None,
                  dtype: np.dtype, summary: dict[str, Any]) -> list[Problem]:  # fmt: skip
    problems: list[Problem] = []
    n_obs, n_vars = len(obs_names), len(var_names)
    for key, label in (("nan", "NaN"), ("inf", "infinite")):
        total = int(scan.cell[key].sum())
        if total:
            problems.append(Problem(key, (
                f"X has {_plural(total, label + ' value')} in {_where(obs_names, scan.cell[key], 'cell')} "
                f"and {_where(var_names, scan.gene[key], 'gene')}"), count=total))  # fmt: skip
    integer_dtype = np.issubdtype(dtype, np.integer) or dtype.kind == "b"
    whole_share = scan.whole_nonzero / scan.nonzero_finite if scan.nonzero_finite else 1.0
    looks_like_counts = counts_rule(whole_share, scan.nonzero_finite, integer_dtype=integer_dtype)
    counts_expected = bool(expect_counts) if expect_counts is not None else looks_like_counts
    n_neg, n_frac = int(scan.cell["neg"].sum()), int(scan.cell["frac"].sum())
    if n_neg and counts_expected:
        why = "counts were requested" if expect_counts else "X otherwise looks like counts"
        problems.append(Problem("negative_counts", (
            f"X has {_plural(n_neg, 'negative value')} but {why}: "
            f"{_where(obs_names, scan.cell['neg'], 'cell')}; "
            f"{_where(var_names, scan.gene['neg'], 'gene')}"), count=n_neg))  # fmt: skip
    if n_frac and counts_expected:
        why = (
            "counts were requested"
            if expect_counts
            else f"{scan.whole_nonzero:,} of its {scan.nonzero_finite:,} non-zero values are "
            "whole numbers (it looks like counts)"
        )
        problems.append(Problem("non_integer_counts", (
            f"X has {_plural(n_frac, 'non-integer value')} although {why}: "
            f"{_where(obs_names, scan.cell['frac'], 'cell')}; "
            f"{_where(var_names, scan.gene['frac'], 'gene')}"), count=n_frac))  # fmt: skip
    n_huge = int(scan.cell["huge"].sum())
    if n_huge and counts_expected:
        problems.append(Problem("implausible_counts", (
            f"X has {_plural(n_huge, 'value')} above {MAX_COUNT:,} (max {scan.max:.3g}), "
            f"impossible as counts: {_where(obs_names, scan.cell['huge'], 'cell')}; "
            f"{_where(var_names, scan.gene['huge'], 'gene')}"), count=n_huge))  # fmt: skip
    empty_cells = scan.cell["nz"] == 0
    if empty_cells.any():
        names = obs_names[empty_cells]
        problems.append(Problem("empty_cells", (
            f"{len(names):,} of {n_obs:,} cells are zero in every gene: {_first(names)}"),
            count=len(names)))  # fmt: skip
    empty_genes = scan.gene["nz"] == 0
    if empty_genes.any():
        names = var_names[empty_genes]
        problems.append(Problem("empty_genes", (
            f"{len(names):,} of {n_vars:,} genes are zero in every cell: {_first(names)}"),
            severity="warning", count=len(names)))  # fmt: skip
    nnz = int(scan.cell["nz"].sum())
    if nnz < n_obs * n_vars:  # implicit zeros of a sparse matrix count in the range
        scan.min, scan.max = min(scan.min, 0.0), max(scan.max, 0.0)
    summary.update(
        nnz=nnz,
        sparsity=1.0 - nnz / (n_obs * n_vars) if n_obs * n_vars else 0.0,
        is_integer=n_frac == 0 and int(scan.cell["nan"].sum() + scan.cell["inf"].sum()) == 0,
        looks_like_counts=bool(looks_like_counts),
        counts_expected=bool(counts_expected),
        min=None if not np.isfinite(scan.min) else scan.min,
        max=None if not np.isfinite(scan.max) else scan.max,
        n_empty_cells=int(empty_cells.sum()),
        n_empty_genes=int(empty_genes.sum()),
    )
    return problems


def check_names(index: pd.Index, noun: str) -> list[Problem]:
    duplicated = index[index.duplicated(keep=False)]
    if not len(duplicated):
        return []
    counts = pd.Series(duplicated).value_counts()
    shown = ", ".join(f"{name} (x{n})" for name, n in counts.head(_SHOW).items())
    more = f", ... {len(counts) - _SHOW} more" if len(counts) > _SHOW else ""
    return [Problem(f"duplicate_{noun}s", (
        f"{len(counts):,} {noun} names occur more than once: {shown}{more}"), count=len(counts))]  # fmt: skip


def check_vocabulary(var_names: pd.Index, vocabulary: Any, min_fraction: float) -> list[Problem]:
    vocab = {str(g) for g in vocabulary}
    genes = pd.Index(var_names.astype(str))
    inside = genes.isin(vocab)
    fraction = float(inside.mean()) if len(genes) else 0.0
    if fraction >= min_fraction:
        return []
    lower = {g.upper() for g in vocab}
    fraction_ci = float(np.mean([g.upper() in lower for g in genes])) if len(genes) else 0.0
    hint = (
        f"; {100 * fraction_ci:.1f}% match ignoring case (another species or symbol style?)"
        if fraction_ci >= min_fraction
        else ""
    )
    missing = genes[~inside]
    return [Problem("low_vocabulary_overlap", (
        f"only {int(inside.sum()):,} of {len(genes):,} genes ({100 * fraction:.1f}%) are in the "
        f"vocabulary of {len(vocab):,} genes, below the required {100 * min_fraction:.0f}%"
        f"{hint}; not found: {_first(missing)}"), count=int((~inside).sum()))]  # fmt: skip


def check_perturbations(obs: pd.DataFrame) -> list[Problem]:
    if PERTURBATION_KEY not in obs.columns:
        return []
    labels = obs[PERTURBATION_KEY]
    text = labels.astype("string").str.strip()
    problems: list[Problem] = []
    empty = text.isna() | (text == "")
    if empty.any():
        problems.append(Problem("empty_perturbation_label", (
            f"obs['{PERTURBATION_KEY}'] is empty or missing for {_plural(int(empty.sum()), 'cell')}: "
            f"{_first(obs.index[empty.to_numpy()])}"), count=int(empty.sum())))  # fmt: skip
    values = pd.Series(text[~empty].unique(), dtype=str)
    bad, unsorted = [], []
    for label in values:
        if COMBO_SEP not in label:
            continue
        parts = label.split(COMBO_SEP)
        if any(not p.strip() for p in parts) or CONTROL in parts:
            bad.append(label)
        elif parts != sorted(parts):
            unsorted.append(label)
    if bad:
        problems.append(Problem("malformed_perturbation_label", (
            f"{len(bad)} perturbation labels have an empty part or 'control' inside a "
            f"combination (expected 'GENE' or 'GENE_A{COMBO_SEP}GENE_B'): "
            f"{_first([repr(b) for b in bad])}"), count=len(bad)))  # fmt: skip
    if unsorted:
        problems.append(Problem("unsorted_perturbation_label", (
            f"{len(unsorted)} combination labels are not sorted (A{COMBO_SEP}B and "
            f"B{COMBO_SEP}A would count as two conditions): {_first(unsorted)}"),
            severity="warning", count=len(unsorted)))  # fmt: skip
    if len(values) and not (values == CONTROL).any():
        problems.append(Problem("no_control_cells", (
            f"obs['{PERTURBATION_KEY}'] has no '{CONTROL}' cells"), severity="warning"))  # fmt: skip
    return problems
