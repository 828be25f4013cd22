"""GRNBoost2-style inference at 2,000 genes x 10,000 cells on every engine backend.

Data: ``grn_scale.simulate`` (a random sparse network over 200 TFs, Poisson counts,
log1p); candidate regulators = the 200 TFs, every gene a target. Each backend runs the
same call, ``grnboost2_scores(data, ...)`` over all (or ``--targets``) targets:

* ``processes``: the local process pool (``n_jobs`` workers);
* ``dask-N``: a Dask ``LocalCluster`` of N single-threaded worker processes, made the
  default with ``use_dask`` (cluster start-up timed separately, not in the run);
* ``old-N``: the code before the engine: every chunk of targets bins the regulator
  matrix again (no per-worker cache) and chunks are ``ceil(targets / (4 n_jobs))``,
  run on ``--old-targets`` targets and extrapolated linearly, as the previous
  ``grn_scale.py`` figure (~20 min) was;
* ``serial``: ``n_jobs=1`` in this process (``--serial``).

Besides wall time it records the CPU seconds of this process and all its descendants
(the workers) during the call, read with psutil before and after: CPU seconds per target
do not depend much on how busy a shared machine is, wall time does; ``cores used`` =
CPU s / wall s shows how much of the machine the run actually got (under ``nice`` on a
busy machine, only its idle time). The 1-minute load average before each run is printed
with it. Every backend's scores are checked equal to
the first backend's. Run::

    nice python benchmarks/grn_scale_engine.py --targets 0 --backends processes,dask-1,dask-2,old-2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import cpu_delta, cpu_tree


def _old_mode(data, targets, n_jobs, seed):
    """The pre-engine grnboost2 loop: chunks of ceil(n / (4 n_jobs)), binning per chunk."""
    from virtualcell.grn import _trees
    from virtualcell.grn._parallel import map_targets

    params = _trees._boost_params(
        data.X.shape[0],
        len(data.regulators),
        learning_rate=0.05,
        max_depth=3,
        feature_fraction=0.1,
        subsample=0.9,
        min_leaf=20,
    )  # the defaults of grnboost2_scores
    chunk = max(1, int(np.ceil(len(targets) / (4 * max(1, n_jobs)))))
    imp = map_targets(
        _trees._boost_chunk, targets, n_jobs=n_jobs, chunk_size=chunk, description="old",
        X=data.X, regulators=data.regulators, params=params, max_rounds=500,
        early_stopping=25, valid_fraction=0.1, seed=seed, cache_key="",
    )  # fmt: skip
    S = np.zeros((len(data.regulators), data.n_genes))
    S[:, targets] = imp.T
    return S


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--cells", type=int, default=10000)
    ap.add_argument("--tfs", type=int, default=200)
    ap.add_argument("--targets", type=int, default=0, help="0 = every gene")
    ap.add_argument("--old-targets", type=int, default=40)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--backends", default="processes,dask-1,dask-2,old-2")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from grn_scale import simulate

    import virtualcell as vc
    from virtualcell._utils import markdown_table, use_dask
    from virtualcell.grn._base import prepare
    from virtualcell.grn._trees import grnboost2_scores

    vc.settings.verbosity = 0
    t0 = time.perf_counter()
    X, genes, _ = simulate(args.genes, args.cells, args.tfs)
    data = prepare(X, genes=genes, regulators=genes[: args.tfs])
    print(f"data: {args.genes} genes x {args.cells} cells, {args.tfs} TFs "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)  # fmt: skip
    n_t = args.targets if 0 < args.targets < args.genes else args.genes
    targets = np.sort(np.random.default_rng(1).choice(args.genes, n_t, replace=False))
    rows, reference = [], None
    for backend in args.backends.split(","):
        load = os.getloadavg()[0]
        start_s = 0.0
        before = cpu_tree()
        if backend.startswith("dask-"):
            workers = int(backend.split("-")[1])
            t_start = time.perf_counter()
            with use_dask("local", n_workers=workers):
                start_s = time.perf_counter() - t_start
                before = cpu_tree()
                t = time.perf_counter()
                S = grnboost2_scores(data, seed=args.seed, targets=targets)
                wall = time.perf_counter() - t
                cpu = cpu_delta(before, cpu_tree())
            done = n_t
        elif backend.startswith("old-"):
            workers = int(backend.split("-")[1])
            sub = targets[:: max(1, n_t // args.old_targets)][: args.old_targets]
            t = time.perf_counter()
            S = _old_mode(data, sub, workers, args.seed)
            wall = time.perf_counter() - t
            cpu = cpu_delta(before, cpu_tree())
            done = len(sub)
            new = grnboost2_scores(data, seed=args.seed, targets=sub, n_jobs=workers)
            assert np.array_equal(S, new), "old and new code disagree"
            S = None
        else:
            workers = 1 if backend == "serial" else args.n_jobs
            t = time.perf_counter()
            S = grnboost2_scores(data, seed=args.seed, targets=targets, n_jobs=workers)
            wall = time.perf_counter() - t
            cpu = cpu_delta(before, cpu_tree())
            done = n_t
        if S is not None:
            if reference is None:
                reference = S
            else:
                assert np.array_equal(S, reference), f"{backend} scores differ"
        row = {
            "backend": backend,
            "workers": workers,
            "targets run": done,
            "wall s": round(wall, 1),
            "wall s, all genes": round(wall * args.genes / done, 1),
            "extrapolated": done < args.genes,
            "cpu s": round(cpu, 1),
            "cpu ms / target": round(1000 * cpu / done, 1),
            "cores used": round(cpu / wall, 2),
            "cluster start s": round(start_s, 1) if start_s else None,
            "load (1 min)": round(load, 1),
        }
        rows.append(row)
        print(row, flush=True)
    print()
    print(f"grnboost2_scores, {args.genes} genes x {args.cells} cells, {args.tfs} candidate TFs;"
          f" {os.cpu_count()} CPUs")  # fmt: skip
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
