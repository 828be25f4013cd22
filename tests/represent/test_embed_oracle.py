"""Embedding sources and the oracle methods (tiny pretrained model built here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell import ValidationError


@pytest.fixture
def tiny_model(typed_cells, tmp_path):
    from virtualcell.train import TrainConfig, pretrain

    tok = vc.tokenize.RankTokenizer(max_len=24).fit(typed_cells)
    pretrain(
        typed_cells,
        tokenizer=tok,
        objective="mlm",
        model_config={"d_model": 16, "n_layers": 1, "n_heads": 2, "pooling": "mean"},
        train_config=TrainConfig(max_steps=4, batch_size=16, warmup_steps=1),
        out_dir=tmp_path / "tiny",
    )
    return tmp_path / "tiny"


def test_pca_source_fit_on_reference(typed_cells):
    ref = typed_cells[:160].copy()
    z = vc.represent.embed(typed_cells, source="pca", reference=ref, n_comps=5)
    assert z.shape == (240, 5) and "X_vc" in typed_cells.obsm
    # fitted on the reference only: embedding the reference alone gives the same rows
    z_ref = vc.represent.embed(ref, source="pca", n_comps=5, key_added="X_ref")
    assert np.allclose(z[:160], z_ref, atol=1e-4)


def test_genept_source_with_a_given_table(typed_cells):
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(48, 8)), index=typed_cells.var_names)
    z = vc.represent.embed(typed_cells, source="genept", gene_embeddings=table)
    assert z.shape == (240, 8)
    assert np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def test_oracle_source_and_methods(typed_cells, tiny_model):
    z = vc.represent.embed(typed_cells, source="oracle", model=tiny_model)
    assert z.shape == (240, 16)
    zp = vc.represent.embed(
        typed_cells, source="oracle", model=tiny_model, post="pca", key_added="X_post"
    )
    assert zp.shape[0] == 240 and np.isfinite(zp).all()
    res = vc.represent.annotate(
        typed_cells,
        label_key="cell_type",
        method="knn",
        embedding="oracle",
        model=tiny_model,
        query_fraction=0.3,
    )
    assert res.info["embedding"] == "oracle" and "accuracy" in res.metrics


def test_finetune_method(typed_cells, tiny_model):
    res = vc.represent.annotate(
        typed_cells,
        label_key="cell_type",
        method="finetune",
        model=tiny_model,
        query_fraction=0.3,
        method_options={"max_steps": 20, "batch_size": 16, "lr": 3e-3},
    )
    assert res.info["method"] == "finetune"
    assert res.probabilities.shape == (72, 4)
    assert res.metrics["accuracy"] > 0.5  # 4 balanced types: chance is 0.25


def test_unknown_source_and_options(typed_cells):
    with pytest.raises(ValidationError, match="unknown embedding source"):
        vc.represent.embed(typed_cells, source="nope")
    # no model: the shipped checkpoint, whose vocabulary the synthetic gene names miss
    with pytest.raises(ValidationError, match="gene identifiers"):
        vc.represent.embed(typed_cells, source="oracle")
    with pytest.raises(ValidationError, match="n_compz"):
        vc.represent.embed(typed_cells, source="pca", n_compz=3)


def test_oracle_input_readout_is_the_expression_weighted_gene_embedding(typed_cells, tiny_model):
    model = vc.models.load(tiny_model)
    z = vc.represent.embed(typed_cells, source="oracle", model=model, readout="input")
    # by hand: log1p CP10k of the counts, weighted mean of the input gene-embedding rows
    X = np.asarray(typed_cells.X.todense() if hasattr(typed_cells.X, "todense") else typed_cells.X)
    L = np.log1p(X / X.sum(1, keepdims=True) * 1e4)
    ids = model.tokenizer.vocab.lookup(typed_cells.var_names)
    table = model.network.gene_embedding.weight.detach().numpy()
    keep = ids >= 0
    want = L[:, keep] @ table[ids[keep]] / L[:, keep].sum(1, keepdims=True)
    np.testing.assert_allclose(z, want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(z, vc.represent.embed(typed_cells, source="oracle", model=model))
    # a gene written in another case is found upper-cased (the corpus upper-cases symbols)
    lower = typed_cells.copy()
    lower.var_names = [g.lower() for g in typed_cells.var_names]  # G0 -> g0
    z_lower = vc.represent.embed(lower, source="oracle", model=model, readout="input")
    np.testing.assert_allclose(z_lower, z, atol=1e-6)
    res = vc.represent.annotate(
        typed_cells, label_key="cell_type", method="linear_probe", embedding="oracle",
        model=tiny_model, query_fraction=0.3, method_options={"readout": "input"},
    )  # fmt: skip
    assert res.metrics["macro_f1"] > res.metrics["majority_macro_f1"]
    both = vc.represent.embed(typed_cells, source="oracle", model=model, readout="pooled+input")
    pooled = vc.represent.embed(typed_cells, source="oracle", model=model)
    want = np.hstack([pooled, z])
    want = (want - want.mean(0)) / np.where(want.std(0) > 0, want.std(0), 1.0)
    np.testing.assert_allclose(both, want, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValidationError, match="readout must be"):
        vc.represent.embed(typed_cells, source="oracle", model=model, readout="cls")
    other = typed_cells.copy()
    other.var_names = [f"NOPE{i}" for i in range(other.n_vars)]
    with pytest.raises(ValidationError, match="no gene of the data"):
        vc.represent.embed(other, source="oracle", model=model, readout="input")
