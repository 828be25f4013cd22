"""Benchmark of the GRN simulator (``vc.sim.simulate_perturbseq``): wall time and memory.

Run on demand (not part of the tests)::

    python benchmarks/sim.py            # 100 genes x ~20k cells; 1,000 genes x 100k cells
    python benchmarks/sim.py --scale 0.2  # everything at 20% of the cells

Also prints the cross-check against the published SERGIO engine (``sergio-rs``) when it
is installed.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def _case(n_genes, cells_per_condition, singles, doubles, method, seed=0):
    import virtualcell as vc

    grn = vc.sim.sample_grn(n_genes, seed=seed)
    t0 = time.perf_counter()
    adata = vc.sim.simulate_perturbseq(
        grn,
        cells_per_condition=cells_per_condition,
        singles=singles,
        doubles=doubles,
        method=method,
        keep_true_expression=False,
        seed=seed,
    )
    sec = time.perf_counter() - t0
    na = vc.sim.nonadditivity(adata)
    frac = na.groupby("perturbation")["nonadditive"].any().mean() if len(na) else float("nan")
    return {
        "genes": n_genes,
        "edges": len(grn.edges),
        "cells": adata.n_obs,
        "conditions": adata.obs["perturbation"].nunique(),
        "method": method,
        "seconds": round(sec, 1),
        "cells_per_s": int(adata.n_obs / sec),
        "frac_nonadditive_doubles": round(float(frac), 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
    }


def _corr_stats(x: np.ndarray, n_genes: int = 40, draws: int = 20, seed: int = 0) -> dict:
    """Gene-gene correlation spectrum of ``cells x genes`` (log-scale) data, on random
    subsets of ``n_genes`` expressed genes (so data sets of different width compare)."""
    rng = np.random.default_rng(seed)
    x = x[:, x.std(axis=0) > 0]
    top1, top3, med, p90, big = [], [], [], [], []
    for _ in range(draws):
        cols = rng.choice(x.shape[1], size=min(n_genes, x.shape[1]), replace=False)
        c = np.corrcoef(x[:, cols].T)
        ev = np.sort(np.linalg.eigvalsh(c))[::-1]
        top1.append(ev[0] / ev.sum())
        top3.append(ev[:3].sum() / ev.sum())
        a = np.abs(c[np.triu_indices_from(c, 1)])
        med.append(np.median(a))
        p90.append(np.percentile(a, 90))
        big.append(np.mean(a > 0.3))
    return {
        "var_PC1": round(float(np.mean(top1)), 3),
        "var_PC1-3": round(float(np.mean(top3)), 3),
        "median_|r|": round(float(np.mean(med)), 3),
        "p90_|r|": round(float(np.mean(p90)), 3),
        "frac_|r|>0.3": round(float(np.mean(big)), 3),
    }


def _lognorm(counts: np.ndarray) -> np.ndarray:
    tot = counts.sum(axis=1, keepdims=True)
    return np.log1p(
        np.divide(counts * np.median(tot), tot, out=np.zeros(counts.shape), where=tot > 0)
    )


def read_sergio_input(folder) -> object:
    """GRN from SERGIO's published input files (``Interaction_cID_*.txt``, ``Regs_cID_*.txt``)."""
    from pathlib import Path

    import pandas as pd

    import virtualcell as vc

    folder = Path(folder)
    rows = []
    for line in next(folder.glob("Interaction_cID_*.txt")).read_text().splitlines():
        v = [float(t) for t in line.split(",") if t.strip()]
        tgt, k = int(v[0]), int(v[1])
        regs, ks, ns = v[2 : 2 + k], v[2 + k : 2 + 2 * k], v[2 + 2 * k : 2 + 3 * k]
        rows += [
            (f"g{int(r)}", f"g{tgt}", np.sign(w), abs(w), n)
            for r, w, n in zip(regs, ks, ns, strict=True)
        ]
    edges = pd.DataFrame(rows, columns=["regulator", "target", "sign", "weight", "hill_n"])
    basal = {}
    for line in next(folder.glob("Regs_cID_*.txt")).read_text().splitlines():
        v = [float(t) for t in line.split(",") if t.strip()]
        basal[f"g{int(v[0])}"] = v[1:]
    basal = pd.DataFrame(basal).T
    basal.columns = [f"type_{i}" for i in range(basal.shape[1])]
    genes = sorted(set(edges["regulator"]) | set(edges["target"]) | set(basal.index))
    return vc.sim.GRN.from_edges(edges, genes=genes, basal=basal)


