"""Eigenvector-centrality enrichment on disconnected networks (per-component definition)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell.metrics._enrichment import _centrality
from virtualcell.metrics._network import _aligned, _kw

GENES = [f"g{i}" for i in range(12)]


def _edges(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"regulator": [f"g{a}" for a, _ in pairs], "target": [f"g{b}" for _, b in pairs]}
    ).assign(score=1.0)


# big star g0 -> g1..g4 (lambda 2), small star g5 -> g6, g7 (lambda sqrt 2), g8..g11 isolated
TWO_STARS = [(0, 1), (0, 2), (0, 3), (0, 4), (5, 6), (5, 7)]


def _values(pairs: list[tuple[int, int]]) -> np.ndarray:
    e = _aligned(_edges(pairs), _edges(pairs), _kw(GENES, None, False, "raise"))
    return _centrality(e, e.truth, "eigenvector")


def test_disconnected_values_by_hand():
    v = _values(TWO_STARS)
    r2 = math.sqrt(2)
    expected = np.zeros(12)
    expected[0], expected[1:5] = 1 / r2, 1 / (2 * r2)  # unit Perron vector of K(1,4), weight 1
    expected[5], expected[6:8] = 0.5, 0.5 / r2  # K(1,2): (1/r2, 1/2, 1/2) * (r2 / 2)
    np.testing.assert_allclose(v, expected, atol=1e-12)


def test_connected_equals_networkx():
    rng = np.random.default_rng(0)
    extra = {(int(a), int(b)) for a, b in rng.integers(0, 12, (10, 2)) if abs(a - b) > 1}
    pairs = [(i, i + 1) for i in range(11)] + sorted(extra)
    g = nx.Graph()
    g.add_nodes_from(range(12))
    g.add_edges_from(pairs)
    ref = nx.eigenvector_centrality(g, max_iter=10_000, tol=1e-12)
    np.testing.assert_allclose(_values(pairs), [ref[i] for i in range(12)], atol=1e-6)


def test_symmetric_components_are_not_ambiguous():
    pairs = [(0, 1), (0, 2), (5, 6), (5, 7)]  # two identical stars
    g = nx.Graph(pairs)
    with pytest.raises(nx.AmbiguousSolution):
        nx.eigenvector_centrality_numpy(g)
    v = _values(pairs)
    assert v[0] == pytest.approx(v[5]) and v[0] > v[1] > 0
    truth = _edges(pairs)
    # hubs {g0, g5} in both: 2 / (2 * 2 / 12) = 6
    assert vc.metrics.centrality_enrichment(truth, truth, genes=GENES, n_hubs=2) == 6.0


def test_enrichment_keeps_hubs_of_smaller_components():
    truth = _edges(TWO_STARS)
    # true hubs {g0, g5}; predicting only the small star still finds g5
    pred = _edges([(5, 6), (5, 7), (9, 10)])
    value = vc.metrics.centrality_enrichment(truth, pred, genes=GENES, n_hubs=2, k=3)
    # predicted hubs: g5 (0.707 * 1) and g6 (0.5); overlap {g5}: 1 / (2 * 2 / 12) = 3
    assert value == pytest.approx(3.0)
    assert vc.metrics.centrality_enrichment(truth, truth, genes=GENES, n_hubs=2) == 6.0


def test_grn_evaluate_reports_centrality_on_disconnected_prediction():
    truth = _edges(TWO_STARS).drop(columns="score")
    pred = pd.concat([_edges(TWO_STARS), _edges([(9, 10)]).assign(score=0.5)])
    res = vc.grn.evaluate(pred, truth, genes=GENES)
    # the top 6 predicted edges are the truth: hubs {g0, g5} found, 2 / (2 * 2 / 12) = 6
    assert res["centrality_enrichment"] == pytest.approx(6.0)
