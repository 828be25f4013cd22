"""Shared plumbing of GRN inference: what a method sees and returns, input coercion, edge tables.

Every method is a function ``fn(data: GRNInput, *, n_jobs, seed, **kw) -> Scores``
listed in :data:`virtualcell.grn.METHODS` (:mod:`._methods`);
:func:`virtualcell.grn.infer` turns the score matrix into the public edge table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import DataFormatError, ValidationError

__all__ = ["GRNInput", "Scores", "edge_table", "prepare", "regulator_columns"]


@dataclass
class GRNInput:
    """What a method sees: a dense cells x genes matrix plus context.

    Attributes
    ----------
    X
        ``float64`` array, cells x genes.
    genes
        Gene names (columns of ``X``).
    regulators
        Column indices of the candidate regulators (sorted, unique).
    obs
        Per-cell annotations (``PseudoTime*``, ``perturbation``, ``experiment`` ...); may
        be empty.
    """

    X: np.ndarray
    genes: list[str]
    regulators: np.ndarray
    obs: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n_genes(self) -> int:
        return self.X.shape[1]

    def subset_cells(self, rows: np.ndarray) -> GRNInput:
        """The same input restricted to some cells (for subsampling)."""
        return GRNInput(self.X[rows], self.genes, self.regulators, self.obs.iloc[rows])


@dataclass
class Scores:
    """A method's output: ``score[i, j]`` for regulator ``regulators[i]`` -> gene ``j``.

    ``sign`` (same shape, values -1/0/+1) is optional. Higher score = more confident.
    """

    score: np.ndarray
    sign: np.ndarray | None = None


def _dense(X: Any) -> np.ndarray:
    if hasattr(X, "to_memory"):  # a backed sparse dataset
        X = X.to_memory()
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


def prepare(
    data: Any,
    *,
    genes: Sequence[str] | None = None,
    regulators: Iterable[str] | None = None,
    layer: str | None = None,
) -> GRNInput:
    """Coerce an AnnData, DataFrame (cells x genes) or array into a :class:`GRNInput`.

    The input is never modified (the matrix is copied).
    """
    obs = pd.DataFrame()
    if hasattr(data, "var_names") and hasattr(data, "obs"):  # AnnData
        from ..data import CellSource

        with CellSource.open(data, layer=layer) as source:  # 'raw' = adata.raw
            X = _dense(source.matrix)
            names = [str(g) for g in source.var_names]
        obs = data.obs.copy()
    elif isinstance(data, pd.DataFrame):
        X = _dense(data.to_numpy())
        names = [str(g) for g in data.columns]
        obs = pd.DataFrame(index=data.index)
    else:
        try:
            X = _dense(data)
        except (TypeError, ValueError) as err:
            raise DataFormatError(f"cannot read expression matrix of type {type(data)}") from err
        names = None
    if X.ndim != 2:
        raise DataFormatError(f"expression must be 2-D (cells x genes), got shape {X.shape}")
    if genes is not None:
        if len(genes) != X.shape[1]:
            raise ValidationError(f"{len(genes)} gene names for {X.shape[1]} columns")
        names = [str(g) for g in genes]
    if names is None:
        names = [f"G{i}" for i in range(X.shape[1])]
    if len(set(names)) != len(names):
        dup = pd.Index(names)[pd.Index(names).duplicated()].unique()[:5].tolist()
        raise ValidationError(f"duplicate gene names: {dup}")
    if X.shape[1] < 2 or X.shape[0] < 3:
        raise ValidationError(f"need >= 3 cells and >= 2 genes, got shape {X.shape}")
    bad = ~np.isfinite(X).all(axis=0)
    if bad.any():
        raise DataFormatError(
            f"non-finite values in genes {[names[i] for i in np.flatnonzero(bad)[:5]]}"
        )
    reg_idx = regulator_columns(names, regulators)
    return GRNInput(X=X, genes=names, regulators=reg_idx, obs=obs)


def regulator_columns(
    names: Sequence[str], regulators: Iterable[str] | None, *, where: str = "the genes"
) -> np.ndarray:
    """Sorted unique columns of the ``regulators`` among ``names`` (all without a list;
    names not among them are ignored; none at all is an error naming ``where``)."""
    if regulators is None:
        return np.arange(len(names))
    wanted = [str(r) for r in regulators]
    pos = {g: i for i, g in enumerate(names)}
    reg_idx = np.array(sorted({pos[r] for r in wanted if r in pos}), dtype=int)
    if reg_idx.size == 0:
        raise ValidationError(
            f"none of the {len(wanted)} regulators (e.g. {wanted[:5]}) is among {where}"
        )
    return reg_idx


def edge_table(
    data: GRNInput, scores: Scores, *, max_edges: int | None = None, min_score: float | None = None
) -> pd.DataFrame:
    """Long edge table ``regulator, target, score[, sign]`` sorted by score (descending),
    ties broken by regulator then target name; self-loops and NaN scores dropped."""
    S = np.asarray(scores.score, dtype=np.float64)
    n_reg, n_genes = len(data.regulators), data.n_genes
    if S.shape != (n_reg, n_genes):
        raise ValueError(f"method returned scores of shape {S.shape}, expected {(n_reg, n_genes)}")
    ri, ti = np.meshgrid(np.arange(n_reg), np.arange(n_genes), indexing="ij")
    ri, ti = ri.ravel(), ti.ravel()
    reg_col = data.regulators[ri]
    keep = (reg_col != ti) & np.isfinite(S.ravel())
    if min_score is not None:
        keep &= S.ravel() >= min_score
    genes = np.asarray(data.genes, dtype=object)
    out = pd.DataFrame(
        {"regulator": genes[reg_col[keep]], "target": genes[ti[keep]], "score": S.ravel()[keep]}
    )
    if scores.sign is not None:
        out["sign"] = np.sign(np.asarray(scores.sign).ravel()[keep]).astype(np.int8)
    # stable order: score desc, then original (regulator, target) order
    order = np.lexsort((np.arange(len(out)), -out["score"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    if max_edges is not None:
        out = out.iloc[: int(max_edges)].reset_index(drop=True)
    return out
