from __future__ import annotations

import numpy as np
import pytest
import torch

from virtualcell.models import CellEncoder, CellEncoderConfig, CellGPT, CellGPTConfig


def tiny(mode="rank", pooling="cls", **kw) -> CellEncoder:
    cfg = CellEncoderConfig(
        vocab_size=30,
        d_model=16,
        n_layers=2,
        n_heads=2,
        max_len=12,
        value_mode=mode,
        n_bins=5,
        pooling=pooling,
        heads=("mlm", "mae"),
        **kw,
    )
    return CellEncoder(cfg, seed=3)


def batch(lengths, seed=0, width=None):
    g = torch.Generator().manual_seed(seed)
    width = width or max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    vals = torch.zeros(len(lengths), width)
    mask = torch.zeros(len(lengths), width, dtype=torch.bool)
    for i, n in enumerate(lengths):
        ids[i, 0] = 1
        ids[i, 1:n] = torch.randint(5, 30, (n - 1,), generator=g)
        vals[i, :n] = torch.randint(0, 5, (n,), generator=g).float()
        mask[i, :n] = True
    return ids, vals, mask


@pytest.mark.parametrize("mode", ["rank", "bin", "continuous"])
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_embedding_does_not_depend_on_other_cells_or_padding(mode, pooling):
    net = tiny(mode, pooling).eval()
    ids, vals, mask = batch([4, 9, 6, 12], seed=1)
    together = net.embed(ids, vals, mask)
    for i in range(4):
        n = int(mask[i].sum())
        alone = net.embed(ids[i : i + 1, :n], vals[i : i + 1, :n], mask[i : i + 1, :n])
        torch.testing.assert_close(alone[0], together[i], atol=1e-5, rtol=1e-5)
    # shuffling the batch permutes the embeddings and nothing else
    perm = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(
        net.embed(ids[perm], vals[perm], mask[perm]), together[perm], atol=1e-5, rtol=1e-5
    )


def test_same_seed_same_weights_and_global_rng_irrelevant():
    torch.manual_seed(123)
    a = tiny()
    torch.manual_seed(999)
    b = tiny()
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    c = CellEncoder(a.config, seed=4)
    assert not torch.equal(c.gene_embedding.weight, a.gene_embedding.weight)


def test_heads_shapes_and_masked_positions():
    net = tiny("continuous").eval()
    ids, vals, mask = batch([5, 8])
    target = torch.zeros_like(mask)
    target[0, 2] = target[1, 3] = target[1, 6] = True  # three values hidden

    def run(values):
        return net(ids, values, mask, value_mask=target, target_mask=target, heads=("mlm", "mae"))

    out = run(vals)
    n_t = int(target.sum())
    assert out["mlm"].shape == (n_t, 30)
    assert out["mae"].shape == (n_t,)
    assert out["embedding"].shape == (2, 16)
    # a hidden value cannot leak: changing it changes nothing the model computes ...
    leaked = vals.clone()
    leaked[target] += 7.0
    for key in ("hidden", "mae", "mlm", "embedding"):
        torch.testing.assert_close(run(leaked)[key], out[key], atol=1e-6, rtol=1e-6)
    # ... while a visible value is read (and hiding one changes the input)
    visible = vals.clone()
    visible[1, 4] += 7.0
    assert not torch.allclose(run(visible)["hidden"], out["hidden"], atol=1e-4)
    plain = net(ids, vals, mask)["hidden"]
    assert not torch.allclose(out["hidden"], plain, atol=1e-4)


def test_gradient_checkpointing_same_loss_and_grads():
    torch.manual_seed(0)
    a = tiny()
    b = tiny(gradient_checkpointing=True)
    ids, vals, mask = batch([5, 8, 3])
    grads = []
    for net in (a, b):
        net.train()
        loss = net(ids, vals, mask, heads=("mlm",))["mlm"].logsumexp(-1).mean()
        loss.backward()
        grads.append([p.grad.clone() for p in net.parameters() if p.grad is not None])
    for ga, gb in zip(*grads, strict=True):
        torch.testing.assert_close(ga, gb, atol=1e-6, rtol=1e-5)


def test_too_long_sequence_is_an_error():
    net = tiny()
    ids, vals, mask = batch([13])
    with pytest.raises(ValueError, match="max_len"):
        net.embed(ids, vals, mask)


def test_gpt_is_causal_and_generates_unique_genes():
    cfg = CellGPTConfig(vocab_size=30, d_model=16, n_layers=2, n_heads=2, max_len=20)
    net = CellGPT(cfg, seed=0).eval()
    ids, _, mask = batch([8, 8])
    changed = ids.clone()
    changed[:, 5] = 7
    la = net(ids, None, mask)["logits"]
    lb = net(changed, None, mask)["logits"]
    torch.testing.assert_close(la[:, :5], lb[:, :5])  # past does not see the future
    assert not torch.allclose(la[:, 5:], lb[:, 5:])
    prompt = torch.tensor([[1, 10], [1, 11]])
    g1 = net.generate(prompt, 12, generator=torch.Generator().manual_seed(5))
    g2 = net.generate(prompt, 12, generator=torch.Generator().manual_seed(5))
    assert torch.equal(g1, g2)
    for row in g1.tolist():
        genes = [t for t in row[1:] if t >= cfg.n_special]
        assert len(genes) == len(set(genes))
        assert all(t not in (1, 2, 4) for t in row[1:])  # no <cls>/<mask>/<unk>
        if 3 in row:
            assert all(t == 0 for t in row[row.index(3) + 1 :])
    greedy = net.generate(prompt, 3, temperature=0)
    assert greedy.shape[1] <= 5
    np.testing.assert_array_equal(greedy[:, :2].numpy(), prompt.numpy())
