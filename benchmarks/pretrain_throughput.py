"""Pretraining throughput of CellEncoder versus this machine's measured matmul peak.

Measures, back to back (so that load from other processes affects both alike):

1. the float32 matmul peak (best of several ``n x n`` products, GFLOP/s);
2. the training step of a CellEncoder (forward + backward + AdamW) on synthetic token
   batches: cells/s, tokens/s and achieved GFLOP/s, counted analytically
   (``3 x`` forward FLOPs: projections, MLP, attention scores / mixing, MLM head on the
   masked positions; embeddings, norms and softmax not counted);
3. the same through the full pipeline (``vc.train.train`` on tokenized simulated counts).

Usage::

    python benchmarks/pretrain_throughput.py [--d-model 256 --n-layers 4 --seq 256 --batch 16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def train_flops_per_token(
    d: int, layers: int, ff: int, seq: int, vocab: int, mask_prob: float
) -> float:
    per_layer = 2 * (4 * d * d + 2 * d * ff) + 4 * seq * d
    head = mask_prob * 2 * (d * d + d * vocab)
    return 3 * (layers * per_layer + head)


def synthetic_batch(batch: int, seq: int, vocab: int, gen: torch.Generator) -> dict:
    ids = torch.randint(5, vocab, (batch, seq), generator=gen)
    ids[:, 0] = 1
    return {
        "input_ids": ids,
        "values": torch.arange(seq, dtype=torch.float32).expand(batch, seq).clone(),
        "attention_mask": torch.ones(batch, seq, dtype=torch.bool),
    }


def model_step_rate(args: argparse.Namespace) -> tuple[float, float, int]:
    from virtualcell.models import CellEncoder, CellEncoderConfig
    from virtualcell.train import MaskedTokenObjective

    cfg = CellEncoderConfig(
        vocab_size=args.vocab,
        d_model=args.d_model,
        n_layers=args.n_layers,
        n_heads=args.n_heads,
        max_len=args.seq,
    )
    net = CellEncoder(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    obj = MaskedTokenObjective()
    gen = torch.Generator().manual_seed(0)
    batch = synthetic_batch(args.batch, args.seq, args.vocab, gen)
    for _ in range(2):  # warm-up
        loss, _ = obj.loss(net, batch, gen)
        loss.backward()
        opt.step()
        opt.zero_grad()
    t = time.perf_counter()
    for _ in range(args.steps):
        loss, _ = obj.loss(net, batch, gen)
        loss.backward()
        opt.step()
        opt.zero_grad()
    dt = time.perf_counter() - t
    n_params = sum(p.numel() for p in net.parameters())
    return args.steps * args.batch / dt, args.steps * args.batch * args.seq / dt, n_params


def pipeline_rate(args: argparse.Namespace) -> tuple[float, float]:
    import anndata as ad
    import scipy.sparse as sp

    from virtualcell.train import TrainConfig, pretrain

    rng = np.random.default_rng(0)
    n_genes = args.vocab - 5
    rate = rng.gamma(0.3, 2.0, size=n_genes)
    X = sp.csr_matrix(
        rng.poisson(rate, size=(args.batch * (args.steps + 2), n_genes)).astype(np.float32)
    )
    adata = ad.AnnData(X)
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    from virtualcell.train import make_tokenizer

    tc = TrainConfig(
        max_steps=args.steps, batch_size=args.batch, warmup_steps=1, chunk_size=args.batch * 8
    )
    _, res = pretrain(
        adata,
        tokenizer=make_tokenizer("rank", max_len=args.seq - 1),
        objective="mlm",
        model_config={"d_model": args.d_model, "n_layers": args.n_layers, "n_heads": args.n_heads},
        train_config=tc,
    )
    return res.cells_per_s, res.tokens_per_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--vocab", type=int, default=2005)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    peak = matmul_peak()
    cells_s, tok_s, n_params = model_step_rate(args)
    peak_after = matmul_peak()
    fpt = train_flops_per_token(
        args.d_model, args.n_layers, 4 * args.d_model, args.seq, args.vocab, 0.15
    )
    pipe_cells, pipe_tok = pipeline_rate(args)
    achieved = tok_s * fpt / 1e9
    rows = [
        ("torch threads", f"{torch.get_num_threads()}"),
        ("matmul peak fp32 (before / after)", f"{peak:.1f} / {peak_after:.1f} GFLOP/s"),
        (
            "model",
            f"d={args.d_model} L={args.n_layers} seq={args.seq} batch={args.batch} params={n_params:,}",
        ),
        ("train FLOPs / token", f"{fpt / 1e6:.2f} MFLOP"),
        ("model step: cells/s, tokens/s", f"{cells_s:.1f}, {tok_s:.0f}"),
        (
            "model step: achieved",
            f"{achieved:.1f} GFLOP/s = {100 * achieved / max(peak, peak_after):.0f}% of peak",
        ),
        ("pipeline (tokenize + train): cells/s", f"{pipe_cells:.1f} ({pipe_tok:.0f} tokens/s)"),
        (
            "pipeline: achieved",
            f"{pipe_tok * fpt / 1e9:.1f} GFLOP/s = {100 * pipe_tok * fpt / 1e9 / max(peak, peak_after):.0f}% of peak",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
