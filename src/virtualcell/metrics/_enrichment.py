"""Hub enrichment scores of an inferred network (regulator hubs, target hubs,
eigenvector centrality).

Definition (one for all three)
------------------------------
1. The *predicted network* is the top-``k`` edge set of :func:`early_precision` (``k`` =
   number of true edges by default, edges tied with the k-th score included).
2. Each gene gets a centrality in the true and in the predicted network: out-degree
   (``regulator``), in-degree (``target``) or the eigenvector centrality of the
   undirected, unweighted network (``eigenvector``; a directed acyclic GRN has no
   meaningful directed eigenvector centrality). It is defined per connected component
   ``C`` (networkx ``connected_components``): the Perron eigenvector ``v_C`` of the
   component's adjacency matrix (largest eigenvalue ``lambda_C``, unique for a connected
   graph), scaled to unit Euclidean norm and weighted by ``lambda_C / lambda_max``
   (``lambda_max`` the largest over all components). On a connected network this is
   ``networkx.eigenvector_centrality`` exactly; on a disconnected one every component
   keeps its own hubs, down-weighted by its spectral radius, instead of the power
   iteration's start-dependent (and possibly non-converging) mixture. Isolated genes get
   0; values below 1e-6 of the maximum count as 0.
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
from .._utils import doc_params
from ._checks import EdgeInput
from ._edges import EDGE_PARAMS, EdgeScores
from ._network import _aligned, _kw, _top_set

__all__ = [
    "centrality_enrichment",
    "hub_enrichment",
    "regulator_hub_enrichment",
    "target_hub_enrichment",
]

HubKind = Literal["regulator", "target", "eigenvector"]

_documented = doc_params(
    **EDGE_PARAMS,
    kind=(
        '``"regulator"`` (out-degree), ``"target"`` (in-degree) or ``"eigenvector"`` '
        "(eigenvector centrality of the undirected network)."
    ),
    n_hubs="Number of hubs of each network (default ``ceil(10 %)`` of the candidates).",
)


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
    values = np.zeros(n)
    radius = np.zeros(n)
    for comp in nx.connected_components(graph):
        nodes = sorted(comp)
        if len(nodes) < 2:
            continue  # isolated gene: centrality 0
        lam, vec = _perron(nx.to_scipy_sparse_array(graph, nodelist=nodes, format="csr"))
        values[nodes] = vec
        radius[nodes] = lam
    values *= radius / radius.max()
    values[values < 1e-6 * values.max()] = 0.0
    return values


def _perron(adj: Any) -> tuple[float, np.ndarray]:
    """Largest eigenvalue and its unit-norm non-negative eigenvector of a connected
    component's symmetric adjacency matrix."""
    if adj.shape[0] <= 512:
        lam, vecs = np.linalg.eigh(adj.toarray().astype(float))
        lam_max, vec = float(lam[-1]), vecs[:, -1]
    else:
        from scipy.sparse.linalg import eigsh

        start = np.ones(adj.shape[0])
        lam, vecs = eigsh(adj.astype(float), k=1, which="LA", v0=start, tol=1e-12)
        lam_max, vec = float(lam[0]), vecs[:, 0]
    vec = np.abs(vec)  # Perron vector: one sign throughout
    return lam_max, vec / np.linalg.norm(vec)


def _hubs(values: np.ndarray, candidates: np.ndarray, n_hubs: int) -> set[int]:
    order = candidates[np.argsort(-values[candidates], kind="stable")]
    return {int(i) for i in order[:n_hubs] if values[i] > 0}


@_documented
def hub_enrichment(
    truth: EdgeInput,
    scores: EdgeInput,
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
    arrays carry no graph and are refused). The predicted network is the top-``k`` set
    of :func:`~virtualcell.metrics.early_precision`.

    Returns
    -------
    ``|H_true ∩ H_pred| / (|H_true| |H_pred| / N)``, in [0, N / max(|H_true|, |H_pred|)]:
    1 = random overlap, higher is better; NaN when either hub set is empty.
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


@_documented
def regulator_hub_enrichment(truth: EdgeInput, scores: EdgeInput, **kwargs: Any) -> float:
    """:func:`hub_enrichment` with ``kind="regulator"`` (hubs by out-degree; candidates
    are the regulators).

    Parameters
    ----------
    **kwargs
        Options of :func:`hub_enrichment` (``k``, ``n_hubs``, ``genes``, ``regulators``,
        ``self_loops``, ``outside``).

    Returns
    -------
    The enrichment (1 = random, higher is better; NaN when a hub set is empty).
    """
    return hub_enrichment(truth, scores, kind="regulator", **kwargs)


@_documented
def target_hub_enrichment(truth: EdgeInput, scores: EdgeInput, **kwargs: Any) -> float:
    """:func:`hub_enrichment` with ``kind="target"`` (hubs by in-degree; candidates are
    all genes).

    Parameters
    ----------
    **kwargs
        Options of :func:`hub_enrichment` (``k``, ``n_hubs``, ``genes``, ``regulators``,
        ``self_loops``, ``outside``).

    Returns
    -------
    The enrichment (1 = random, higher is better; NaN when a hub set is empty).
    """
    return hub_enrichment(truth, scores, kind="target", **kwargs)


@_documented
def centrality_enrichment(truth: EdgeInput, scores: EdgeInput, **kwargs: Any) -> float:
    """:func:`hub_enrichment` with ``kind="eigenvector"`` (undirected eigenvector
    centrality per connected component, module docstring; candidates are all genes).

    Parameters
    ----------
    **kwargs
        Options of :func:`hub_enrichment` (``k``, ``n_hubs``, ``genes``, ``regulators``,
        ``self_loops``, ``outside``).

    Returns
    -------
    The enrichment (1 = random, higher is better; NaN when a hub set is empty).
    """
    return hub_enrichment(truth, scores, kind="eigenvector", **kwargs)
