"""kNN annotation on small sets: Euclidean (before the fix) vs cosine, beside the linear
probe, L1-LR and the trivial baselines (``docs/represent.md``, "kNN on small sets").

Sets: the test's synthetic TPM set (184 cells x 3 000 genes, 6 types,
``tests/represent/test_annotate_knn.py``); pbmc68k_reduced as TPM (184 cells, 6 types of
>= 31 cells, ``.raw`` back on the linear scale, rows scaled to 10^6); wu2020 as TPM (its 6
largest types, counts divided by random gene lengths, rows scaled to 10^6); wu2020 as it
is. Per seed a stratified 30 % query; macro-F1 mean ± sd over seeds.

Usage::

    nice python benchmarks/represent_knn_small.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "represent"))


def pbmc_tpm(seed: int = 0) -> ad.AnnData:
    import virtualcell as vc

    a = vc.datasets.pbmc68k_reduced()
    X = a.raw.X.toarray() if sp.issparse(a.raw.X) else np.asarray(a.raw.X)
    lab = a.obs["bulk_labels"].astype(str).to_numpy()
    types = [t for t, n in zip(*np.unique(lab, return_counts=True), strict=True) if n >= 31][:6]
    rng = np.random.default_rng(seed)
    idx = np.concatenate(
        [
            rng.choice(np.flatnonzero(lab == t), 31 if i < 4 else 30, replace=False)
            for i, t in enumerate(types)
        ]
    )
    E = np.expm1(X[idx])
    E = E / E.sum(1, keepdims=True) * 1e6
    out = ad.AnnData(E.astype(np.float32))
    out.var_names = list(a.raw.var_names)
    out.obs_names = [f"c{i}" for i in range(len(idx))]
    out.obs["cell_type"] = lab[idx]
    return out


def wu_tpm(seed: int = 0) -> ad.AnnData:
    import virtualcell as vc

    a = vc.datasets.wu2020()
    lab = a.obs["cluster_orig"].astype(str).to_numpy()
    types, n = np.unique(lab, return_counts=True)
    idx = np.flatnonzero(np.isin(lab, types[np.argsort(-n)][:6]))
    X = a.X[idx].toarray().astype(np.float64)
    length = np.random.default_rng(seed).lognormal(np.log(2000), 0.7, X.shape[1])
    E = X / length * 1e3
    E = E / E.sum(1, keepdims=True) * 1e6
    keep = X.sum(0) > 0
    out = ad.AnnData(sp.csr_matrix(E[:, keep].astype(np.float32)))
    out.var_names = list(a.var_names[keep])
    out.obs_names = list(a.obs_names[idx])
    out.obs["cell_type"] = lab[idx]
    return out


def main() -> None:
    from test_annotate_knn import smartseq_like

    import virtualcell as vc

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = p.parse_args()
    sets = {
        "synthetic_tpm": (smartseq_like(), "cell_type"),
        "pbmc68k_tpm": (pbmc_tpm(), "cell_type"),
        "wu2020_tpm6": (wu_tpm(), "cell_type"),
        "wu2020": (vc.datasets.wu2020(), "cluster_orig"),
    }
    runs = [
        ("knn euclidean (before)", "knn", {"metric": "euclidean"}),
        ("knn cosine (after)", "knn", None),
        ("centroid", "centroid", None),
        ("linear_probe", "linear_probe", None),
        ("l1_logreg", "l1_logreg", None),
    ]
    print("| set | method | macro-F1 | largest predicted class | below trivial |")
    print("|---|---|---|---|---|")
    for name, (adata, key) in sets.items():
        trivial = []
        for label, method, opts in runs:
            f1, top, below = [], [], 0
            for seed in args.seeds:
                r = vc.represent.annotate(
                    adata, label_key=key, method=method, query_fraction=0.3, seed=seed,
                    method_options=opts,
                )  # fmt: skip
                f1.append(r.metrics["macro_f1"])
                top.append(np.unique(r.labels, return_counts=True)[1].max() / len(r.labels))
                below += bool(r.warnings)
                trivial.append(max(r.metrics["majority_macro_f1"], r.metrics["prior_macro_f1"]))
            sd = np.std(f1, ddof=1) if len(f1) > 1 else 0.0
            print(
                f"| {name} | {label} | {np.mean(f1):.3f} ± {sd:.3f} | {np.mean(top):.2f} | "
                f"{below}/{len(args.seeds)} |",
                flush=True,
            )
        print(f"| {name} | trivial (max of majority, prior) | {np.mean(trivial):.3f} | | |")


if __name__ == "__main__":
    main()
