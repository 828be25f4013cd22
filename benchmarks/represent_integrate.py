"""Batch integration before/after with the scIB metrics, side by side in one run.

Datasets:

* ``sim`` — ``vc.sim.simulate_batches`` (200 genes, 5 types, 3 batches, one type only in
  batch 0), seeds ``--seeds``; labels = true cell types, batches = simulated batches;
* ``wu2020`` — scirpy's 200 T cells, batches = ``patient`` (14), labels = ``cluster_orig``;
* ``liao`` — the scirpy sdist's Liao et al. 2019 BALF cells of 3 patients (``--liao DIR``
  with the three ``*_filtered_feature_bc_matrix.h5``), unlabelled: batch metrics only.

Methods: ``none`` (uncorrected PCA), ``center``, ``harmony`` (harmonypy defaults),
``harmony_s0.2`` (kernel width 0.2, chosen on a separate 80-gene dev simulation),
``cvae``. Prints one markdown table per dataset; ``--out`` JSON.

Usage::

    nice python benchmarks/represent_integrate.py --liao path/to/liao-2019-covid19
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

METHODS = {
    "none": ("none", {}),
    "center": ("center", {}),
    "harmony": ("harmony", {}),
    "harmony_s0.2": ("harmony", {"sigma": 0.2}),
    "cvae": ("cvae", {}),
}


def liao(folder: Path):
    import anndata as ad

    import virtualcell as vc

    parts = []
    for f in sorted(folder.glob("*_filtered_feature_bc_matrix.h5")):
        a = vc.data.read_10x_h5(f)
        a.var_names_make_unique()
        a.obs["patient"] = f.name.split("_")[1]
        a.obs_names = [f"{a.obs['patient'].iloc[0]}_{n}" for n in a.obs_names]
        parts.append(a)
    out = ad.concat(parts, join="inner")
    keep = np.asarray(out.X.sum(1)).ravel() >= 500
    return out[keep].copy()


def run(adata, *, label_key, batch_key, seed) -> pd.DataFrame:
    import virtualcell as vc

    keys, timing = [], {}
    for name, (method, opts) in METHODS.items():
        t = time.perf_counter()
        key = f"X_{name}"
        vc.represent.integrate(
            adata, batch_key=batch_key, method=method, key_added=key, seed=seed, **opts
        )
        timing[key] = time.perf_counter() - t
        keys.append(key)
    table = vc.represent.score_integration(
        adata, label_key=label_key, batch_key=batch_key, keys=keys, seed=seed
    )
    table["seconds"] = [timing[k] for k in table.index]
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--liao", default=None, help="folder with the Liao 2019 10x h5 files")
    p.add_argument("--skip", nargs="*", default=[])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="results/represent_integrate.json")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import virtualcell as vc
    from virtualcell._utils import markdown_table

    results: dict = {}
    if "sim" not in args.skip:
        tables = []
        for seed in args.seeds:
            a = vc.sim.simulate_batches(
                200, n_cell_types=5, n_cells=1500, n_batches=3, isolated_types=1, seed=seed
            )
            t = run(a, label_key="cell_type", batch_key="batch", seed=seed)
            t["seed"] = seed
            tables.append(t)
        sim = pd.concat(tables)
        results["sim"] = sim.reset_index().to_dict(orient="records")
        mean = sim.drop(columns="seed").groupby(level=0, sort=False).mean()
        sd = sim.drop(columns="seed").groupby(level=0, sort=False).std()
        print(f"\nsimulated batches ({len(args.seeds)} seeds, mean; sd of 'overall' in brackets)")
        show = mean.round(3)
        show["overall"] = [
            f"{m:.3f} ({s:.3f})" for m, s in zip(mean.overall, sd.overall, strict=True)
        ]
        print(markdown_table(show.reset_index()))
    if "wu2020" not in args.skip:
        w = vc.datasets.wu2020()
        w.var_names_make_unique()
        t = run(w, label_key="cluster_orig", batch_key="patient", seed=0)
        results["wu2020"] = t.reset_index().to_dict(orient="records")
        print("\nwu2020, batches = patient (14), labels = cluster_orig")
        print(markdown_table(t.round(3).reset_index()))
    if args.liao:
        a = liao(Path(args.liao))
        t = run(a, label_key=None, batch_key="patient", seed=0)
        results["liao"] = t.reset_index().to_dict(orient="records")
        print(f"\nLiao 2019 BALF, {a.n_obs} cells, batches = 3 patients (unlabelled)")
        print(markdown_table(t.round(3).reset_index()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
