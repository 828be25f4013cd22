"""Wall time and peak memory of ``vcell perturb evaluate`` on a large simulated screen.

Not a test: run on demand. A Perturb-seq-shaped screen is simulated straight into sparse
counts (no dense cells x genes matrix at any point) and written to ``.h5ad``; then
``vcell perturb evaluate FILE --task unseen_singles`` runs in a child process per step so
that every step's peak RSS is its own (the child's ``VmHWM`` from ``/proc/self/status``
at exit)::

    python benchmarks/perturb_scale.py                       # 200,000 cells x 5,000 genes
    python benchmarks/perturb_scale.py --cells 50000 --genes 2000 --perturbations 50 \\
        --controls 20000                                     # the issue's 50k x 2k case
    python benchmarks/perturb_scale.py --small               # 6,000 x 500: a quick check
    python benchmarks/perturb_scale.py --cells 1000000 --controls 100000 \
        --max-cells 300 --max-control-cells 20000            # a screen read in chunks

Simulation: per-gene mean expression ``mu_g`` log-normal (most genes low, a few high),
library size log-normal per cell, counts Poisson(``mu_g * lib``) drawn only where a
Bernoulli detection draw fires, so the density is ~8% as in 10x data. A knockout of gene
``k`` multiplies ``mu_k`` by 0.1 and ~2% of the genes (its "targets") by a log-normal
fold change of random sign. Steps timed: ``simulate`` (in this process), ``baselines``
(``--baselines-only``), ``network`` (``--methods network``, the baselines resumed from the
first step's ``--out``, so this step costs the network alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def simulate(
    path: Path,
    *,
    cells: int,
    genes: int,
    perturbations: int,
    controls: int,
    seed: int = 0,
    chunk: int = 5000,
    mean_log: float = -3.2,
) -> dict[str, float]:
    """Write a simulated sparse-count screen to ``path`` (module docstring)."""
    import anndata as ad
    import numpy as np
    import pandas as pd
    from scipy import sparse

    rng = np.random.default_rng(seed)
    gene_names = np.array([f"G{i:05d}" for i in range(genes)])
    mu = rng.lognormal(mean=mean_log, sigma=1.5, size=genes)  # counts / cell at lib 1
    mu = np.minimum(mu, 50.0)
    targets = rng.choice(genes, size=perturbations, replace=False)
    effects = np.ones((perturbations + 1, genes))  # row 0 = control
    n_down = max(1, genes // 50)
    for p, k in enumerate(targets, start=1):
        hit = rng.choice(genes, size=n_down, replace=False)
        effects[p, hit] = np.exp(rng.normal(0, 0.7, size=n_down) * rng.choice([-1, 1], n_down))
        effects[p, k] = 0.1
    per = (cells - controls) // max(perturbations, 1)
    codes = np.concatenate(
        [np.zeros(controls, int), np.repeat(np.arange(1, perturbations + 1), per)]
    )
    rng.shuffle(codes)
    n = len(codes)
    blocks = []
    for start in range(0, n, chunk):
        c = codes[start : start + chunk]
        lib = rng.lognormal(mean=0.0, sigma=0.3, size=len(c))
        lam = mu[None, :] * effects[c] * lib[:, None]
        # sparse draw: a count exists with probability 1 - exp(-lam); its value is
        # 1 + Poisson(lam) (a zero-truncated-ish Poisson, cheap and sparse)
        p_nz = -np.expm1(-lam)
        nz = rng.random(lam.shape) < p_nz
        rows, cols = np.nonzero(nz)
        vals = 1 + rng.poisson(lam[rows, cols])
        blocks.append(
            sparse.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(len(c), genes))
        )
    x = sparse.vstack(blocks, format="csr")
    labels = np.array(["non-targeting", *gene_names[targets]], dtype=object)[codes]
    obs = pd.DataFrame({"perturbation": pd.Categorical(labels)}, index=[f"c{i}" for i in range(n)])
    adata = ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=gene_names))
    adata.write_h5ad(path)
    return {"cells": n, "genes": genes, "density": x.nnz / (n * genes), "nnz": x.nnz}


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_CHILD = (
    "import atexit, sys\n"
    "from pathlib import Path\n"
    "def _peak():\n"
    "    for line in Path('/proc/self/status').read_text().splitlines():\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('VMHWM_KB ' + line.split()[1] + '\\n')\n"
    "atexit.register(_peak)\n"
    "from virtualcell.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def run_step(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``vcell ARGS`` in a fresh child; its wall seconds and its own peak RSS (MB,
    the child's ``VmHWM`` at exit)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    lines = proc.stderr.splitlines()
    peaks = [int(x.split()[1]) for x in lines if x.startswith("VMHWM_KB ")]
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"step failed (exit {proc.returncode}): vcell {' '.join(args)}")
    sys.stderr.write("\n".join(x for x in lines if not x.startswith("VMHWM_KB "))[-3000:] + "\n")
    return {"wall_s": wall, "peak_rss_mb": peaks[-1] / 1024 if peaks else float("nan"),
            "stdout": proc.stdout}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=5_000)
    parser.add_argument("--perturbations", type=int, default=500)
    parser.add_argument("--controls", type=int, default=None, help="default: 10%% of cells")
    parser.add_argument("--small", action="store_true", help="6,000 cells x 500 genes")
    parser.add_argument("--workdir", default=None, help="default: a temporary folder")
    parser.add_argument("--steps", default="baselines,network")
    parser.add_argument("--folds", type=int, default=None)
    parser.add_argument("--mean-log", type=float, default=-3.2, help="log mean expression")
    parser.add_argument("--reuse", action="store_true", help="reuse WORKDIR/screen.h5ad")
    parser.add_argument("--max-cells", type=int, default=None,
                        help="passed to every step: cells kept per perturbed condition")  # fmt: skip
    parser.add_argument("--max-control-cells", type=int, default=None,
                        help="passed to every step: control cells kept")  # fmt: skip
    parser.add_argument("--method-option", action="append", default=[],
                        help="METHOD.KEY=VALUE, passed to the step of METHOD")  # fmt: skip
    args = parser.parse_args()
    if args.small:
        args.cells, args.genes, args.perturbations = 6000, 500, 40
    controls = args.controls if args.controls is not None else args.cells // 10
    import tempfile

    work = Path(args.workdir or tempfile.mkdtemp(prefix="perturb_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "screen.h5ad"
    rows = []
    if not (args.reuse and data.is_file()):
        t0 = time.perf_counter()
        facts = simulate(
            data, cells=args.cells, genes=args.genes, perturbations=args.perturbations,
            controls=controls, mean_log=args.mean_log,
        )  # fmt: skip
        rows.append({"step": "simulate + write h5ad", "wall_s": time.perf_counter() - t0,
                     "peak_rss_mb": _vmhwm_mb()})  # fmt: skip
        size_mb = data.stat().st_size / 2**20
        print(
            f"data: {facts['cells']:,} cells x {facts['genes']:,} genes, {args.perturbations} "
            f"knockouts, {controls:,} controls, density {facts['density']:.3f}, "
            f"h5ad {size_mb:.0f} MB",
            flush=True,
        )
    env = {**os.environ}
    out = work / "eval"
    base = ["perturb", "evaluate", str(data), "--task", "unseen_singles", "--out", str(out)]
    if args.folds:
        base += ["--folds", str(args.folds)]
    for flag, value in (("--max-cells", args.max_cells),
                        ("--max-control-cells", args.max_control_cells)):  # fmt: skip
        if value is not None:
            base += [flag, str(value)]
    for step in [s for s in args.steps.split(",") if s]:
        extra = ["--baselines-only"] if step == "baselines" else ["--methods", step]
        for opt in args.method_option:  # only to the step that evaluates that method
            if opt.split(".", 1)[0] == step:
                extra += ["--method-option", opt]
        res = run_step([*base, *extra, "--json"], env)
        report = json.loads(res["stdout"])
        secs = {r["method"]: r.get("fit_seconds", float("nan")) for r in report["results"]}
        rows.append({"step": f"evaluate {step}", "wall_s": res["wall_s"],
                     "peak_rss_mb": res["peak_rss_mb"]})  # fmt: skip
        print(f"{step}: {res['wall_s']:.0f} s, peak RSS {res['peak_rss_mb']:.0f} MB; "
              f"fit seconds {secs}", flush=True)  # fmt: skip
        for r in report["results"]:
            print(f"  {r['method']:16s} pearson_delta={r.get('pearson_delta')} "
                  f"error={r.get('error', '')}")  # fmt: skip
    from virtualcell._utils import markdown_table

    print(markdown_table([{**r, "wall_s": round(r["wall_s"], 1),
                           "peak_rss_mb": round(r["peak_rss_mb"])} for r in rows]))  # fmt: skip


if __name__ == "__main__":
    main()
