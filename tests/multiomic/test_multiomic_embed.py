"""``vc.multiomic.embed`` / ``evaluate_embedding``: every method, the WNN weights, errors."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import virtualcell as vc
from virtualcell.multiomic import EMBED_METHODS


@pytest.mark.parametrize("method", ["rna_pca", "protein_pca", "concat_pca", "wnn",
                                    "factor_analysis", "cca", "joint_vae"])  # fmt: skip
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
    assert set(t["metric"]) == {"avg_bio", "nmi", "ari", "asw", "foscttm", "modality_asw"}
    # mixing only for concat_pca (the single-modality baselines have no shared space)
    assert set(t["seed"]) == {0, 1} and len(t) == 3 * 2 * 4 + 2 * 2
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


# ----------------------------------------------------------------- per-modality embeddings
def test_concat_pca_parts_sum_to_the_joint_embedding(mdata):
    z, parts = vc.multiomic.embed_per_modality(
        mdata, method="concat_pca", modalities=["rna", "protein"], n_comps=5
    )
    assert set(parts) == {"rna", "protein"}
    np.testing.assert_allclose(parts["rna"] + parts["protein"], z, atol=1e-8)
    np.testing.assert_allclose(
        z, vc.multiomic.embed(mdata, method="concat_pca", modalities=["rna", "protein"], n_comps=5)
    )


def test_factor_analysis_parts_are_one_modality_posteriors(mdata):
    """With every block the posterior formula gives the joint posterior (sklearn's own
    transform); one block alone is the same formula restricted to its features."""
    from sklearn.decomposition import FactorAnalysis

    from virtualcell.multiomic._modality import normalized

    mods = ["rna", "protein"]
    z, parts = vc.multiomic.embed_per_modality(
        mdata, method="factor_analysis", modalities=mods, n_comps=4
    )
    y = np.hstack([normalized(mdata[m].X, m) for m in mods])
    fa = FactorAnalysis(n_components=4, random_state=0).fit(y)
    np.testing.assert_allclose(z, fa.transform(y), atol=1e-8)
    p = mdata["rna"].n_vars
    w, psi = fa.components_[:, p:], fa.noise_variance_[p:]
    cov = np.linalg.inv(np.eye(4) + (w / psi) @ w.T)
    want = (y[:, p:] - fa.mean_[p:]) @ (w / psi).T @ cov
    np.testing.assert_allclose(parts["protein"], want, atol=1e-8)


def test_cca_variates_are_maximally_correlated(mdata):
    z, parts = vc.multiomic.embed_per_modality(
        mdata, method="cca", modalities=["rna", "protein"], n_comps=5
    )
    u, v = parts["rna"], parts["protein"]
    np.testing.assert_allclose(z, (u + v) / 2)
    np.testing.assert_allclose(np.cov(u.T, bias=True), np.eye(5), atol=1e-8)
    r = [np.corrcoef(u[:, j], v[:, j])[0, 1] for j in range(5)]
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(r)) and r[0] > 0.5
    with pytest.raises(vc.ValidationError, match="cca needs exactly two"):
        vc.multiomic.embed(mdata, method="cca", modalities=["rna", "protein", "atac"])


def test_joint_vae_parts_need_modality_dropout(mdata):
    kw = dict(method="joint_vae", modalities=["rna", "protein"], n_comps=5)
    opts = {"n_steps": 60, "n_latent": 4}
    z, parts = vc.multiomic.embed_per_modality(mdata, **kw, method_options=opts)
    assert set(parts) == {"rna", "protein"} and parts["rna"].shape == z.shape
    assert not np.allclose(parts["rna"], parts["protein"])
    z0, none = vc.multiomic.embed_per_modality(
        mdata, **kw, method_options={**opts, "modality_dropout": 0.0}
    )
    assert none is None and z0.shape == z.shape


def test_joint_vae_validation_stops_early(mdata, capsys, monkeypatch):
    monkeypatch.setattr(vc.settings, "verbosity", 1)
    opts = {"n_steps": 4000, "n_latent": 4, "val_fraction": 0.2, "eval_every": 20,
            "patience": 1, "warmup_steps": 20}  # fmt: skip
    z = vc.multiomic.embed(mdata, method="joint_vae", modalities=["rna", "protein"],
                           method_options=opts)  # fmt: skip
    assert np.isfinite(z).all() and z.shape == (mdata.n_obs, 4)
    found = re.search(r"joint_vae: trained (\d+) steps, kept step (\d+)", capsys.readouterr().err)
    trained, kept = int(found[1]), int(found[2])
    assert kept <= trained < 4000 and trained % 20 == 0


@pytest.mark.parametrize("method", ["rna_pca", "wnn"])
def test_methods_without_a_shared_space_have_no_parts(mdata, method):
    mods = ["rna"] if method == "rna_pca" else ["rna", "protein"]
    _, parts = vc.multiomic.embed_per_modality(mdata, method=method, modalities=mods, n_comps=5)
    assert parts is None


def test_evaluate_embedding_reports_mixing_or_not_applicable(mdata):
    res = vc.multiomic.evaluate_embedding(
        mdata, modalities="rna,protein", methods=["rna_pca", "concat_pca", "cca", "wnn"],
        seeds=[0], n_comps=5,
    )  # fmt: skip
    t = res.table
    mixing = t[t["metric"].isin(["foscttm", "modality_asw"])]
    assert set(mixing["method"]) == {"concat_pca", "cca"}  # never a number for the others
    rows = {r["method"]: r for r in res["mixing"]}
    assert rows["rna_pca"]["foscttm"] == "not applicable"
    assert rows["wnn"]["modality_asw"] == "not applicable"
    assert 0 <= rows["cca"]["foscttm"] < 0.5 and 0 <= rows["concat_pca"]["modality_asw"] <= 1
    _z, parts = vc.multiomic.embed_per_modality(
        mdata, method="cca", modalities=["rna", "protein"], n_comps=5
    )
    assert rows["cca"]["foscttm"] == pytest.approx(
        vc.metrics.foscttm(parts["rna"], parts["protein"])
    )
    # the primary report is unchanged: AvgBIO only
    assert res.score_report("avg_bio")["metric"] == "avg_bio"
    assert res.table.query("metric == 'foscttm'")["higher_is_better"].eq(False).all()


def test_wnn_bandwidth_is_seurats_snn_farthest_neighbours():
    """Brute force of the bandwidth: Jaccard of neighbour sets (the cell counted), pruned
    below 1/15; the cells with the k smallest similarities (ties kept); mean distance to
    the k farthest of them minus d1 (Seurat's ComputeSNNwidth)."""
    from sklearn.neighbors import NearestNeighbors

    from virtualcell.multiomic._embed import _snn_far_width

    rng = np.random.default_rng(4)
    z = rng.normal(size=(60, 3))
    k = 6
    dist, idx = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    got = _snn_far_width(idx, z, dist[:, 1], 1 / 15)
    sets = [set(r) for r in idx]
    for i in range(60):
        jac = {j: len(sets[i] & sets[j]) / len(sets[i] | sets[j]) for j in range(60)}
        vals = sorted(v for v in jac.values() if v >= 1 / 15)
        cut = vals[min(k, len(vals)) - 1]
        cand = [j for j, v in jac.items() if 1 / 15 <= v <= cut]  # ties with the k-th kept
        d = sorted(np.linalg.norm(z[j] - z[i]) for j in cand)
        want = np.mean(d[-k:]) - dist[i, 1]
        assert got[i] == pytest.approx(max(want, 1e-8))
