"""Wall time and peak memory of ``vc.sim.simulate_tissue`` on large sections.

Not a test: run on demand. Each size runs in a child process so that its peak RSS is its
own (the child's ``VmHWM`` from ``/proc/self/status`` at exit)::

    python benchmarks/sim_tissue_scale.py                    # 10,000 and 100,000 cells
    python benchmarks/sim_tissue_scale.py --cells 2000 --method fast
    python benchmarks/sim_tissue_scale.py --write            # also time write_h5ad

Prints one line per size (wall seconds of the simulation, imports excluded; kinetics
seconds; peak RSS, and the peak after the imports; distinct states; active communication
rows) and, with ``--json``, the rows as one JSON list on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def child(cells: int, genes: int, method: str, seed: int, write: bool) -> dict:
    """Simulate one section in this process and measure it."""
    t0 = time.perf_counter()
    import anndata  # noqa: F401 - imported before the clock starts, as in a session
    import scipy.spatial  # noqa: F401

    import virtualcell as vc

    vc.sim.simulate_tissue(genes, n_cells=10, seed=seed)  # imports the lazy parts
    seconds_import = time.perf_counter() - t0
    rss_import = _peak_rss_mb()
    t0 = time.perf_counter()
    adata = vc.sim.simulate_tissue(genes, n_cells=cells, method=method, seed=seed)
    seconds = time.perf_counter() - t0
    row = {
        "cells": cells,
        "genes": genes,
        "method": method,
        "seconds": round(seconds, 2),
        "seconds_import": round(seconds_import, 2),
        "peak_rss_after_import_mb": round(rss_import, 1),
        "seconds_kinetics": adata.uns["vc"]["sim"]["seconds_kinetics"],
        "n_states": int(adata.uns["vc"]["sim"]["n_states"]),
        "n_active_rows": int(adata.uns["true_communication"]["active"].sum()),
        "nnz_fraction": round(adata.X.nnz / (adata.n_obs * adata.n_vars), 3),
    }
    if write:
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            adata.write_h5ad(os.path.join(tmp, "t.h5ad"))
            row["seconds_write"] = round(time.perf_counter() - t1, 2)
    row["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--genes", type=int, default=100)
    ap.add_argument("--method", choices=["cle", "fast"], default="fast")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="also time write_h5ad")
    ap.add_argument("--json", action="store_true", help="rows as JSON on stdout")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        row = child(args.cells[0], args.genes, args.method, args.seed, args.write)
        print(json.dumps(row))
        return
    rows = []
    for n in args.cells:
        cmd = [sys.executable, __file__, "--child", "--cells", str(n), "--genes",
               str(args.genes), "--method", args.method, "--seed", str(args.seed)]  # fmt: skip
        if args.write:
            cmd.append("--write")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['cells']:>9,} cells x {row['genes']} genes ({row['method']}): "
            f"{row['seconds']:.1f} s (layout + kinetics {row['seconds_kinetics']:.1f} s"
            + (f", write {row['seconds_write']:.1f} s" if "seconds_write" in row else "")
            + f"), peak RSS {row['peak_rss_mb']:.0f} MB ({row['peak_rss_after_import_mb']:.0f} "
            f"MB after imports), {row['n_states']} states, "
            f"{row['n_active_rows']} active communication rows",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
