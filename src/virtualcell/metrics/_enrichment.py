"""Hub enrichment scores of an inferred network (regulator hubs, target hubs,
eigenvector centrality).

Definition (one for all three)
------------------------------
1. The *predicted network* is the top-``k`` edge set of :func:`early_precision` (``k`` =
   number of true edges by default, edges tied with the k-th score included).
2. Each gene gets a centrality in the true and in the predicted network: out-degree
   (``regulator``), in-degree (``target``) or the eigenvector centrality of the
   undirected network (``eigenvector``: ``networkx.eigenvector_centrality``, power
   iteration on ``A + I`` from a uniform start, so on a disconnected network the
   components of the largest eigenvalue dominate and the others tend to 0; a directed
   acyclic GRN has no meaningful directed eigenvector centrality; values below 1e-6 of
   the maximum count as 0).
3. The hubs of a network are its ``n_hubs`` most central candidate genes (default
   ``ceil(10 %)`` of the candidates), ties broken by gene order, and only genes with a
   centrality above 0. Candidates are the regulators for ``regulator`` and all genes
   otherwise (``N`` of them).
4. Enrichment = observed overlap of true and predicted hubs over the overlap expected
   for random sets of the same sizes: ``|H_true ∩ H_pred| / (|H_true| |H_pred| / N)``.
   1 means random, larger is better; NaN when either hub set is empty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError
from ._edges import EdgeScores
from ._network import _aligned, _kw, _top_set

__all__ = [
    "centrality_enrichment",
    "hub_enrichment",
    "regulator_hub_enrichment",
    "target_hub_enrichment",
]

HubKind = Literal["regulator", "target", "eigenvector"]


def _centrality(e: EdgeScores, mask: np.ndarray, kind: HubKind) -> np.ndarray:
    assert e.genes is not None and e.regulator is not None and e.target is not None
    n = len(e.genes)
    reg, tgt = e.regulator[mask], e.target[mask]
    if kind == "regulator":
        return np.bincount(reg, minlength=n).astype(float)
    if kind == "target":
        return np.bincount(tgt, minlength=n).astype(float)
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(reg.tolist(), tgt.tolist(), strict=True))
    if graph.number_of_edges() == 0:
        return np.zeros(n)
    try:
        cent = nx.eigenvector_centrality(graph, max_iter=10_000, tol=1e-10)
    except nx.PowerIterationFailedConvergence:
        raise ValidationError("eigenvector centrality did not converge") from None
    values = np.abs(np.array([cent[i] for i in range(n)]))
    values[values < 1e-6 * values.max()] = 0.0
    return values


def _hubs(values: np.ndarray, candidates: np.ndarray, n_hubs: int) -> set[int]:
    order = candidates[np.argsort(-values[candidates], kind="stable")]
    return {int(i) for i in order[:n_hubs] if values[i] > 0}


def hub_enrichment(
    truth: Any,
    scores: Any,
    *,
    kind: HubKind,
    k: int | None = None,
    n_hubs: int | None = None,
    genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    self_loops: bool = False,
    outside: Literal["raise", "drop"] = "raise",
) -> float:
    """Hub enrichment of the predicted network (definition in the module docstring).

    ``truth`` and ``scores`` are edge tables with ``genes=`` or square matrices (1-D
    arrays carry no graph and are refused).
    """
    if kind not in ("regulator", "target", "eigenvector"):
        raise ValidationError(f"kind must be regulator, target or eigenvector, got {kind!r}")
    e = _aligned(truth, scores, _kw(genes, regulators, self_loops, outside))
    if e.genes is None:
        raise ValidationError("hub enrichment needs edge tables or square matrices")
    lookup = {g: i for i, g in enumerate(e.genes)}
    assert e.regulators is not None
    if kind == "regulator":
        candidates = np.array([lookup[r] for r in e.regulators], dtype=int)
    else:
        candidates = np.arange(len(e.genes))
    n_cand = len(candidates)
    n_hubs = max(1, math.ceil(0.1 * n_cand)) if n_hubs is None else int(n_hubs)
    if not 1 <= n_hubs <= n_cand:
        raise ValidationError(f"n_hubs must be in [1, {n_cand}], got {n_hubs}")
    h_true = _hubs(_centrality(e, e.truth, kind), candidates, n_hubs)
    h_pred = _hubs(_centrality(e, _top_set(e, k), kind), candidates, n_hubs)
    if not h_true or not h_pred:
        return float("nan")
    return len(h_true & h_pred) / (len(h_true) * len(h_pred) / n_cand)


def regulator_hub_enrichment(truth: Any, scores: Any, **kwargs: Any) -> float:
    """:func:`hub_enrichment` with ``kind="regulator"`` (hubs by out-degree)."""
    return hub_enrichment(truth, scores, kind="regulator", **kwargs)


def target_hub_enrichment(truth: Any, scores: Any, **kwargs: Any) -> float:
    """:func:`hub_enrichment` with ``kind="target"`` (hubs by in-degree)."""
    return hub_enrichment(truth, scores, kind="target", **kwargs)


def centrality_enrichment(truth: Any, scores: Any, **kwargs: Any) -> float:
    """:func:`hub_enrichment` with ``kind="eigenvector"`` (undirected eigenvector
    centrality, networkx)."""
    return hub_enrichment(truth, scores, kind="eigenvector", **kwargs)
