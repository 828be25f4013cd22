"""Explicit attention-weights path of the transformer layers (used by the GRN oracle)."""

from __future__ import annotations

import torch

from virtualcell.models import CellEncoder, CellEncoderConfig
from virtualcell.models._layers import SelfAttention


def _attn() -> tuple[SelfAttention, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    attn = SelfAttention(16, 4, 0.0).eval()
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    x = torch.randn(3, 6, 16, generator=gen)
    keys = torch.ones(3, 6, dtype=torch.bool)
    keys[1, 4:] = False  # padding in the second sequence
    return attn, x, keys


def test_weights_match_fused_output_and_hand_softmax():
    attn, x, keys = _attn()
    with torch.no_grad():
        fused = attn(x, keys, False)
        out, w = attn(x, keys, False, return_attention=True)
        # reference softmax(q k^T / sqrt(d)) by hand
        q, k, _ = attn.qkv(x).view(3, 6, 3, 4, 4).unbind(2)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        logits = q @ k.transpose(-2, -1) / 2.0
        logits = logits.masked_fill(~keys[:, None, None, :], float("-inf"))
        ref = torch.softmax(logits, -1)
    assert w.shape == (3, 4, 6, 6)
    torch.testing.assert_close(out, fused, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, 6))
    assert float(w[1, :, :, 4:].abs().max()) == 0.0  # padding keys get no attention


def test_causal_weights_are_lower_triangular():
    attn, x, keys = _attn()
    with torch.no_grad():
        fused = attn(x, keys, True)
        out, w = attn(x, keys, True, return_attention=True)
    torch.testing.assert_close(out, fused, rtol=1e-5, atol=1e-6)
    assert float(w.triu(1).abs().max()) == 0.0


def test_encoder_return_attention_matches_default_path():
    cfg = CellEncoderConfig(
        vocab_size=12,
        d_model=16,
        n_layers=2,
        n_heads=2,
        max_len=8,
        value_mode="continuous",
        heads=("mae",),
    )
    net = CellEncoder(cfg, seed=1).eval()
    gen = torch.Generator().manual_seed(2)
    ids = torch.randint(5, 12, (4, 7), generator=gen)
    vals = torch.rand(4, 7, generator=gen)
    mask = torch.ones(4, 7, dtype=torch.bool)
    with torch.no_grad():
        h = net.encode(ids, vals, mask)
        h2, maps = net.encode(ids, vals, mask, return_attention=True)
    assert len(maps) == 2 and maps[0].shape == (4, 2, 7, 7)
    torch.testing.assert_close(h2, h, rtol=1e-5, atol=1e-5)
