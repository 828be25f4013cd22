"""Inference-time cell embeddings of pretrained CellEncoders, scored beside PCA and a control.

For each checkpoint (``--models``; run folders of ``represent_pretrain.py``) and each query
set (pbmc68k_reduced ``bulk_labels``, wu2020 ``cluster_orig``; labels only for scoring),
AvgBIO = (Leiden-sweep NMI + ARI + rescaled label ASW) / 3 of:

* ``mean`` / ``cls``: the transformer's pooled embedding (mean over real tokens / ``<cls>``);
* ``input_expr``: the expression-weighted mean of the model's *input* gene embeddings over
  every vocabulary gene the cell expresses (weights ``log1p`` CP10k; the value-aware input,
  no transformer layer): ``z_c = sum_g x_cg e_g / sum_g x_cg``;
* ``input_expr_random`` (control): the same weighting of random Gaussian gene vectors
  (``--control-seed``), same dimension;
* ``mean+input``: the z-scored concatenation of ``mean`` and ``input_expr``;
* ``*_pca``: z-score each dimension, 50 principal components (fitted on the query: this is
  zero-shot, no labels);
* ``pca_hvg`` (baseline): ``vc.models.PCAEncoder`` (2 000 HVGs, 50 PCs) on the same cells.

Each model appends one JSON line to ``--log``. Usage::

    python benchmarks/oracle_embeddings.py --models results/oracle/runs/v64_s0/model \\
        --log results/oracle/embeddings.jsonl
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
from _represent_data import pbmc68k, wu2020

warnings.filterwarnings("ignore")


def score(emb: np.ndarray, labels: np.ndarray) -> float:
    from virtualcell.metrics import asw, leiden_nmi_ari

    res = leiden_nmi_ari(labels, emb, seed=0)
    return round((res["nmi"] + res["ari"] + asw(labels, emb, rescale=True)) / 3, 4)


def zpca(emb: np.ndarray, n: int = 50) -> np.ndarray:
    from sklearn.decomposition import PCA

    z = (emb - emb.mean(0)) / (emb.std(0) + 1e-6)
    return PCA(n_components=min(n, z.shape[1], z.shape[0] - 1), random_state=0).fit_transform(z)


def zscore(emb: np.ndarray) -> np.ndarray:
    return (emb - emb.mean(0)) / (emb.std(0) + 1e-6)


def weighted_input(model, q, table: np.ndarray) -> np.ndarray:
    """Expression-weighted mean of ``table`` rows (token ids) over the vocabulary genes."""
    import scipy.sparse as sp

    from virtualcell.represent import log_expression

    X = log_expression(sp.csr_matrix(q.X))
    vocab = model.tokenizer.vocab
    ids = vocab.lookup([str(g) for g in q.var_names])
    ids = np.where(ids >= 0, ids, vocab.lookup([str(g).upper() for g in q.var_names]))
    keep = np.flatnonzero(ids >= 0)
    W = X[:, keep]
    z = W @ table[ids[keep]]
    return np.asarray(z / np.maximum(np.asarray(W.sum(1)), 1e-9), dtype=np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--log", default="results/oracle/embeddings.jsonl")
    p.add_argument("--variants", nargs="+", default=None, help="subset of variants to score")
    p.add_argument("--control-seed", type=int, default=0, help="seed of the random gene vectors")
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    from virtualcell.models import PCAConfig, PCAEncoder, load

    queries = {"pbmc68k_reduced": (pbmc68k(), "bulk_labels"), "wu2020": (wu2020(), "cluster_orig")}
    pca_scores = {}
    for qname, (q, key) in queries.items():
        pca = PCAEncoder(PCAConfig(n_hvg=2000, n_comps=50, normalize="yes")).fit(q)
        pca_scores[qname] = score(pca.embed(q), q.obs[key].astype(str).to_numpy())
    for path in args.models:
        model = load(path)
        net = model.network
        table = net.gene_embedding.weight.detach().numpy()
        rand = np.random.default_rng(args.control_seed).normal(size=table.shape).astype(np.float32)
        rows = {}
        for qname, (q, key) in queries.items():
            labels = q.obs[key].astype(str).to_numpy()
            mean = np.asarray(model.embed(q), dtype=np.float32)
            embs = {
                "mean": mean,
                "input_expr": weighted_input(model, q, table),
                "input_expr_random": weighted_input(model, q, rand),
            }
            embs["mean+input"] = np.hstack([zscore(embs["mean"]), zscore(embs["input_expr"])])
            for k in ("mean", "input_expr", "input_expr_random", "mean+input"):
                embs[f"{k}_pca"] = zpca(embs[k])
            if args.variants:
                embs = {k: v for k, v in embs.items() if k in args.variants}
            rows[qname] = {"pca_hvg": pca_scores[qname]}
            rows[qname].update({k: score(v, labels) for k, v in embs.items()})
        record = {
            "model": str(path),
            "pooling": net.config.pooling,
            "control_seed": args.control_seed,
            "scores": rows,
        }
        Path(args.log).parent.mkdir(parents=True, exist_ok=True)
        with open(args.log, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(json.dumps(record))


if __name__ == "__main__":
    main()
