"""Niche methods vs baselines on simulated sections (the numbers of docs/spatial.md).

Not a test: run on demand. Each seed simulates one section with
``vc.sim.simulate_tissue(seed=SEED)`` (the simulator's defaults: 5,000 cells, 4 niches)
and scores every niche embedding with ``vc.spatial.evaluate_niches`` (k-means into the
true number of niches, method seed 0)::

    python benchmarks/spatial_niches_eval.py --seeds 100 101      # design seeds
    python benchmarks/spatial_niches_eval.py --seeds 0 1 2 --json  # reported seeds

Prints a markdown table (ARI per seed, mean) and, with ``--json``, the rows on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cells", type=int, default=5000)
    ap.add_argument("--methods", nargs="*", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import numpy as np
    import torch

    import virtualcell as vc

    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        adata = vc.sim.simulate_tissue(100, n_cells=args.cells, seed=seed)
        res = vc.spatial.evaluate_niches(adata, methods=args.methods, seeds=(0,),
                                         dataset=f"sim_tissue_seed{seed}")  # fmt: skip
        for r in res["results"]:
            rows.append({"tissue_seed": seed, **r})
            print(f"seed {seed} {r['method']:18s} ARI {r['score']:.3f} NMI {r['nmi']:.3f} "
                  f"{r['seconds']:.1f}s", file=sys.stderr, flush=True)  # fmt: skip
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = "| method | baseline | " + " | ".join(f"seed {s}" for s in args.seeds)
    lines = [head + " | mean ARI | mean NMI |", "|" + " --- |" * (len(args.seeds) + 4)]
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        ari = [r["score"] for r in mine]
        lines.append(f"| {m} | {mine[0]['baseline']} | " + " | ".join(f"{x:.3f}" for x in ari)
                     + f" | {np.mean(ari):.3f} | {np.mean([r['nmi'] for r in mine]):.3f} |")  # fmt: skip
    print("\n".join(lines), file=sys.stderr)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
