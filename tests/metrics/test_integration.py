"""scIB integration metrics: hand-computed cases and the ``scib-metrics`` reference."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell import ValidationError
from virtualcell.metrics import (
    batch_asw,
    clisi,
    graph_connectivity,
    ilisi,
    integration_scores,
    isolated_label_f1,
    isolated_labels,
    kbet,
    knn,
    lisi,
)


def _blobs(seed: int = 0, mixed: bool = True):
    """Two cell types far apart; two batches either mixed or shifted within each type."""
    rng = np.random.default_rng(seed)
    n = 60
    labels = np.repeat(["A", "B"], n)
    batches = np.tile(np.repeat(["b1", "b2"], n // 2), 2)
    x = rng.normal(0, 1, (2 * n, 5))
    x[labels == "B", 0] += 20
    if not mixed:
        x[batches == "b2", 1] += 8
    return labels, batches, x


def test_knn_excludes_self_and_sorted():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    d, i = knn(x, n_neighbors=2)
    assert i.tolist() == [[1, 2], [0, 2], [1, 0], [2, 1]]
    assert d.tolist() == [[1, 3], [1, 2], [2, 3], [4, 6]]


def test_lisi_hand_case_equal_weights():
    # each cell's two neighbours are at the same distance -> equal weights (any beta);
    # cell 0: neighbours 1 (label a) and 2 (label b) -> simpson 0.5 -> LISI 2
    x = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    out = lisi(["a", "a", "b"], x, n_neighbors=2, perplexity=1.5)
    assert out[0] == pytest.approx(2.0)


def test_batch_metrics_separate_mixed_from_shifted():
    lab, bat, mixed = _blobs(mixed=True)
    _, _, shifted = _blobs(mixed=False)
    assert batch_asw(bat, mixed, labels=lab) > batch_asw(bat, shifted, labels=lab) + 0.2
    assert ilisi(bat, mixed, n_neighbors=30) > 0.7 > 0.2 > ilisi(bat, shifted, n_neighbors=30)
    assert kbet(bat, mixed, labels=lab) > 0.7 > 0.1 > kbet(bat, shifted, labels=lab)
    assert clisi(lab, mixed, n_neighbors=30) == pytest.approx(1.0)
    assert graph_connectivity(lab, mixed) == pytest.approx(1.0)


def test_graph_connectivity_hand_case():
    # label A: two far-apart pairs -> largest component 2 of 4 = 0.5; label B: one pair -> 1
    x = np.array([[0.0], [0.1], [100.0], [100.1], [50.0], [50.1]])
    lab = ["A", "A", "A", "A", "B", "B"]
    assert graph_connectivity(lab, x, n_neighbors=1) == pytest.approx(0.75)


def test_isolated_labels_and_f1():
    lab = np.array(["A"] * 20 + ["B"] * 20 + ["C"] * 10)
    bat = np.array(["1", "2"] * 20 + ["1"] * 10)
    assert isolated_labels(lab, batches=bat) == ["C"]
    x = np.zeros((50, 2))
    x[:20, 0], x[20:40, 0], x[40:, 0] = 0, 10, 20
    x += np.random.default_rng(0).normal(0, 0.1, x.shape)
    clusters = {1.0: np.array(["p"] * 20 + ["q"] * 20 + ["r"] * 10)}
    assert isolated_label_f1(lab, x, batches=bat, clusterings=clusters) == 1.0
    merged = {1.0: np.array(["p"] * 20 + ["q"] * 30)}
    # C inside a cluster of 30: F1 = 2*10 / (30 + 10)
    assert isolated_label_f1(lab, x, batches=bat, clusterings=merged) == pytest.approx(0.5)


def test_integration_scores_keys_and_aggregates():
    lab, bat, x = _blobs(mixed=True)
    out = integration_scores(lab, x, batches=bat, lisi_neighbors=30, resolutions=(0.2, 0.5))
    bio = np.mean([out[k] for k in ("nmi", "ari", "asw_label", "isolated_label_f1", "clisi")])
    batch = np.mean([out[k] for k in ("batch_asw", "ilisi", "kbet", "graph_connectivity")])
    assert out["bio"] == pytest.approx(bio) and out["batch"] == pytest.approx(batch)
    assert out["overall"] == pytest.approx(0.6 * bio + 0.4 * batch)
    assert out["nmi"] == pytest.approx(1.0)


def test_errors_are_clear():
    with pytest.raises(ValidationError, match="at least 2 batches"):
        ilisi(["a"] * 5, np.zeros((5, 2)))
    with pytest.raises(ValidationError, match="shape"):
        batch_asw(["a", "b"], np.zeros((3, 2)), labels=["x", "x"])
    with pytest.raises(ValidationError, match="NaN"):
        kbet(["a", "b", "a"], np.array([[0.0], [np.nan], [1.0]]))


# ------------------------------------------------------------------ scib-metrics reference
scib = pytest.importorskip("scib_metrics")


def _neighbors(x, k):
    from scib_metrics.nearest_neighbors import NeighborsResults

    d, i = knn(x, n_neighbors=k)
    return NeighborsResults(indices=i, distances=d)


@pytest.mark.parametrize("mixed", [True, False])
def test_lisi_matches_scib_metrics(mixed):
    lab, bat, x = _blobs(seed=3, mixed=mixed)
    nr = _neighbors(x, 30)
    ours = lisi(bat, x, n_neighbors=30)
    ref = np.asarray(scib.lisi_knn(nr, bat))
    np.testing.assert_allclose(ours, ref, rtol=1e-4)
    assert ilisi(bat, x, n_neighbors=30) == pytest.approx(
        float(scib.ilisi_knn(nr, bat)), rel=1e-4, abs=1e-4
    )
    assert clisi(lab, x, n_neighbors=30) == pytest.approx(
        float(scib.clisi_knn(nr, lab)), rel=1e-4, abs=1e-4
    )


@pytest.mark.parametrize("mixed", [True, False])
def test_kbet_matches_scib_metrics(mixed):
    _lab, bat, x = _blobs(seed=4, mixed=mixed)
    rate, _, _ = scib.kbet(_neighbors(x, 25), bat)
    assert kbet(bat, x, n_neighbors=25) == pytest.approx(float(rate), abs=1e-6)


@pytest.mark.parametrize("mixed", [True, False])
def test_batch_asw_matches_scib_metrics(mixed):
    lab, bat, x = _blobs(seed=5, mixed=mixed)
    ref = float(scib.silhouette_batch(x, lab, bat))
    assert batch_asw(bat, x, labels=lab) == pytest.approx(ref, abs=1e-5)


def test_exports():
    for name in ("ece", "reliability_bins", "integration_scores", "kbet"):
        assert name in vc.metrics.__all__
