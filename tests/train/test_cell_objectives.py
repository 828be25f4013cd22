"""The objectives that train the cell embedding: mvc (NB decoder), views (InfoNCE), sums."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from virtualcell._errors import ValidationError
from virtualcell.models import CellEncoder, CellEncoderConfig
from virtualcell.train import (
    CellBatches,
    CombinedObjective,
    ExpressionObjective,
    TrainConfig,
    ViewContrastObjective,
    build_objective,
    nb_log_likelihood,
    parse_objective,
    pretrain,
    train,
)

TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2}


def test_nb_log_likelihood_matches_torch_and_scipy():
    from scipy.stats import nbinom

    rng = np.random.default_rng(0)
    x = rng.poisson(3.0, 200).astype(np.float64)
    mu = rng.uniform(0.1, 20.0, 200)
    theta = rng.uniform(0.2, 10.0, 200)
    ours = nb_log_likelihood(torch.tensor(x), torch.tensor(mu), torch.tensor(theta)).numpy()
    ref_scipy = nbinom.logpmf(x, theta, theta / (theta + mu))
    ref_torch = (
        torch.distributions.NegativeBinomial(
            total_count=torch.tensor(theta), probs=torch.tensor(mu / (theta + mu))
        )
        .log_prob(torch.tensor(x))
        .numpy()
    )
    np.testing.assert_allclose(ours, ref_scipy, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours, ref_torch, rtol=1e-6, atol=1e-6)


def _batch(vocab_size: int = 30, n: int = 6, length: int = 9, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (n, length), generator=g)
    ids[:, 0] = 1  # <cls>
    mask = torch.ones(n, length, dtype=torch.bool)
    mask[0, -3:] = False
    ids[~mask] = 0
    counts = torch.poisson(torch.full((n, vocab_size), 2.0), generator=g)
    counts[:, :5] = 0
    values = torch.arange(length, dtype=torch.float32).expand(n, length).clone()
    return {"input_ids": ids, "attention_mask": mask, "values": values, "counts": counts}


class _Recorder:
    """Calls the network and keeps every call's inputs and outputs."""

    def __init__(self, net):
        self.net, self.calls = net, []

    def __call__(self, ids, *args, **kwargs):
        out = self.net(ids, *args, **kwargs)
        out["embedding"].retain_grad()
        self.calls.append((ids.clone(), out))
        return out


def _net(heads=("mlm", "mvc"), pooling="mean"):
    cfg = CellEncoderConfig(vocab_size=30, max_len=16, pooling=pooling, heads=heads, **TINY)
    return CellEncoder(cfg, seed=0)


def test_mvc_loss_is_the_nb_likelihood_of_library_times_softmax():
    net, batch = _net(), _batch()
    obj = ExpressionObjective(mask_id=2, n_special=5)
    rec = _Recorder(net)
    loss, _ = obj.loss(rec, batch, torch.Generator().manual_seed(0))
    ((ids, out),) = rec.calls
    x = batch["counts"][:, 5:].double()
    p = torch.softmax(out["mvc"][:, 5:].double(), 1)
    mu = x.sum(1, keepdim=True) * p
    theta = out["mvc_log_theta"][5:].double().exp().expand_as(x)
    ref = -torch.distributions.NegativeBinomial(theta, probs=mu / (theta + mu)).log_prob(x)
    assert float(loss.detach()) == pytest.approx(float(ref.detach().mean()), rel=1e-4)
    assert bool((ids == 2).any()), "mvc decodes from a masked view"


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_mvc_and_views_train_the_pooled_embedding_mlm_does_not(pooling):
    batch = _batch()
    grads = {}
    for name in ("mlm", "mvc", "views"):
        torch.manual_seed(0)
        rec = _Recorder(_net(pooling=pooling))
        loss, _ = build_objective(name, _Vocab()).loss(rec, batch, torch.Generator().manual_seed(1))
        loss.backward()
        grads[name] = [o["embedding"].grad for _, o in rec.calls]
    assert grads["mlm"] == [None]  # the masked-token loss never reaches the cell embedding
    for name in ("mvc", "views"):
        assert all(g is not None and float(g.abs().sum()) > 0 for g in grads[name]), name
    assert len(grads["views"]) == 2


