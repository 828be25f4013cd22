"""``vc.multiomic.impute_protein`` / ``evaluate_imputation``: methods, baselines, scores."""

from __future__ import annotations

import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import virtualcell as vc


def _linear_cells(n=200, seed=0):
    """Protein counts that follow their own gene's mRNA (the own_mrna model is exact)."""
    rng = np.random.default_rng(seed)
    rna = rng.poisson(rng.gamma(2.0, 5.0, (n, 6))).astype(np.float32)
    prot = np.round(np.expm1(np.log1p(rna[:, :3] / rna.sum(1, keepdims=True) * 1e4) / 2))
    obs = pd.DataFrame(index=[f"c{i}" for i in range(n)])
    r = ad.AnnData(sp.csr_matrix(rna), obs=obs.copy())
    r.var_names = [f"g{i}" for i in range(6)]
    p = ad.AnnData(sp.csr_matrix(prot.astype(np.float32)), obs=obs.copy())
    p.var_names = ["p0", "p1", "p2"]
    p.var["gene"] = ["g0", "g1", "g2"]
    with mudata.set_options(pull_on_update=False):
        return mudata.MuData({"rna": r, "protein": p})


def test_methods_predict_query_cells(mdata):
    train, query = mdata[:180], mdata["rna"][180:]
    with mudata.set_options(pull_on_update=False):
        train = train.copy()
    for method in vc.multiomic.IMPUTE_METHODS.names():
        pred = vc.multiomic.impute_protein(train, query, method=method, n_comps=5)
        assert pred.shape == (60, mdata["protein"].n_vars)
        assert list(pred.index) == list(query.obs_names)
        assert list(pred.columns) == list(mdata["protein"].var_names)
        assert np.isfinite(pred.to_numpy()).all()
    mean = vc.multiomic.impute_protein(train, query, method="mean")
    assert (mean.nunique() == 1).all()


def test_knn_returns_neighbours_protein_for_a_training_cell(mdata):
    with mudata.set_options(pull_on_update=False):
        train = mdata.copy()
    pred = vc.multiomic.impute_protein(train, mdata["rna"][:5], method="knn", k=1)
    clr = np.log1p(mdata["protein"].X[:5].toarray())
    clr -= clr.mean(1, keepdims=True)
    assert np.allclose(pred.to_numpy(), clr, atol=1e-6)


def test_evaluate_imputation_scores_and_the_mean_baseline():
    m = _linear_cells()
    res = vc.multiomic.evaluate_imputation(m, seeds=[0, 1], test_fraction=0.25)
    assert res.task == "multiomic_impute"
    s = res.summary().pivot(index="method", columns="metric", values="mean")
    assert s.loc["mean", "protein_pearson"] == 0.0  # constant prediction counts 0
    assert s.loc["own_mrna", "protein_pearson"] > 0.8  # protein follows its own mRNA here
    assert s.loc["own_mrna", "protein_rmse"] < s.loc["mean", "protein_rmse"]
    assert {r["method"] for r in res["results"]} == {"mean", "own_mrna", "knn", "ridge"}
    assert res["best_baseline"] == "own_mrna"


def test_errors(mdata):
    with mudata.set_options(pull_on_update=False):
        train = mdata[:100].copy()
    query = mdata["rna"][100:, :20]
    with pytest.raises(vc.ValidationError, match="the query RNA lacks 10 training gene"):
        vc.multiomic.impute_protein(train, query)
    with pytest.raises(vc.ValidationError, match="no modality 'adt'"):
        vc.multiomic.impute_protein(train, mdata["rna"][100:], protein="adt")
    with pytest.raises(vc.ValidationError, match="test_fraction"):
        vc.multiomic.evaluate_imputation(mdata, test_fraction=1.0)
