from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from virtualcell.models import CellEncoder, CellEncoderConfig, CellPredictor, CellPredictorConfig
from virtualcell.train import (
    CellBatches,
    ClassificationObjective,
    MaskedTokenObjective,
    TrainConfig,
    lr_at,
    train,
)


class Kill(Exception):
    pass


def encoder(tok, **kw) -> CellEncoder:
    cfg = CellEncoderConfig(
        vocab_size=len(tok.vocab), d_model=16, n_layers=1, n_heads=2, max_len=32, **kw
    )
    return CellEncoder(cfg, seed=0)


def run(tok, cells, *, steps=8, out=None, callback=None, seed=0, dropout=0.0, accum=1, bs=8):
    net = encoder(tok, dropout=dropout)
    data = CellBatches(cells, tok, batch_size=bs, chunk_size=32, seed=seed)
    cfg = TrainConfig(
        max_steps=steps,
        batch_size=bs,
        grad_accum=accum,
        lr=3e-3,
        warmup_steps=2,
        seed=seed,
        checkpoint_every=3,
        chunk_size=32,
    )
    res = train(net, data, MaskedTokenObjective(), cfg, out_dir=out, callback=callback)
    return net, res


def assert_same(a, b):
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), f"tensor {k} differs"


def test_resume_after_kill_gives_identical_weights(cells, rank_tok, tmp_path):
    # 120 cells in chunks of 32 -> 8 batches of <= 16 per epoch: 12 steps cross an epoch
    ref, ref_res = run(rank_tok, cells, steps=12, dropout=0.1, bs=16)

    def kill(step, _):
        if step == 7:  # after the checkpoint at 6, mid-way to 9
            raise Kill

    with pytest.raises(Kill):
        run(rank_tok, cells, steps=12, out=tmp_path, callback=kill, dropout=0.1, bs=16)
    resumed, res = run(rank_tok, cells, steps=12, out=tmp_path, dropout=0.1, bs=16)
    assert res.resumed_from == 6
    assert_same(ref, resumed)
    assert [h["loss"] for h in res.history] == [h["loss"] for h in ref_res.history]
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step-00000012"


def test_deterministic_and_seed_sensitive(cells, rank_tok):
    torch.manual_seed(1)
    a, ra = run(rank_tok, cells, steps=5, dropout=0.1)
    state = torch.random.get_rng_state()
    torch.manual_seed(2)
    b, _ = run(rank_tok, cells, steps=5, dropout=0.1)
    assert_same(a, b)
    c, _ = run(rank_tok, cells, steps=5, seed=1)
    assert not torch.equal(a.gene_embedding.weight, c.gene_embedding.weight)
    # the loop does not consume the caller's global RNG
    torch.manual_seed(1)
    run(rank_tok, cells, steps=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(math.isfinite(h["loss"]) for h in ra.history)


def test_pretraining_lowers_mlm_loss(cells, rank_tok):
    net = encoder(rank_tok)
    data = CellBatches(cells, rank_tok, batch_size=16, chunk_size=32)
    cfg = TrainConfig(max_steps=30, batch_size=16, chunk_size=32, lr=1e-2, warmup_steps=3)
    res = train(net, data, MaskedTokenObjective(mask_prob=0.3), cfg)
    losses = [h["loss"] for h in res.history]
    assert np.mean(losses[-10:]) < np.mean(losses[:5]) - 0.08
    assert 3 * 120 < res.cells <= 30 * 16 and res.cells_per_s > 0  # 8 batches = 120 cells per epoch


def test_grad_accumulation_equals_larger_batch(cells, rank_tok):
    targets = (np.arange(cells.n_obs) % 2).astype(np.int64)

    def fresh():
        base = encoder(rank_tok, heads=()).config.to_dict()
        return CellPredictor(CellPredictorConfig("cell_encoder", base, "classification", 2, 8))

    def one(bs, accum):
        net = fresh()
        data = CellBatches(cells, rank_tok, batch_size=bs, chunk_size=32, seed=0, targets=targets)
        cfg = TrainConfig(
            max_steps=3,
            batch_size=bs,
            grad_accum=accum,
            lr=1e-2,
            warmup_steps=0,
            chunk_size=32,
            clip_norm=0,
        )
        train(net, data, ClassificationObjective(), cfg)
        return net

    a, b = one(16, 1), one(8, 2)
    for va, vb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(va, vb, atol=2e-5, rtol=1e-4)
    # the equality above is not vacuous: training moved the weights well beyond the tolerance
    moved = [
        float((va - v0).abs().max())
        for va, v0 in zip(a.state_dict().values(), fresh().state_dict().values(), strict=True)
        if va.is_floating_point()
    ]
    assert max(moved) > 1e-3


def test_lr_schedule():
    cfg = TrainConfig(max_steps=110, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55)
    assert lr_at(110, cfg) == pytest.approx(0.1)
