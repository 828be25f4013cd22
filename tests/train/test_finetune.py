"""Fine-tuning (vc.train.finetune) and the pretrain / embed / finetune commands end to end."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest
import torch

from virtualcell.cli import main
from virtualcell.models import CellModel
from virtualcell.train import FINETUNE_CONFIG, finetune


def test_cli_pretrain_embed_finetune(cells, tmp_path):
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    ck = tmp_path / "ck"
    args = [
        "pretrain",
        str(path),
        "--tokenizer",
        "rank",
        "--objective",
        "mlm",
        "--out",
        str(ck),
        "--max-steps",
        "3",
        "--seed",
        "1",
        "--batch-size",
        "16",
        "--d-model",
        "16",
        "--n-layers",
        "1",
        "--n-heads",
        "2",
        "--max-len",
        "16",
    ]
    assert main(args) == 0
    cfg = json.loads((ck / "config.json").read_text())
    assert cfg["training"]["steps"] == 3 and cfg["model"]["d_model"] == 16
    assert main(["embed", str(path), "--model", str(ck), "--out", str(tmp_path / "e.h5ad")]) == 0
    emb = ad.read_h5ad(tmp_path / "e.h5ad").obsm["X_vc"]
    np.testing.assert_allclose(emb, CellModel.from_pretrained(ck).embed(cells), atol=1e-5)
    ft = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                str(path),
                "--model",
                str(ck),
                "--label",
                "cell_type",
                "--out",
                str(ft),
                "--max-steps",
                "2",
                "--batch-size",
                "16",
            ]
        )
        == 0
    )
    assert CellModel.from_pretrained(ft).architecture == "cell_predictor"
    # user errors are one line, exit code 2
    assert (
        main(
            [
                "pretrain",
                str(path),
                "--objective",
                "mae",
                "--out",
                str(tmp_path / "x"),
                "--max-steps",
                "1",
                "--d-model",
                "16",
                "--n-heads",
                "2",
            ]
        )
        == 2
    )


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_finetune_learns_labels(cells, rank_tok, task, tmp_path):
    from virtualcell.models import CellEncoder, CellEncoderConfig

    cfg = CellEncoderConfig(
        vocab_size=len(rank_tok.vocab), d_model=16, n_layers=1, n_heads=2, max_len=32
    )
    base = CellModel(CellEncoder(cfg, seed=0), rank_tok)
    before = {k: v.clone() for k, v in base.network.state_dict().items()}
    label = "cell_type" if task == "classification" else "score"
    tc = FINETUNE_CONFIG.replace(max_steps=40, batch_size=16, lr=3e-3, warmup_steps=4)
    tuned = finetune(
        cells, base, label_key=label, task=task, train_config=tc, out_dir=tmp_path / "ft"
    )
    pred = CellModel.from_pretrained(tmp_path / "ft").predict(cells)
    np.testing.assert_array_equal(pred, tuned.predict(cells))
    if task == "classification":
        assert (pred == cells.obs["cell_type"].to_numpy()).mean() > 0.9
    else:
        assert np.corrcoef(pred, cells.obs["score"])[0, 1] > 0.9
    # the base model is untouched, while the tuned copy of it did train
    after = base.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    tuned_base = tuned.network.base.state_dict()
    moved = max(float((tuned_base[k] - before[k]).abs().max()) for k in tuned_base)
    assert moved > 1e-3
