"""Pretrain a small CellEncoder on CPU and compare its embedding with PCA-on-HVG on pbmc68k_reduced.

Corpus (everything a fresh machine has after ``pip install``; see docs/train.md):

* scanpy's bundled ``pbmc68k_reduced`` (``.raw``: 700 cells x 765 genes, log-normalised);
* scirpy's test file ``wu2020_200_v0_11.h5ad`` (200 T cells, raw counts), restricted to
  the pbmc genes, located inside the installed package without importing scirpy;
* simulated cells: multinomial resamples of random corpus cells at new library sizes.

Labels (``bulk_labels``) are used only for evaluation. Outputs go to ``results/``:
``pretrain_loss.png``, ``pretrain_quality.json`` and the checkpoint ``pbmc_encoder/``.

Usage::

    python benchmarks/pretrain_quality.py --steps 600
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

RESULTS = Path("results")


def scirpy_wu2020() -> ad.AnnData | None:
    spec = importlib.util.find_spec("scirpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    hits = sorted(root.glob("tests/data/wu2020_200*.h5ad"))
    return ad.read_h5ad(hits[-1]) if hits else None


def build_corpus(n_sim: int, seed: int) -> tuple[ad.AnnData, ad.AnnData, dict]:
    import scanpy as sc

    pbmc = sc.datasets.pbmc68k_reduced()
    genes = list(pbmc.raw.var_names)
    base = sp.csr_matrix(pbmc.raw.X, dtype=np.float32)
    base.data = np.expm1(base.data)  # back to normalised (non-log) scale
    parts, sources = [base], {"pbmc68k_reduced": base.shape[0]}
    wu = scirpy_wu2020()
    if wu is not None:
        wu = wu[:, [g for g in genes if g in set(wu.var_names)]].to_memory() if wu.isbacked else wu
        wu = wu[:, wu.var_names.isin(genes)]
        Xw = sp.csr_matrix((wu.shape[0], len(genes)), dtype=np.float32).tolil()
        pos = {g: i for i, g in enumerate(genes)}
        cols = [pos[g] for g in wu.var_names]
        Xw[:, cols] = sp.csr_matrix(wu.X, dtype=np.float32)
        parts.append(sp.csr_matrix(Xw))
        sources["scirpy wu2020_200"] = wu.shape[0]
    real = sp.vstack(parts).tocsr()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, real.shape[0], n_sim)
    rows = []
    for i in picks:
        row = real[i].toarray().ravel().astype(np.float64)
        p = row / row.sum()
        rows.append(rng.multinomial(int(rng.integers(1500, 6000)), p))
    sim = sp.csr_matrix(np.asarray(rows, dtype=np.float32))
    sources["simulated (multinomial resamples)"] = n_sim
    corpus = ad.AnnData(sp.vstack([real, sim]).tocsr())
    corpus.var_names = genes
    corpus.obs_names = [f"cell{i}" for i in range(corpus.n_obs)]
    return corpus, pbmc, sources


def evaluate(emb: np.ndarray, labels: np.ndarray) -> dict:
    from virtualcell.metrics import avg_bio, leiden_nmi_ari

    res = leiden_nmi_ari(labels, emb, seed=0)
    return {"nmi": res["nmi"], "ari": res["ari"], "avg_bio": avg_bio(labels, emb, seed=0)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n-sim", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pooling", default="mean")
    p.add_argument(
        "--resume", action="store_true", help="continue from results/pbmc_encoder/checkpoints"
    )
    args = p.parse_args()
    RESULTS.mkdir(exist_ok=True)

    from virtualcell.models import CellEncoder, CellModel, PCAEncoder
    from virtualcell.train import TrainConfig, make_tokenizer, pretrain

    corpus, pbmc, sources = build_corpus(args.n_sim, args.seed)
    corpus_path = RESULTS / "corpus.h5ad"
    if not (args.resume and corpus_path.exists()):
        corpus.write_h5ad(corpus_path)
    tc = TrainConfig(
        max_steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        warmup_steps=max(1, args.steps // 20),
        seed=args.seed,
        checkpoint_every=100,
    )
    out = RESULTS / "pbmc_encoder"
    t0 = time.perf_counter()
    _model, result = pretrain(
        corpus_path,  # streamed from the backed file
        tokenizer=make_tokenizer("rank", max_len=args.max_len),
        objective="mlm",
        model_config={
            "d_model": args.d_model,
            "n_layers": args.n_layers,
            "n_heads": 4,
            "pooling": args.pooling,
        },
        train_config=tc,
        out_dir=out,
        resume=args.resume,
    )
    wall = time.perf_counter() - t0
    losses = [h["loss"] for h in result.history]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.6, alpha=0.5, label="per step")
    k = 20
    if len(losses) > k:
        ax.plot(
            np.arange(k, len(losses) + 1),
            np.convolve(losses, np.ones(k) / k, "valid"),
            label=f"mean of {k}",
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("MLM cross-entropy")
    ax.set_title(f"CellEncoder d={args.d_model} L={args.n_layers}, {corpus.n_obs} cells, CPU")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "pretrain_loss.png", dpi=120)

    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    pbmc_in = ad.AnnData(sp.csr_matrix(pbmc.raw.X, dtype=np.float32), obs=pbmc.obs[["bulk_labels"]])
    pbmc_in.var_names = list(pbmc.raw.var_names)
    pbmc_in.X.data = np.expm1(pbmc_in.X.data)
    rows = {}
    loaded = CellModel.from_pretrained(out)
    rows["CellEncoder (pretrained, MLM)"] = evaluate(loaded.embed(pbmc_in), labels)
    rand = CellModel(CellEncoder(loaded.network.config, seed=args.seed), loaded.tokenizer)
    rows["CellEncoder (random init)"] = evaluate(rand.embed(pbmc_in), labels)
    pca_in = ad.AnnData(sp.csr_matrix(pbmc.raw.X, dtype=np.float32))
    pca_in.var_names = list(pbmc.raw.var_names)
    from virtualcell.models import PCAConfig

    pca = PCAEncoder(PCAConfig(n_hvg=2000, n_comps=50, normalize="no")).fit(pca_in)
    rows["PCA on HVG (50 comps)"] = evaluate(pca.embed(pca_in), labels)
    report = {
        "corpus": sources,
        "n_cells": corpus.n_obs,
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "batch_size": args.batch,
        "wall_time_s": wall,
        "train_time_s": result.wall_time_s,
        "cells_per_s": result.cells_per_s,
        "tokens_per_s": result.tokens_per_s,
        "loss_first10": float(np.mean(losses[:10])),
        "loss_last10": float(np.mean(losses[-10:])),
        "n_params": sum(p.numel() for p in loaded.network.parameters()),
        "embedding_quality_pbmc68k_bulk_labels": rows,
    }
    (RESULTS / "pretrain_quality.json").write_text(json.dumps(report, indent=2))
    print(
        json.dumps(
            {k: v for k, v in report.items() if k != "embedding_quality_pbmc68k_bulk_labels"},
            indent=1,
        )
    )
    print(f"{'embedding':<32} {'NMI':>6} {'ARI':>6} {'AvgBIO':>7}")
    for name, m in rows.items():
        print(f"{name:<32} {m['nmi']:6.3f} {m['ari']:6.3f} {m['avg_bio']:7.3f}")


if __name__ == "__main__":
    main()
