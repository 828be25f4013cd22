"""Wall time and peak memory of niche detection on a large simulated section.

Not a test: run on demand (once for docs/spatial.md)::

    python benchmarks/spatial_scale.py                      # 100,000 cells
    python benchmarks/spatial_scale.py --cells 20000 --method multihop --json

A first child process simulates the section (``vc.sim.simulate_tissue``, fast method) and
writes it to a temporary ``.h5ad``; a second one reads it, resets its peak-RSS counter
(``/proc/self/clear_refs``) and times ``vc.spatial.neighbors``, the niche embedding
(``--method``) and ``vc.spatial.cluster_domains`` (k-means, the true number of niches),
then reports each step's seconds, the peak RSS of those steps and the section's resident
size before them, and the ARI of the domains against the true niches.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _measure import proc_status_mb, reset_peak_rss  # benchmarks/ is sys.path[0]


def simulate(cells: int, seed: int, path: str) -> dict:
    """Simulate and write the section."""
    import virtualcell as vc

    t0 = time.perf_counter()
    adata = vc.sim.simulate_tissue(100, n_cells=cells, seed=seed)
    sim_s = time.perf_counter() - t0
    adata.write_h5ad(path)
    return {"seconds_simulate": round(sim_s, 2)}


def measure(path: str, method: str, n_neighbors: int) -> dict:
    """Read the section and time the three steps of niche detection."""
    import anndata as ad
    import numpy as np

    import virtualcell as vc

    adata = ad.read_h5ad(path)
    truth = adata.obs["niche"].astype(str).to_numpy()
    k = len(np.unique(truth))
    import sklearn.cluster  # noqa: F401  (imports out of the timings)

    rss_loaded = proc_status_mb("VmRSS")
    reset = reset_peak_rss()
    row: dict = {"cells": int(adata.n_obs), "genes": int(adata.n_vars), "method": method,
                 "n_neighbors": n_neighbors, "n_domains": k}  # fmt: skip
    t = time.perf_counter()
    vc.spatial.neighbors(adata, n_neighbors=n_neighbors)
    row["seconds_neighbors"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    z = vc.spatial.niche_embed(adata, method=method, n_neighbors=n_neighbors)
    row["seconds_embedding"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    labels = vc.spatial.cluster_domains(z, n_domains=k, seed=0)
    row["seconds_domains"] = round(time.perf_counter() - t, 2)
    row["seconds_total"] = round(
        row["seconds_neighbors"] + row["seconds_embedding"] + row["seconds_domains"], 2
    )
    row["ari"] = round(vc.metrics.ari(truth=truth, clusters=labels), 4)
    row["rss_section_mb"] = round(rss_loaded, 1)
    row["peak_rss_mb"] = round(proc_status_mb("VmHWM"), 1)
    row["peak_reset"] = reset
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--method", default="multihop")
    ap.add_argument("--n-neighbors", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="the row as JSON on stdout")
    ap.add_argument("--child", choices=["simulate", "measure"], help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "simulate":
        print(json.dumps(simulate(args.cells, args.seed, args.path)))
        return
    if args.child == "measure":
        print(json.dumps(measure(args.path, args.method, args.n_neighbors)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "section.h5ad")
        base = [sys.executable, __file__, "--path", path, "--cells", str(args.cells),
                "--seed", str(args.seed), "--method", args.method,
                "--n-neighbors", str(args.n_neighbors)]  # fmt: skip
        row = {}
        for step in ("simulate", "measure"):
            out = subprocess.run([*base, "--child", step], check=True, capture_output=True,
                                 text=True).stdout  # fmt: skip
            row.update(json.loads(out.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(row))
    else:
        print(" ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
