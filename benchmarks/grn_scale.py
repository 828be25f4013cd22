"""GRN inference at scale: wall time per method on synthetic 2,000 genes x 10,000 cells.

Data: a random sparse network generated here (``--tfs`` regulators, each target has 1-3
of them, Hill activation or repression), cells sampled as Poisson counts of the steady
state under random per-cell basal rates, then log1p. Candidate regulators = the TFs
(as GRNBoost2 is used in practice); ``--all-regulators`` makes every gene a candidate.

Tree methods are slow per target, so by default they run on ``--targets`` randomly
chosen targets and the time is extrapolated linearly to all genes (printed as such);
pass ``--targets 0`` to run every target. Run::

    python benchmarks/grn_scale.py --genes 2000 --cells 10000 --n-jobs 2 --targets 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def simulate(n_genes: int, n_cells: int, n_tfs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = np.zeros((n_genes, n_genes))
    for t in range(n_genes):
        pool = np.arange(min(t, n_tfs)) if t < n_tfs else np.arange(n_tfs)
        if pool.size == 0:
            continue
        k = min(pool.size, rng.integers(1, 4))
        for r in rng.choice(pool, k, replace=False):
            W[r, t] = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 3.0)
    basal = rng.uniform(0.5, 2.0, (n_cells, n_genes))
    level = np.zeros((n_cells, n_genes))
    for t in range(n_genes):  # TFs first, so parents are final when a child is set
        regs = np.flatnonzero(W[:, t])
        drive = basal[:, t].copy()
        for r in regs:
            h = level[:, r] ** 2 / (level[:, r] ** 2 + np.median(level[:, r]) ** 2 + 1e-9)
            drive += abs(W[r, t]) * (h if W[r, t] > 0 else 1 - h) * 2
        level[:, t] = drive
    counts = rng.poisson(level)
    X = np.log1p(counts).astype(np.float64)
    genes = [f"g{i}" for i in range(n_genes)]
    r, t = np.nonzero(W)
    truth = pd.DataFrame({"regulator": [genes[i] for i in r], "target": [genes[j] for j in t]})
    return X, genes, truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--cells", type=int, default=10000)
    ap.add_argument("--tfs", type=int, default=200)
    ap.add_argument("--all-regulators", action="store_true")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--targets", type=int, default=100, help="0 = all targets")
    ap.add_argument(
        "--methods",
        default="pearson,spearman,partial_correlation,mutual_information,grnboost2,genie3_et,genie3",
    )
    ap.add_argument("--n-estimators", type=int, default=50)
    args = ap.parse_args()

    import virtualcell as vc
    from virtualcell._utils import markdown_table
    from virtualcell.grn import METHODS
    from virtualcell.grn._base import Scores, edge_table, prepare
    from virtualcell.grn._trees import genie3_scores, grnboost2_scores

    vc.settings.verbosity = 0
    t0 = time.perf_counter()
    X, genes, truth = simulate(args.genes, args.cells, args.tfs)
    print(f"simulated {X.shape[1]} genes x {X.shape[0]} cells in {time.perf_counter() - t0:.1f}s")
    regs = None if args.all_regulators else genes[: args.tfs]
    data = prepare(X, genes=genes, regulators=regs)
    rng = np.random.default_rng(1)
    n_sub = args.targets if 0 < args.targets < args.genes else args.genes
    subset = np.sort(rng.choice(args.genes, n_sub, replace=False))
    rows = []
    for method in args.methods.split(","):
        t0 = time.perf_counter()
        tree = method in ("genie3", "genie3_et", "grnboost2")
        if method == "grnboost2":
            S = grnboost2_scores(data, n_jobs=args.n_jobs, seed=0, targets=subset)
        elif method in ("genie3", "genie3_et"):
            S = genie3_scores(
                data,
                n_jobs=args.n_jobs,
                seed=0,
                targets=subset,
                estimator="rf" if method == "genie3" else "et",
                n_estimators=args.n_estimators,
            )
        else:
            S = METHODS.get(method)(data, n_jobs=args.n_jobs, seed=0).score
        wall = time.perf_counter() - t0
        done = n_sub if tree else args.genes
        full = wall * args.genes / done
        # quality on the same universe for every method: candidate regulators x run targets
        edges = edge_table(data, Scores(S))
        sub_genes = {genes[i] for i in subset}
        edges = edges[edges["target"].isin(sub_genes)]
        pos = set(zip(truth["regulator"], truth["target"], strict=True))
        y = np.array(
            [(a, b) in pos for a, b in zip(edges["regulator"], edges["target"], strict=True)]
        )
        res = (
            vc.metrics.auprc_ratio(y.astype(int), edges["score"].to_numpy()) if y.any() else np.nan
        )
        rows.append(
            {
                "method": method,
                "targets_run": done,
                "wall_s": round(wall, 1),
                "est_all_targets_s": round(full, 1),
                "extrapolated": done < args.genes,
                "auprc_ratio_on_run_targets": round(float(res), 2),
            }
        )
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print()
    print(
        f"{args.genes} genes x {args.cells} cells, {len(regs or genes)} candidate regulators, "
        f"n_jobs={args.n_jobs}"
    )
    print(markdown_table(table, digits=1))


if __name__ == "__main__":
    main()
