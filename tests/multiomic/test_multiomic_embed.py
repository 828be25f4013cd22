"""``vc.multiomic.embed`` / ``evaluate_embedding``: every method, the WNN weights, errors."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell.multiomic import EMBED_METHODS


@pytest.mark.parametrize("method", ["rna_pca", "protein_pca", "concat_pca", "wnn",
                                    "factor_analysis", "joint_vae"])  # fmt: skip
def test_methods_embed_deterministically(mdata, method):
    kw = dict(method=method, modalities=["rna", "protein"], n_comps=5, seed=0)
    if method == "joint_vae":
        kw["method_options"] = {"n_steps": 60, "n_latent": 4}
    z = vc.multiomic.embed(mdata, **kw)
    assert z.shape[0] == mdata.n_obs and np.isfinite(z).all()
    assert mdata.obsm[f"X_{method}"] is z
    assert np.allclose(vc.multiomic.embed(mdata, **kw), z)


def test_atac_lsi_drops_the_depth_component(mdata):
    z = vc.multiomic.embed(mdata, method="atac_lsi", modalities=["rna", "atac"], n_comps=6)
    assert z.shape == (mdata.n_obs, 6)
    depth = np.asarray(mdata["atac"].X.sum(1)).ravel()
    assert abs(np.corrcoef(depth, z[:, 0])[0, 1]) < 0.9


def test_wnn_weights_follow_the_informative_modality():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 100)
    centres = rng.normal(0, 1, (4, 8)) * 6
    informative = centres[groups] + rng.normal(0, 1, (400, 8))
    noise = rng.normal(0, 1, (400, 8))
    unit = [z / np.linalg.norm(z, axis=1, keepdims=True) for z in (informative, noise)]
    w = vc.multiomic.modality_weights(unit, k=15)
    assert w.shape == (400, 2) and np.allclose(w.sum(1), 1)
    assert w[:, 0].mean() > 0.7


def test_errors(mdata):
    with pytest.raises(vc.ValidationError, match="modality 'adt' is not in the data"):
        vc.multiomic.embed(mdata, modalities=["rna", "adt"])
    with pytest.raises(vc.ValidationError, match="cannot run on modalities rna"):
        vc.multiomic.embed(mdata, method="wnn", modalities=["rna"])
    with pytest.raises(vc.ValidationError, match="cannot run on modalities rna, atac"):
        vc.multiomic.embed(mdata, method="protein_pca", modalities=["rna", "atac"])
    with pytest.raises(vc.ValidationError, match="unknown multi-omic embedding method"):
        vc.multiomic.embed(mdata, method="nope")
    mdata["protein"].X = -mdata["protein"].X
    with pytest.raises(vc.ValidationError, match="negative values"):
        vc.multiomic.embed(mdata, method="protein_pca", modalities=["protein"])


def test_evaluate_embedding_scores_every_method_with_the_same_sweep(mdata):
    res = vc.multiomic.evaluate_embedding(
        mdata, modalities="rna,protein", methods=["rna_pca", "protein_pca", "concat_pca"],
        seeds=[0, 1], n_comps=5,
    )  # fmt: skip
    assert isinstance(res, vc.metrics.EvalResult) and res.task == "multiomic_embed"
    t = res.table
    assert set(t["metric"]) == {"avg_bio", "nmi", "ari", "asw"}
    assert set(t["seed"]) == {0, 1} and len(t) == 3 * 2 * 4
    assert t["baseline"].all()
    rep = res["results"]
    assert [r["method"] for r in rep] == ["rna_pca", "protein_pca", "concat_pca"]
    for r in rep:
        want = t[(t["method"] == r["method"]) & (t["metric"] == "avg_bio")]["value"].mean()
        assert r["score"] == pytest.approx(want)
    # AvgBIO is the mean of its parts
    one = t[(t["method"] == "rna_pca") & (t["seed"] == 0)].set_index("metric")["value"]
    assert one["avg_bio"] == pytest.approx((one["nmi"] + one["ari"] + one["asw"]) / 3)
    # the hidden type shares its RNA state: RNA alone cannot find it, protein can
    ari = res.summary().query("metric == 'ari'").set_index("method")["mean"]
    assert ari["protein_pca"] > ari["rna_pca"]


def test_evaluate_embedding_default_methods_and_label_errors(mdata):
    names = [m for m in EMBED_METHODS.names() if vc.multiomic.method_applicable(m, ["rna", "atac"])]
    assert "protein_pca" not in names and {"atac_lsi", "rna_pca", "wnn"} <= set(names)
    with pytest.raises(vc.ValidationError, match="no obs column 'kind'"):
        vc.multiomic.evaluate_embedding(mdata, label_key="kind")
    with pytest.raises(vc.ValidationError, match="cannot run on modalities"):
        vc.multiomic.evaluate_embedding(mdata, modalities=["rna", "atac"], methods=["protein_pca"])