def realism(out_dir: str = "results/sim") -> None:
    """Correlation spectrum of simulated vs real data, SERGIO DS1 network cross-check."""
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    import virtualcell as vc

    rows = {}
    path = f"{out_dir}/perturbseq_100g.h5ad"
    sim = ad.read_h5ad(path)
    x = _lognorm(sim.X.toarray().astype(float))
    rows["sim: all cells (counts)"] = _corr_stats(x)
    ctrl = (sim.obs["perturbation"] == "control").to_numpy()
    rows["sim: control cells (counts)"] = _corr_stats(x[ctrl])
    one = ctrl & (sim.obs["cell_type"] == "type_0").to_numpy()
    rows["sim: control, one cell type (counts)"] = _corr_stats(x[one])
    rows["sim: control, one cell type (noise-free)"] = _corr_stats(
        np.log1p(sim.layers["true_expression"][one])
    )
    mef = vc.settings.reference_data("grn", "beeline", "real", "mouse", "mEF", "ExpressionData.csv")
    if mef is not None:
        rows["real: BEELINE mEF (40 TFs)"] = _corr_stats(pd.read_csv(mef, index_col=0).to_numpy().T)
    pbmc = sc.datasets.pbmc68k_reduced()
    px = pbmc.raw.X
    px = px.toarray() if hasattr(px, "toarray") else np.asarray(px)
    hv = np.argsort(px.var(axis=0))[::-1][:200]
    rows["real: pbmc68k_reduced (top-200 var genes)"] = _corr_stats(px[:, hv])
    table = pd.DataFrame(rows).T
    print("\ngene-gene correlation spectrum (random 40-gene subsets, 20 draws):")
    print(table.to_string())
    table.to_csv(f"{out_dir}/correlation_spectrum.csv")

    ds1 = vc.settings.reference_data("grn", "sergio", "De-noised_100G_9T_300cPerT_4_DS1")
    if ds1 is not None:
        from virtualcell.sim._sergio import sergio_rs_crosscheck

        grn = read_sergio_input(ds1)
        print(f"\nSERGIO DS1 published network: {grn}")
        res = sergio_rs_crosscheck(grn, n_cells=300, seed=0)
        print(res.round(3).to_string(index=False))
        t0 = time.perf_counter()
        a = vc.sim.simulate_perturbseq(grn, cells_per_condition=270, singles=20, doubles=20, seed=0)
        na = vc.sim.nonadditivity(a)
        print(
            f"DS1 network Perturb-seq: {a.n_obs} cells, {time.perf_counter() - t0:.1f} s; "
            f"non-additive doubles: {na.groupby('perturbation')['nonadditive'].any().mean():.2f}; "
            f"classes {na['class'].value_counts().to_dict()}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the cells")
    parser.add_argument("--skip-large", action="store_true", help="skip the 1,000-gene case")
    parser.add_argument(
        "--realism", metavar="DIR", help="only the realism checks on DIR/perturbseq_100g.h5ad"
    )
    args = parser.parse_args()
    if args.realism:
        import virtualcell as vc

        vc.settings.verbosity = 0
        realism(args.realism)
        return

    import pandas as pd

    import virtualcell as vc

    vc.settings.verbosity = 0
    rows = []
    cpc = max(2, round(130 * args.scale))
    for method in ("cle", "fast"):
        rows.append(_case(100, cpc, 100, 50, method))
    if not args.skip_large:
        cpc = max(2, round(100 * args.scale))  # 1 + 600 + 400 conditions ~ 100k cells
        rows.append(_case(1000, cpc, 600, 400, "fast"))
        rows.append(_case(1000, max(2, cpc // 5), 600, 400, "cle"))
    print(pd.DataFrame(rows).to_string(index=False))

    try:
        from virtualcell.sim._sergio import sergio_rs_crosscheck
    except ImportError:  # pragma: no cover
        return
    try:
        out = []
        for n, seed in ((20, 0), (50, 1), (100, 2)):
            t0 = time.perf_counter()
            res = sergio_rs_crosscheck(vc.sim.sample_grn(n, seed=seed), n_cells=500, seed=seed)
            res.insert(0, "genes", n)
            res["seconds"] = round(time.perf_counter() - t0, 1)
            out.append(res)
        print("\ncross-check vs sergio-rs (per-gene means of non-master-regulator genes):")
        print(pd.concat(out).round(3).to_string(index=False))
        print("mean pearson:", np.round(pd.concat(out)["pearson_targets"].mean(), 3))
    except vc.VirtualCellError as err:
        print(f"sergio-rs cross-check skipped: {err}")


if __name__ == "__main__":
    main()
