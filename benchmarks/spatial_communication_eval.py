"""Communication methods vs baselines on simulated sections, and one large section's
wall time and peak memory (the numbers of docs/spatial.md, "Cell-cell communication").

    OMP_NUM_THREADS=1 python benchmarks/spatial_communication_eval.py --seeds 0,1,2,3,4,5
    OMP_NUM_THREADS=1 python benchmarks/spatial_communication_eval.py --seeds 100,101,102,103,104,105
    OMP_NUM_THREADS=1 python benchmarks/spatial_communication_eval.py --seeds 0,1,2,3,4,5 \\
        --sim '{"min_contact_fraction": 0.3}'
    OMP_NUM_THREADS=1 python benchmarks/spatial_communication_eval.py --seeds 0 --scale 100000

Sections come from ``vcell sim --preset spatial``'s simulator (``simulate_tissue(100,
n_cells=5000, seed=N)``, plus the ``--sim`` options); the large one uses the ``fast``
kinetics (the simulation is not what is measured). Prints one JSON object on stdout.

Protocol (fixed before the report seeds were scored). Every design choice of a method
(``contact_response``'s top genes, specificity slope and marker guard; ``response``'s
top genes and power) is made on **design seeds 100-105 only** (default simulator
settings). The report is **seeds 0-2** (the seeds reported before ``contact_response``
existed) **and fresh seeds 3-5**, never looked at during design, all with the default
settings, plus two settings never used in design, to check generalisation: ``{"min_contact_fraction": 0.3}`` (a
type pair must touch on 30 % of the receivers, so co-location matters to the truth) and
``{"n_niches": 8, "radius": 25.0}`` (more niches, a wider signalling range than the
6-neighbour graph). All methods, baselines included, run with their defaults
(``n_perm=1000``, 6 neighbours); a method that loses a seed is reported as losing it.
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def _row(res) -> dict:
    s = res.summary(by=("method", "metric"))
    wide = s.pivot_table(index="method", columns="metric", values="mean")
    return {m: {k: round(float(v), 4) for k, v in r.items()} for m, r in wide.iterrows()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4,5", help="comma-separated tissue seeds")
    parser.add_argument("--cells", type=int, default=5000)
    parser.add_argument("--sim", default="{}", help="extra simulate_tissue options (JSON)")
    parser.add_argument("--scale", type=int, default=0, help="also time one section this big")
    args = parser.parse_args()

    import virtualcell as vc

    sim = json.loads(args.sim)
    out: dict = {"cells": args.cells, "sim": sim, "seeds": {}}
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        adata = vc.sim.simulate_tissue(100, n_cells=args.cells, seed=seed, **sim)
        res = vc.spatial.evaluate_communication(adata, dataset=f"tissue_seed{seed}")
        out["seeds"][seed] = {
            "density": round(res.report["density"], 4),
            "seconds": res.report["seconds"],
            **_row(res),
        }
    if args.scale:
        adata = vc.sim.simulate_tissue(100, n_cells=args.scale, method="fast", seed=0, **sim)
        t0 = time.perf_counter()
        res = vc.spatial.evaluate_communication(adata, dataset=f"tissue_{args.scale}")
        out["scale"] = {
            "cells": args.scale,
            "wall_s": round(time.perf_counter() - t0, 1),
            "seconds": res.report["seconds"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "auprc": {r["method"]: round(r["score"], 4) for r in res.report["results"]},
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