class _Vocab:
    mask_id, n_special = 2, 5


def test_views_are_two_different_maskings_of_the_same_cells():
    batch = _batch()
    rec = _Recorder(_net(heads=()))
    ViewContrastObjective(mask_prob=0.3).loss(rec, batch, torch.Generator().manual_seed(0))
    (a, _), (b, _) = rec.calls
    orig = batch["input_ids"]
    assert bool((a == 2).any()) and bool((b == 2).any())
    assert not torch.equal(a, b)
    keep = (a != 2) & (b != 2)
    assert torch.equal(a[keep], orig[keep]) and torch.equal(b[keep], orig[keep])
    assert not bool(((a == 2) & (orig < 5)).any()), "special tokens are never masked"


def test_views_loss_is_symmetric_infonce():
    z1 = torch.randn(5, 4)
    z2 = z1 + 0.01 * torch.randn(5, 4)
    outs = iter([{"embedding": z1}, {"embedding": z2}])

    def model(*args, **kwargs):
        return next(outs)

    batch = _batch(n=5)
    obj = ViewContrastObjective(temperature=0.5)
    loss, _ = obj.loss(model, batch, torch.Generator().manual_seed(0))
    n1, n2 = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
    logits = n1 @ n2.T / 0.5
    ref = 0.5 * (
        -torch.log_softmax(logits, 1).diag().mean() - torch.log_softmax(logits.T, 1).diag().mean()
    )
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)


def test_combined_is_the_weighted_sum_on_one_shared_view():
    batch = _batch()
    net = _net()
    single = build_objective("mvc", _Vocab())
    double = build_objective("2*mvc", _Vocab())
    assert isinstance(double, CombinedObjective)
    a, _ = single.loss(net, batch, torch.Generator().manual_seed(3))
    b, m = double.loss(net, batch, torch.Generator().manual_seed(3))
    assert float(b.detach()) == pytest.approx(2 * float(a.detach()), rel=1e-6)
    assert m["loss_mvc"] == pytest.approx(float(a.detach()), rel=1e-6)
    rec = _Recorder(net)
    _, m = build_objective("mlm+0.5*mvc+views", _Vocab()).loss(
        rec, batch, torch.Generator().manual_seed(0)
    )
    assert len(rec.calls) == 2  # one shared view for mlm and mvc, one more for views
    expect = m["loss_mlm"] + 0.5 * m["loss_mvc"] + m["loss_views"]
    assert m["loss"] == pytest.approx(expect, rel=1e-5)


def test_parse_objective_and_its_errors():
    assert parse_objective("mlm") == [("mlm", 1.0)]
    assert parse_objective("mlm + 0.5*mvc+views") == [("mlm", 1.0), ("mvc", 0.5), ("views", 1.0)]
    for bad, msg in [
        ("mlm+xyz", "unknown objective 'xyz'"),
        ("mlm+mlm", "names 'mlm' twice"),
        ("mlm+0*mvc", "weights must be > 0"),
        ("mlm+a*mvc", "bad weight"),
        ("mlm+mae", "cannot be combined"),
        ("", "non-empty"),
    ]:
        with pytest.raises(ValidationError, match=msg):
            parse_objective(bad)


