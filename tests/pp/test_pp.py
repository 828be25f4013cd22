"""vc.pp wrappers checked against direct scanpy calls."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse

import virtualcell as vc
from virtualcell._errors import ValidationError


def _counts(
    n_cells: int = 120, n_genes: int = 60, seed: int = 0, *, sparse_x: bool = True
) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    means = rng.gamma(0.6, 2.0, size=n_genes)
    depth = rng.integers(1, 6, size=(n_cells, 1))
    x = rng.poisson(means[None, :] * depth).astype(np.float32)
    x[:5, :] = 0  # a few empty-ish cells
    x[5:8, : n_genes // 2] = 0
    x[:, -3:] = 0  # undetected genes
    x[10, -3] = 1
    names = [f"MT-G{i}" if i < 4 else f"G{i}" for i in range(n_genes)]
    obs = pd.DataFrame(index=[f"cell{i}" for i in range(n_cells)])
    return ad.AnnData(
        X=sparse.csr_matrix(x) if sparse_x else x, obs=obs, var=pd.DataFrame(index=names)
    )


def _dense(x) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def test_qc_matches_scanpy_filters():
    a = _counts()
    ref = a.copy()
    sc.pp.filter_cells(ref, min_genes=20)
    sc.pp.filter_genes(ref, min_cells=3)
    step = vc.pp.qc(a, min_genes=20, min_cells=3)
    assert a.obs_names.tolist() == ref.obs_names.tolist()
    assert a.var_names.tolist() == ref.var_names.tolist()
    np.testing.assert_array_equal(_dense(a.X), _dense(ref.X))
    assert step["n_obs_before"] == 120 and step["n_obs_after"] == ref.n_obs
    assert step["n_vars_after"] == ref.n_vars
    np.testing.assert_array_equal(_dense(a.layers["counts"]), _dense(ref.X))
    assert vc.pp.history(a)[0]["step"] == "qc"


def test_qc_mito_filter_uses_pct_counts():
    a = _counts(sparse_x=False)
    full = a.copy()
    sc.pp.calculate_qc_metrics(full, qc_vars=[], percent_top=None, log1p=False, inplace=True)
    total = full.X.sum(1)
    pct = 100 * full.X[:, :4].sum(1) / np.where(total > 0, total, 1)
    vc.pp.qc(a, min_genes=0, min_cells=0, max_pct_mito=10.0)
    expected = full.obs_names[pct <= 10.0].tolist()
    assert a.obs_names.tolist() == expected
    assert a.var["mito"].sum() == 4


def test_qc_refuses_filtering_everything_and_leaves_input():
    a = _counts()
    before = a.copy()
    with pytest.raises(ValidationError, match="no cell passes"):
        vc.pp.qc(a, min_genes=10_000)
    assert a.shape == before.shape and "vc" not in a.uns


def test_normalize_log1p_hvg_match_scanpy():
    a = _counts()
    vc.pp.qc(a, min_genes=5, min_cells=1)
    ref = a.copy()
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    sc.pp.highly_variable_genes(ref, n_top_genes=20, flavor="seurat")
    vc.pp.normalize(a, target_sum=1e4)
    vc.pp.log1p(a)
    vc.pp.highly_variable(a, n_top_genes=20, flavor="seurat")
    np.testing.assert_allclose(_dense(a.X), _dense(ref.X), rtol=1e-6)
    assert a.var["highly_variable"].tolist() == ref.var["highly_variable"].tolist()
    assert [s["step"] for s in vc.pp.history(a)] == ["qc", "normalize", "log1p", "highly_variable"]
    # counts preserved
    assert float(_dense(a.layers["counts"]).sum()) == float(
        _dense(a.layers["counts"]).round().sum()
    )


def test_seurat_v3_uses_counts_layer():
    import importlib.util

    from virtualcell import VirtualCellError

    if importlib.util.find_spec("skmisc") is None:
        with pytest.raises(VirtualCellError, match="scikit-misc"):
            vc.pp.highly_variable(_counts(), n_top_genes=10, flavor="seurat_v3")
        return
    a = _counts(n_cells=200, n_genes=80)
    vc.pp.qc(a, min_genes=5, min_cells=1)
    ref = a.copy()
    vc.pp.normalize(a)
    vc.pp.log1p(a)
    vc.pp.highly_variable(a, n_top_genes=15, flavor="seurat_v3")
    sc.pp.highly_variable_genes(ref, n_top_genes=15, flavor="seurat_v3")
    assert a.var["highly_variable"].tolist() == ref.var["highly_variable"].tolist()


def test_refuses_double_log_and_negative_data():
    a = _counts()
    vc.pp.normalize(a)
    vc.pp.log1p(a)
    with pytest.raises(ValidationError, match="already log"):
        vc.pp.log1p(a)
    with pytest.raises(ValidationError, match="already log"):
        vc.pp.normalize(a)
    # logged data without any record is detected from the value range
    b = _counts()
    sc.pp.normalize_total(b, target_sum=1e4)
    b.X = sparse.csr_matrix(np.log1p(_dense(b.X)))
    with pytest.raises(ValidationError, match="already log"):
        vc.pp.log1p(b)
    scaled = vc.datasets.pbmc68k_reduced()  # scaled values, negative
    with pytest.raises(ValidationError, match="negative"):
        vc.pp.normalize(scaled)


def test_hvg_seurat_refuses_counts():
    with pytest.raises(ValidationError, match="log-transformed"):
        vc.pp.highly_variable(_counts(), n_top_genes=10)


def test_standard_chain_and_h5ad_roundtrip(tmp_path):
    a = _counts()
    steps = vc.pp.standard(a, min_genes=5, min_cells=1, max_pct_mito=50.0, n_top_genes=10)
    assert [s["step"] for s in steps] == ["qc", "normalize", "log1p", "highly_variable"]
    path = tmp_path / "pp.h5ad"
    a.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert [s["step"] for s in vc.pp.history(back)] == [
        "qc",
        "normalize",
        "log1p",
        "highly_variable",
    ]
    assert vc.pp.history(back)[0]["params"]["max_pct_mito"] == 50.0
