"""Candidate-edge universe shared by the network metrics.

A network metric compares a truth (the set of true directed edges) with scores over a
*universe* of candidate edges:

* ``regulators`` x ``genes`` ordered pairs (``regulators`` defaults to all genes, i.e.
  the BEELINE universe of all ordered pairs of distinct genes; a TF list gives the
  TF-restricted universe of TF -> gene pairs);
* self-loops ``(g, g)`` are excluded unless ``self_loops=True``; true self-loops are then
  dropped from the truth and predicted ones ignored;
* a true edge naming a gene outside ``genes`` is an error (genes named); one whose
  regulator is outside ``regulators`` is an error unless ``outside="drop"``;
* predicted edges outside the universe are ignored; universe edges absent from the
  score table are *unlisted*: they rank below every listed edge, tied with each other.

Inputs are either edge tables (truth ``regulator, target`` [+ ``label`` 0/1 kept where 1],
scores ``regulator, target, score``; column aliases as in the one edge-table format,
:mod:`virtualcell.data._edges`: ``Gene1/Gene2``, ``source/target``, ``TF/target`` ...)
with ``genes=``, square matrices (regulators in rows, targets
in columns), or 1-D arrays that already enumerate a universe (truth 0/1, scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import doc_params
from ..data import normalize_edge_table
from ._checks import EdgeInput, as_float_array, check_finite

__all__ = ["EDGE_PARAMS", "EdgeScores", "edge_scores"]

#: Parameters shared by the network metrics (the candidate universe, module docstring).
EDGE_PARAMS = {
    "truth": (
        "The true network: an edge table (``regulator, target`` [+ ``label`` 0/1, rows "
        "with 0 dropped]; the aliases of the one edge-table format), a genes x genes 0/1 "
        "matrix (regulators in rows), or a 0/1 vector over an enumerated universe."
    ),
    "scores": (
        "Predicted edge scores in the form of ``truth``: an edge table ``regulator, "
        "target, score`` (edges it does not list are unlisted), a square matrix or a "
        "vector; finite, higher = more confident."
    ),
    "genes": (
        "The genes of the universe: required with edge tables; for matrices the names of "
        "their rows and columns (default ``0 .. n-1``); ignored for vectors."
    ),
    "regulators": (
        "Candidate regulators, a subset of ``genes`` (default: every gene, BEELINE's "
        "all ordered pairs; a TF list gives the TF-restricted universe)."
    ),
    "self_loops": "Keep self-loops ``(g, g)`` in the universe (default: excluded).",
    "outside": (
        '``"raise"``: a true edge whose regulator is not in ``regulators`` is an error; '
        '``"drop"``: such edges are ignored (edge tables only).'
    ),
    "k": (
        "Size of the top-scored set (default: the number of true edges in the universe); "
        "listed edges tied with the k-th score are all included."
    ),
}


@dataclass(frozen=True)
class EdgeScores:
    """Truth and scores over one candidate universe (flat arrays, one entry per pair)."""

    truth: np.ndarray  #: bool, true edge
    score: np.ndarray  #: float, NaN where unlisted
    regulator: np.ndarray | None  #: gene index of the regulator (None for 1-D input)
    target: np.ndarray | None  #: gene index of the target
    genes: list[str] | None
    regulators: list[str] | None

    @property
    def listed(self) -> np.ndarray:
        return ~np.isnan(self.score)

    def ranking_score(self) -> np.ndarray:
        """Scores with unlisted edges tied below every listed one."""
        listed = self.listed
        low = self.score[listed].min() - 1.0 if listed.any() else 0.0
        return np.where(listed, self.score, low)

    @property
    def density(self) -> float:
        return float(self.truth.mean())


def _from_tables(
    truth: pd.DataFrame,
    scores: pd.DataFrame,
    genes: Sequence[str] | None,
    regulators: Sequence[str] | None,
    self_loops: bool,
    outside: Literal["raise", "drop"],
) -> EdgeScores:
    if genes is None:
        raise ValidationError("edge tables need genes= (the gene list defining the universe)")
    gene_list = [str(g) for g in genes]
    gene_index = pd.Index(gene_list)
    if gene_index.has_duplicates:
        raise ValidationError(
            f"duplicate genes: {gene_index[gene_index.duplicated()][:10].tolist()}"
        )
    reg_list = gene_list if regulators is None else [str(r) for r in regulators]
    unknown_regs = sorted(set(reg_list) - set(gene_list))
    if unknown_regs:
        raise ValidationError(f"regulators not in genes: {unknown_regs[:10]}")
    reg_index = pd.Index(list(dict.fromkeys(reg_list)))
    t = normalize_edge_table(truth, what="truth")
    if "label" in t.columns:
        t = t[t["label"].astype(float) != 0]
    unknown = sorted((set(t["regulator"]) | set(t["target"])) - set(gene_list))
    if unknown:
        raise ValidationError(
            f"truth edges name {len(unknown)} gene(s) not in genes: {unknown[:10]}"
        )
    if not self_loops:
        t = t[t["regulator"] != t["target"]]
    not_reg = sorted(set(t["regulator"]) - set(reg_index))
    if not_reg and outside == "raise":
        raise ValidationError(
            f"truth edges start at {len(not_reg)} gene(s) outside regulators: {not_reg[:10]} "
            "(pass outside='drop' to ignore them)"
        )
    t = t[t["regulator"].isin(reg_index)]
    n_r, n_g = len(reg_index), len(gene_index)
    truth_m = np.zeros((n_r, n_g), dtype=bool)
    truth_m[reg_index.get_indexer(t["regulator"]), gene_index.get_indexer(t["target"])] = True
    s = normalize_edge_table(scores, what="scores", need_score=True)
    score_values = as_float_array(s["score"], "scores['score']")
    check_finite(score_values, "scores['score']")
    ri, gi = reg_index.get_indexer(s["regulator"]), gene_index.get_indexer(s["target"])
    keep = (ri >= 0) & (gi >= 0)
    ri, gi, score_values = ri[keep], gi[keep], score_values[keep]
    flat = ri * n_g + gi
    if len(np.unique(flat)) != len(flat):
        dup = s[keep][pd.Series(flat).duplicated().to_numpy()][["regulator", "target"]]
        raise ValidationError(f"scores list some edges twice: {dup.head(5).values.tolist()}")
    score_m = np.full((n_r, n_g), np.nan)
    score_m[ri, gi] = score_values
    reg_to_gene = gene_index.get_indexer(reg_index)
    rr, gg = np.meshgrid(np.arange(n_r), np.arange(n_g), indexing="ij")
    mask = np.ones((n_r, n_g), dtype=bool) if self_loops else reg_to_gene[rr] != gg
    return EdgeScores(
        truth=truth_m[mask],
        score=score_m[mask],
        regulator=reg_to_gene[rr[mask]],
        target=gg[mask],
        genes=gene_list,
        regulators=list(reg_index),
    )


def _from_arrays(
    truth: Any,
    scores: Any,
    genes: Sequence[str] | None,
    regulators: Sequence[str] | None,
    self_loops: bool,
) -> EdgeScores:
    t = as_float_array(truth, "truth")
    s = as_float_array(scores, "scores")
    if t.shape != s.shape:
        raise ValidationError(f"truth and scores differ in shape: {t.shape} vs {s.shape}")
    check_finite(t, "truth")
    check_finite(s, "scores")
    if not np.isin(t, (0, 1)).all():
        raise ValidationError("truth must hold only 0/1 (or False/True)")
    if t.ndim == 1:
        return EdgeScores(t.astype(bool), s, None, None, None, None)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValidationError(f"matrices must be square (genes x genes), got {t.shape}")
    n = t.shape[0]
    gene_list = [str(g) for g in genes] if genes is not None else [str(i) for i in range(n)]
    if len(gene_list) != n:
        raise ValidationError(f"{len(gene_list)} genes for {n} x {n} matrices")
    rows = np.arange(n)
    if regulators is not None:
        lookup = {g: i for i, g in enumerate(gene_list)}
        unknown = [r for r in regulators if str(r) not in lookup]
        if unknown:
            raise ValidationError(f"regulators not in genes: {unknown[:10]}")
        rows = np.array(sorted({lookup[str(r)] for r in regulators}), dtype=int)
        off = np.setdiff1d(np.arange(n), rows)
        if t[off].any():
            raise ValidationError("truth has edges from genes outside regulators")
    rr, gg = np.meshgrid(rows, np.arange(n), indexing="ij")
    mask = np.ones(rr.shape, dtype=bool) if self_loops else rr != gg
    return EdgeScores(
        truth=t[rr, gg][mask].astype(bool),
        score=s[rr, gg][mask],
        regulator=rr[mask],
        target=gg[mask],
        genes=gene_list,
        regulators=[gene_list[i] for i in rows],
    )


@doc_params(**EDGE_PARAMS)
def edge_scores(
    truth: EdgeInput,
    scores: EdgeInput,
    *,
    genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    self_loops: bool = False,
    outside: Literal["raise", "drop"] = "raise",
) -> EdgeScores:
    """Align truth and scores over the candidate universe (see the module docstring).

    Returns
    -------
    EdgeScores
        One entry per candidate edge: ``truth`` (bool), ``score`` (NaN where unlisted),
        the regulator and target gene indices (``None`` for vectors) and the gene lists.
    """
    if isinstance(truth, pd.DataFrame) or isinstance(scores, pd.DataFrame):
        if not (isinstance(truth, pd.DataFrame) and isinstance(scores, pd.DataFrame)):
            raise ValidationError("truth and scores must both be edge tables, or both arrays")
        return _from_tables(truth, scores, genes, regulators, self_loops, outside)
    return _from_arrays(truth, scores, genes, regulators, self_loops)