def test_cell_batches_counts_are_the_expression_at_each_token_id(cells, rank_tok):
    batches = CellBatches(cells, rank_tok, batch_size=8, chunk_size=16, counts=True, shuffle=False)
    _, batch = next(batches.iterate())
    X = sp.csr_matrix(cells.X)[:8].toarray()
    ids = rank_tok.vocab.lookup(list(cells.var_names))
    got = batch["counts"].numpy()
    assert got.shape == (8, len(rank_tok.vocab))
    ok = ids >= rank_tok.vocab.n_special
    np.testing.assert_allclose(got[:, ids[ok]], X[:, ok])
    assert float(np.abs(got[:, : rank_tok.vocab.n_special]).sum()) == 0.0
    # the tokens a cell carries are among its expressed genes
    tok = batch["input_ids"].numpy()
    real = batch["attention_mask"].numpy() & (tok >= rank_tok.vocab.n_special)
    assert (got[np.nonzero(real)[0], tok[real]] > 0).all()


@pytest.mark.parametrize("objective", ["mvc", "views", "mlm+mvc+views"])
def test_loss_falls_on_a_tiny_set(cells, rank_tok, objective):
    torch.manual_seed(0)
    cfg = CellEncoderConfig(vocab_size=len(rank_tok.vocab), max_len=32, heads=("mlm", "mvc"),
                            **TINY)  # fmt: skip
    net = CellEncoder(cfg, seed=0)
    batches = CellBatches(cells, rank_tok, batch_size=16, chunk_size=64, counts=True, seed=0)
    tc = TrainConfig(max_steps=60, batch_size=16, lr=3e-3, warmup_steps=2, device="cpu")
    res = train(net, batches, build_objective(objective, rank_tok.vocab), tc)
    loss = [h["loss"] for h in res.history]
    assert np.mean(loss[-10:]) < np.mean(loss[:10]) - 0.05


def test_pretrain_with_a_sum_of_objectives(cells, tmp_path):
    from virtualcell.train import make_tokenizer

    tc = TrainConfig(max_steps=3, batch_size=16, warmup_steps=1, chunk_size=64)
    _, res = pretrain(
        cells,
        tokenizer=make_tokenizer("rank", max_len=16),
        objective="mlm+mvc+views",
        model_config=TINY,
        train_config=tc,
        out_dir=tmp_path / "m",
    )
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["model"]["heads"] == ["mlm", "mvc"]
    assert {"loss_mlm", "loss_mvc", "loss_views"} <= set(res.history[-1])
    assert all(np.isfinite(h["loss"]) for h in res.history)
    with pytest.raises(ValidationError, match="not a pretraining objective"):
        pretrain(cells, objective="classification", model_config=TINY, train_config=tc)
    with pytest.raises(ValidationError, match="cannot be combined"):
        pretrain(cells, objective="mlm+classification", model_config=TINY, train_config=tc)


def test_pretrain_command_takes_a_sum_and_the_pooling(cells, tmp_path, capsys):
    from virtualcell.cli import main

    path = tmp_path / "c.h5ad"
    cells.write_h5ad(path)
    small = ["--d-model", "8", "--n-heads", "2", "--n-layers", "1", "--max-len", "8"]
    argv = ["pretrain", str(path), "--out", str(tmp_path / "ck"), "--max-steps", "2", *small]
    assert main([*argv, "--objective", "mlm+nope"]) == 2
    assert "unknown objective 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()
    assert (
        main([*argv, "--objective", "mlm+0.5*mvc", "--pooling", "mean", "--batch-size", "16"]) == 0
    )
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["model"]["pooling"] == "mean" and cfg["model"]["heads"] == ["mlm", "mvc"]
    assert cfg["training"]["objective"] == "mlm+0.5*mvc"


def test_objective_options_reach_their_part_and_bad_ones_are_refused():
    opts = {"views": {"mask_prob": 0.4, "temperature": 0.2}}
    obj = build_objective("mlm+views", _Vocab(), options=opts)
    assert (obj.parts[1].mask_prob, obj.parts[1].temperature) == (0.4, 0.2)
    assert obj.parts[0].mask_prob == 0.15
    with pytest.raises(ValidationError, match="does not name"):
        build_objective("mlm+views", _Vocab(), options={"mvc": {}})
    with pytest.raises(ValidationError, match=r"no option\(s\) \['xx'\]"):
        build_objective("views", _Vocab(), options={"views": {"xx": 1}})
