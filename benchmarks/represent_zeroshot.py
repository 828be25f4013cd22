"""Zero-shot AvgBIO of one pretrained checkpoint under inference-time choices, vs HVG+PCA.

No retraining: the same weights are scored with

* pooling ``cls`` / ``mean`` (an MLM / MAE loss never trains the ``<cls>`` state, so the
  pooling can be swapped after pretraining);
* post-processing ``none`` / ``std_pca`` (z-score each embedding dimension, 50 principal
  components — label-free, fitted on the query cells, as PCA itself is);
* input genes ``all`` / ``hvg`` (only the query's 2 000 most variable genes are given to
  the tokenizer; the rest are zeroed);
* tokens per cell ``--max-lens`` (the tokenizer keeps a cell's top-``k`` genes, so the mean
  pooling averages over the most expressed genes only);
* ``input`` pooling: the ``1 / rank``-weighted mean of the model's *input* gene embeddings
  (no transformer layer), next to the same weighting of *random* gene vectors (a control:
  how much comes from the weighting alone).

Labels (pbmc68k_reduced ``bulk_labels``, wu2020 ``cluster_orig``) are used only for
scoring. Selection protocol: choose on wu2020, confirm on pbmc68k_reduced (both are
printed; nothing is hidden).

Usage::

    python benchmarks/represent_zeroshot.py --model results/represent_pretrain/A/model
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, nargs="+")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-lens", type=int, nargs="+", default=[0], help="0 = as trained")
    p.add_argument("--poolings", nargs="+", default=["cls", "mean"])
    p.add_argument("--genes", nargs="+", default=["all", "hvg"])
    p.add_argument("--out", default="results/represent_zeroshot.json")
    args = p.parse_args()

    import scanpy as sc
    import torch
    from _represent_data import pbmc68k, wu2020
    from represent_pretrain import score, standardize_pca

    torch.set_num_threads(args.threads)
    from virtualcell.models import CellEncoder, CellModel, PCAConfig, PCAEncoder

    queries = {"wu2020": (wu2020(), "cluster_orig"), "pbmc68k_reduced": (pbmc68k(), "bulk_labels")}
    hvg_input = {}
    for name, (q, _) in queries.items():
        tmp = q.copy()
        sc.pp.normalize_total(tmp, target_sum=1e4)
        sc.pp.log1p(tmp)
        sc.pp.highly_variable_genes(tmp, n_top_genes=min(2000, q.n_vars), flavor="seurat")
        h = q.copy()
        h.X = h.X.multiply(np.asarray(tmp.var["highly_variable"])[None, :]).tocsr()
        hvg_input[name] = h
    out: dict = {}
    for name, (q, key) in queries.items():
        pca = PCAEncoder(PCAConfig(n_hvg=2000, n_comps=50, normalize="yes")).fit(q)
        out.setdefault("pca_hvg", {})[name] = score(pca.embed(q), q.obs[key].astype(str).to_numpy())
    for path in args.model:
        base = CellModel.from_pretrained(path)
        trained_len = base.tokenizer.max_len
        for pooling, max_len in [(p_, k) for p_ in args.poolings for k in args.max_lens]:
            cfg = dataclasses.replace(base.network.config, pooling=pooling)
            net = CellEncoder(cfg)
            net.load_state_dict(base.network.state_dict())
            tok = copy.deepcopy(base.tokenizer)
            tok.max_len = max_len or trained_len
            model = CellModel(net, tok)
            for genes in args.genes:
                for name, (q, key) in queries.items():
                    labels = q.obs[key].astype(str).to_numpy()
                    emb = model.embed(q if genes == "all" else hvg_input[name])
                    for post, z in (("none", emb), ("std_pca", standardize_pca(emb))):
                        tag = (
                            f"{Path(path).parent.name}|pool={pooling}|len={tok.max_len}"
                            f"|genes={genes}|post={post}"
                        )
                        out.setdefault(tag, {})[name] = score(z, labels)
                        print(tag, name, out[tag][name]["avg_bio"], flush=True)
        _input_pooling(base, queries, hvg_input, out, Path(path).parent.name, score)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print("\n| embedding | wu2020 AvgBIO | pbmc68k AvgBIO |\n|---|---|---|")
    for tag, v in out.items():
        print(f"| {tag} | {v['wu2020']['avg_bio']:.3f} | {v['pbmc68k_reduced']['avg_bio']:.3f} |")


def _input_pooling(model, queries, hvg_input, out, name, score) -> None:
    """1/rank-weighted mean of the input gene embeddings (and of random vectors)."""
    table = model.network.gene_embedding.weight.detach().cpu().numpy()
    random = np.random.default_rng(0).normal(size=table.shape).astype(np.float32)
    for genes in ("all", "hvg"):
        for qname, (q, key) in queries.items():
            tok = model.tokenizer.encode(q if genes == "all" else hvg_input[qname])
            real = tok.attention_mask.astype(bool) & (
                tok.input_ids >= model.tokenizer.vocab.n_special
            )
            w = np.where(real, 1.0 / np.maximum(tok.values, 1.0), 0.0)
            labels = q.obs[key].astype(str).to_numpy()
            for kind, E in (("input", table), ("random_vectors", random)):
                z = (E[tok.input_ids] * w[..., None]).sum(1) / np.maximum(
                    w.sum(1, keepdims=True), 1e-9
                )
                tag = f"{name}|pool={kind}_1/rank|genes={genes}"
                out.setdefault(tag, {})[qname] = score(z, labels)
                print(tag, qname, out[tag][qname]["avg_bio"], flush=True)


if __name__ == "__main__":
    main()
