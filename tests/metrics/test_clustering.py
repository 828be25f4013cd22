"""Clustering metrics against scikit-learn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import virtualcell as vc
from virtualcell._errors import ValidationError

pytestmark = pytest.mark.usefixtures("warm_jit")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nmi_ari_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 4, 150)
    c = np.where(rng.random(150) < 0.7, t, rng.integers(0, 6, 150))
    assert vc.metrics.nmi(t, c) == pytest.approx(skm.normalized_mutual_info_score(t, c))
    assert vc.metrics.ari(t, c) == pytest.approx(skm.adjusted_rand_score(t, c))


def test_hand_computed_and_edge_cases():
    assert vc.metrics.nmi([0, 0, 1, 1], ["x", "x", "y", "y"]) == pytest.approx(1.0)
    assert vc.metrics.ari([0, 0, 1, 1], [5, 5, 7, 7]) == pytest.approx(1.0)
    # independent labelings: MI = 0
    assert vc.metrics.nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0)
    # ARI of [0,0,1,1] vs [0,1,0,1]: index 0, expected (2*2)/6 = 2/3, max 2 -> -0.5
    assert vc.metrics.ari([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert vc.metrics.nmi([1, 1, 1], [2, 2, 2]) == 1.0
    assert vc.metrics.ari([1, 1, 1], [2, 2, 2]) == 1.0


def test_asw_hand_computed_and_sklearn():
    # 1-D points: label A at 0 and 1, label B at 5 and 6
    x = np.array([[0.0], [1.0], [5.0], [6.0]])
    lab = ["A", "A", "B", "B"]
    # s(0) = (5.5 - 1)/5.5, s(1) = (4.5-1)/4.5, symmetric for B
    raw = ((4.5 / 5.5) + (3.5 / 4.5)) / 2
    assert vc.metrics.asw(lab, x, rescale=False) == pytest.approx(raw)
    assert vc.metrics.asw(lab, x) == pytest.approx((raw + 1) / 2)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 5))
    labels = rng.integers(0, 3, 60)
    emb[labels == 1] += 2
    assert vc.metrics.asw(labels, emb, rescale=False) == pytest.approx(
        skm.silhouette_score(emb, labels)
    )
    with pytest.raises(ValidationError, match="distinct labels"):
        vc.metrics.asw([0, 0, 0], x[:3])


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0], [8, 0], [0, 8]], dtype=float)
    labels = np.repeat(["a", "b", "c"], 40)
    emb = centers[np.repeat([0, 1, 2], 40)] + rng.normal(scale=0.5, size=(120, 2))
    return labels, emb


def test_leiden_recovers_separated_blobs():
    import anndata as ad

    labels, emb = _blobs()
    out = vc.metrics.leiden_nmi_ari(labels, emb, resolutions=(0.1, 0.5, 1.0))
    assert out["nmi"] == pytest.approx(1.0) and out["ari"] == pytest.approx(1.0)
    assert out["n_clusters"] == 3
    adata = ad.AnnData(np.zeros((120, 1), dtype=np.float32))
    adata.obs["cell_type"] = labels
    adata.obsm["X_emb"] = emb
    same = vc.metrics.leiden_nmi_ari(
        "cell_type", adata, use_rep="X_emb", resolutions=(0.1, 0.5, 1.0)
    )
    assert same == out
    # the old data-first order is refused, not silently mis-read
    with pytest.raises(vc.ValidationError, match="truth first"):
        vc.metrics.leiden_nmi_ari(adata, "cell_type", use_rep="X_emb")
    with pytest.raises(vc.ValidationError, match="truth first"):
        vc.metrics.leiden_nmi_ari(emb, labels)
    assert "_leiden" not in adata.obs and "neighbors" not in adata.uns  # not modified
    bio = vc.metrics.avg_bio(labels, emb, resolutions=(0.1, 0.5, 1.0))
    assert bio == pytest.approx((1 + 1 + vc.metrics.asw(labels, emb)) / 3)
    noise = np.random.default_rng(1).normal(size=(120, 2))
    assert vc.metrics.avg_bio(labels, noise, resolutions=(0.5, 1.0)) < bio - 0.3
    # the parts: one sweep and one ASW, the same AvgBIO
    parts = vc.metrics.avg_bio_parts(labels, noise, resolutions=(0.5, 1.0))
    assert parts["avg_bio"] == vc.metrics.avg_bio(labels, noise, resolutions=(0.5, 1.0))
    ref = vc.metrics.leiden_nmi_ari(labels, noise, resolutions=(0.5, 1.0))
    assert (parts["nmi"], parts["ari"]) == (ref["nmi"], ref["ari"])
    assert parts["asw"] == vc.metrics.asw(labels, noise, rescale=True)
    assert parts["avg_bio"] == pytest.approx((parts["nmi"] + parts["ari"] + parts["asw"]) / 3)
