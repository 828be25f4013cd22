"""Wall time and peak memory of the multi-omic pipeline on a large simulated data set.

Not a test: run on demand (once for docs/multiomic.md)::

    python benchmarks/multiomic_scale.py                    # 100,000 cells
    python benchmarks/multiomic_scale.py --cells 5000 --steps wnn:rna+protein impute:ridge

A first child process simulates the cells (``vc.sim.simulate_multiome(100, n_cells=N)``:
100 genes, 30 proteins, 600 peaks, 6 types) and writes them to a temporary ``.h5mu``; then
one child process per step reads the file, resets its peak-RSS counter
(``/proc/self/clear_refs``) and times the step: ``embed:<method>:<split>``
(``vc.multiomic.embed`` with the method's defaults) or ``impute:<method>`` (70% of the
cells train, the other 30% are imputed). Each JSON line reports the step's seconds, the
peak RSS during the step and the resident size of the loaded data before it.
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

EMBED = [
    ("rna+protein", ("rna_pca", "protein_pca", "concat_pca", "cca", "wnn", "factor_analysis",
                     "joint_vae")),
    ("rna+atac", ("atac_lsi", "concat_pca", "cca", "wnn", "factor_analysis", "joint_vae")),
]  # fmt: skip
IMPUTE = ("mean", "own_mrna", "knn", "ridge")


def simulate(cells: int, seed: int, path: str) -> dict:
    """Simulate and write the cells."""
    import virtualcell as vc

    t0 = time.perf_counter()
    mdata = vc.sim.simulate_multiome(100, n_cells=cells, seed=seed)
    row = {"step": "simulate", "cells": cells, "seconds": round(time.perf_counter() - t0, 1)}
    row["peak_rss_mb"] = round(proc_status_mb("VmHWM"), 1)
    vc.data.write_h5mu(mdata, path)
    return row


def measure(path: str, step: str) -> dict:
    """Read the cells and time one step."""
    import numpy as np

    import virtualcell as vc

    kind, method, *rest = step.split(":")
    mods = rest[0].split("+") if rest else ["rna", "protein"]
    mdata = vc.data.read_h5mu(path, modalities=sorted(set(mods) | {"rna", "protein"}))
    if kind == "impute":
        n = mdata.n_obs
        perm = np.random.default_rng(0).permutation(n)
        train = mdata[np.sort(perm[: int(0.7 * n)])].copy()
        query = mdata.mod["rna"][np.sort(perm[int(0.7 * n) :])].copy()
    import sklearn.decomposition  # noqa: F401  (imports out of the timings)
    import torch  # noqa: F401

    row: dict = {"step": step, "cells": int(mdata.n_obs)}
    row["rss_data_mb"] = round(proc_status_mb("VmRSS"), 1)
    reset = reset_peak_rss()
    t0 = time.perf_counter()
    if kind == "embed":
        z = vc.multiomic.embed(mdata, method=method, modalities=mods)
        row["dims"] = int(z.shape[1])
    else:
        vc.multiomic.impute_protein(train, query, method=method)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["peak_rss_mb"] = round(proc_status_mb("VmHWM"), 1)
    row["peak_reset"] = reset
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", nargs="*", default=None, help="embed:METHOD:SPLIT / impute:M")
    ap.add_argument("--child", choices=["simulate", "measure"], help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--step", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "simulate":
        print(json.dumps(simulate(args.cells, args.seed, args.path)))
        return
    if args.child == "measure":
        print(json.dumps(measure(args.path, args.step)))
        return
    steps = args.steps or [f"embed:{m}:{s}" for s, ms in EMBED for m in ms] + [
        f"impute:{m}" for m in IMPUTE
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cells.h5mu")
        base = [sys.executable, __file__, "--path", path, "--cells", str(args.cells),
                "--seed", str(args.seed)]  # fmt: skip
        todo = [("simulate", None)] + [("measure", s) for s in steps]
        for child, step in todo:
            cmd = [*base, "--child", child] + (["--step", step] if step else [])
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                tail = done.stderr.strip().splitlines()[-1:] or ["?"]
                print(json.dumps({"step": step or child, "error": tail[0]}), flush=True)
                continue
            print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
