from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc
from sklearn.decomposition import PCA

import virtualcell as vc
from virtualcell._errors import ValidationError
from virtualcell.models import (
    CellEncoder,
    CellEncoderConfig,
    CellModel,
    PCAConfig,
    PCAEncoder,
)
from virtualcell.tl import embed


def test_pca_matches_reference_pipeline(cells):
    enc = PCAEncoder(PCAConfig(n_hvg=20, n_comps=5)).fit(cells)
    ref = cells.copy()
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    sc.pp.highly_variable_genes(ref, n_top_genes=20, flavor="seurat")
    ref = ref[:, ref.var["highly_variable"]].copy()
    sc.pp.scale(ref, max_value=10, zero_center=True)
    ref.X = np.asarray(ref.X)
    expected = PCA(5, svd_solver="full").fit_transform(np.asarray(ref.X, dtype=np.float64))
    got = enc.embed(cells)
    assert list(enc.genes) == list(ref.var_names)
    # components are defined up to sign
    signs = np.sign((got * expected).sum(0))
    np.testing.assert_allclose(got, expected * signs, atol=1e-3)


def test_pca_save_load_and_embed_api(cells, tmp_path):
    enc = PCAEncoder(PCAConfig(n_hvg=20, n_comps=4)).fit(cells)
    enc.save_pretrained(tmp_path / "pca")
    out = embed(cells, tmp_path / "pca", key_added="X_pca_vc")
    np.testing.assert_allclose(out, enc.embed(cells), atol=1e-6)
    assert cells.obsm["X_pca_vc"].shape == (cells.n_obs, 4)


def test_pca_gene_coverage_error(cells):
    enc = PCAEncoder(PCAConfig(n_hvg=20, n_comps=4)).fit(cells)
    other = cells.copy()
    other.var_names = [f"X{i}" for i in range(other.n_vars)]
    with pytest.raises(ValidationError, match="PCA genes"):
        enc.embed(other)


def test_tl_embed_writes_obsm_and_keeps_input_on_failure(cells, rank_tok, tmp_path):
    cfg = CellEncoderConfig(
        vocab_size=len(rank_tok.vocab), d_model=16, n_layers=1, n_heads=2, max_len=32
    )
    model = CellModel(CellEncoder(cfg), rank_tok)
    model.save_pretrained(tmp_path / "m")
    out = vc.tl.embed(cells, tmp_path / "m", batch_size=16)
    assert cells.obsm["X_vc"].shape == (cells.n_obs, 16) and out.dtype == np.float32
    np.testing.assert_allclose(cells.obsm["X_vc"], model.embed(cells, batch_size=50), atol=1e-5)
    # backed file gives the same embedding as in memory
    cells.write_h5ad(tmp_path / "c.h5ad")
    backed = sc.read_h5ad(tmp_path / "c.h5ad", backed="r")
    np.testing.assert_allclose(model.embed(backed), out, atol=1e-5)
    bad = cells.copy()
    bad.var_names = [f"X{i}" for i in range(bad.n_vars)]
    with pytest.raises(ValidationError):
        embed(bad, model, key_added="X_bad")
    assert "X_bad" not in bad.obsm
