"""The CellText network, its checkpoint folder, and the contrastive objective."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import virtualcell as vc
from virtualcell._errors import DataFormatError, ValidationError
from virtualcell.models import CellText, CellTextConfig, CellTextModel
from virtualcell.train import OBJECTIVES, ContrastiveObjective


def test_config_validation_and_registry():
    cfg = CellTextConfig(cell_dim=10, embed_dim=8, hidden=16)
    assert CellTextConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.n_parameters() == sum(p.numel() for p in CellText(cfg).parameters())
    with pytest.raises(ValidationError, match=r"CellTextConfig\.embed_dim"):
        CellTextConfig(cell_dim=10, embed_dim=0)
    with pytest.raises(ValidationError, match="temperature"):
        CellTextConfig(cell_dim=10, temperature=0.0)
    assert vc.models.ARCHITECTURES.get("cell_text") is CellText
    assert "contrastive" in OBJECTIVES.names()


def test_network_outputs_unit_vectors():
    net = CellText(CellTextConfig(cell_dim=6, text_dim=12, embed_dim=4, hidden=8), seed=1)
    out = net(cells=torch.randn(5, 6), texts=torch.randn(3, 12))
    assert out["cell_embedding"].shape == (5, 4) and out["text_embedding"].shape == (3, 4)
    assert torch.allclose(out["cell_embedding"].norm(dim=1), torch.ones(5), atol=1e-5)
    assert float(out["logit_scale"].detach()) == pytest.approx(1 / 0.07, rel=1e-4)
    frozen = CellText(CellTextConfig(cell_dim=6, learn_temperature=False))
    assert not frozen.logit_scale.requires_grad


def _clip_reference(c, t, scale):
    logits = scale * c @ t.T
    target = torch.arange(len(c))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def test_contrastive_loss_is_clip_with_one_pair_per_class():
    torch.manual_seed(0)
    net = CellText(CellTextConfig(cell_dim=6, text_dim=12, embed_dim=4, hidden=0))
    batch = {"cells": torch.randn(7, 6), "texts": torch.randn(7, 12)}
    loss, metrics = ContrastiveObjective().loss(net, batch, torch.Generator())
    out = net(**batch)
    ref = _clip_reference(out["cell_embedding"], out["text_embedding"], out["logit_scale"])
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)
    assert 0 <= metrics["acc"] <= 1


def test_contrastive_loss_with_classes_and_repeated_texts():
    torch.manual_seed(1)
    net = CellText(CellTextConfig(cell_dim=4, text_dim=5, embed_dim=3, hidden=0))
    cells, texts = torch.randn(4, 4), torch.randn(2, 5)
    batch = {
        "cells": cells,
        "texts": texts[[0, 0, 1, 1]],
        "labels": torch.tensor([0, 0, 1, 1]),
        "text_ids": torch.tensor([10, 10, 11, 11]),
    }
    loss, _ = ContrastiveObjective().loss(net, batch, torch.Generator())
    out = net(cells=cells, texts=texts)
    logits = out["logit_scale"] * out["cell_embedding"] @ out["text_embedding"].T  # 4 x 2
    y = torch.tensor([0, 0, 1, 1])
    c2t = F.cross_entropy(logits, y)  # one positive text per cell after de-duplication
    lt = logits.T  # 2 x 4: text u, positives = cells of its class
    pos = y[None, :] == torch.arange(2)[:, None]
    t2c = -(torch.logsumexp(lt.masked_fill(~pos, float("-inf")), 1) - torch.logsumexp(lt, 1))
    assert float(loss) == pytest.approx(float(0.5 * (c2t + t2c.mean())), rel=1e-5)
    with pytest.raises(ValidationError, match="cells"):
        ContrastiveObjective().loss(net, {"texts": texts}, torch.Generator())


@pytest.fixture
def bridge_parts(cell_factory):
    adata = cell_factory(n_cells=60, n_genes=30, seed=0, groups=3)
    enc = vc.models.PCAEncoder(vc.models.PCAConfig(n_hvg=30, n_comps=5)).fit(adata)
    net = CellText(CellTextConfig(cell_dim=5, text_dim=384, embed_dim=4, hidden=8), seed=0)
    f = enc.embed(adata)
    net.set_input_stats(f.mean(0), f.std(0))
    return adata, CellTextModel(net, enc, extra={"labels": ["a", "b"]})


def test_save_load_roundtrip(tmp_path, bridge_parts):
    adata, model = bridge_parts
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "cell_encoder" / "config.json").is_file()
    back = vc.models.load(tmp_path / "m")
    assert isinstance(back, CellTextModel)
    assert back.extra["labels"] == ["a", "b"]
    np.testing.assert_allclose(back.embed_cells(adata), model.embed_cells(adata), atol=1e-6)
    v = np.random.default_rng(0).normal(size=(3, 384)).astype(np.float32)
    np.testing.assert_allclose(back.embed_text_vectors(v), model.embed_text_vectors(v), atol=1e-6)


def test_load_refuses_a_replaced_cell_encoder(tmp_path, bridge_parts, cell_factory):
    _, model = bridge_parts
    model.save_pretrained(tmp_path / "m")
    other = vc.models.PCAEncoder(vc.models.PCAConfig(n_hvg=30, n_comps=5)).fit(
        cell_factory(n_cells=40, n_genes=30, seed=9)
    )
    other.save_pretrained(tmp_path / "m" / "cell_encoder", overwrite=True)
    with pytest.raises(DataFormatError, match="cell encoder was replaced"):
        CellTextModel.from_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["architecture"] == "cell_text"


def test_wrapper_checks(bridge_parts):
    _adata, model = bridge_parts
    with pytest.raises(ValidationError, match="CellText"):
        CellTextModel(torch.nn.Linear(2, 2), model.cell_encoder)
    with pytest.raises(ValidationError, match="cell_encoder"):
        CellTextModel(model.network, object())
    with pytest.raises(ValidationError, match="one string"):
        model.embed_texts("a sentence")
