"""The primed network at whole-transcriptome size, streamed from a backed h5ad onto Dask.

Data (written once, in chunks, never dense in full): ``--cells`` x ``--genes`` sparse
log-normalised expression (``log1p(counts / total * 1e4)``, float32 CSR) in an h5ad file.
The first ``--tfs`` genes are regulators; their counts follow 10 latent cell programs;
every other gene has 3 regulator parents (signed weights) acting on its log rate; gene
base rates are log-normal (median 0.04 counts), cell library sizes log-normal, four time
points shift every gene's rate (``obs["time"]``, the groups the network standardises
within). A prior of known edges holds 60 % of the true parent edges (true sign) and as
many wrong edges again as a third of that (random sign), as a knowledge store would.

Interventional data (``--perturbed N``, default 0: the observational file above, byte for
byte): N single-regulator knockout sets, the knocked-out regulators drawn without
replacement among the ``--tfs`` regulators and their ``--cells-per-set`` K cells each
among all cells (both from ``default_rng([seed, 22])``, apart from the observational
draws). In a knocked-out cell the regulator's counts are 0, and so is its level in its
targets' log rate (``log1p(0)``: the knockout propagates to its targets through the same
weights). ``obs["perturbation"]`` holds the regulator's name (``control`` elsewhere) and
is passed as ``perturbed="perturbation"`` to the statistics pass. A file written earlier
is reused only if its labels match this design (the default file names carry ``_koNxK``).

Each backend (``serial``: this process; ``dask-N``: a ``LocalCluster`` of N
single-threaded worker processes on 127.0.0.1, its start timed apart) runs

1. ``vc.grn.primed_statistics``: one streamed pass over all cells (the workers open the
   file themselves, one cell range each), and
2. ``vc.grn.solve_primed`` on ``--targets`` targets (a documented random subset; the
   cross-validation over the full grid and the final solve); per-target time is
   extrapolated to every gene (cost is linear in the targets: each target is
   independent once the regulator inverses are formed, which is timed apart as setup).

With ``--perturbed N`` the pass also collects each knockout set's statistics (their
memory is printed against the arrays' measured bytes, predicted per set of ``n`` cells
and ``k`` genes with ``r`` regulators and ``g`` genes as the smaller of its cells,
``8 B x n x (r + k + 1)``, and its Gram blocks, ``8 B x folds x r x (r + k)``, plus
``8 B x g`` per set gene that is a regulator); the ``--targets`` random targets lose
any knocked-out regulator (they take the fast path) and the first
``--perturbed-targets`` knocked-out regulators are solved as a third phase ("solve
(knocked-out targets)": each solved directly without its set's cells, extrapolated to
all N). The knockout sets' statistics and both solves are checked equal across backends.

Measured per phase: wall seconds, CPU seconds of this process and every descendant
(psutil, before/after), the 1-minute load average, peak RSS of the client and of each
worker process (psutil sampling every 0.2 s), read throughput (stored values and MB of
the CSR arrays per second of the pass). Every backend's statistics and coefficients are
checked equal (max |diff| <= 1e-8) to the first backend's. Run (one heavy run at a time)::

    nice python benchmarks/grn_transcriptome_scale.py --cells 100000 --genes 20000 \\
        --tfs 1600 --targets 400 --backends dask-1,dask-2

Memory with knockouts (``S`` = the sets' statistics): a set of fewer cells than about
``folds x r`` keeps its cells (1.2 MiB per 100-cell set at 1,600 regulators), a larger
one its Gram blocks (58.6 MiB at 1,600 regulators and 3 folds); a worker of the pass holds
the sets with cells in its cell range, the client ``S`` (two while adding two workers'
parts), and a chunk of knocked-out targets in the solve only the sets of its targets::

    nice python benchmarks/grn_transcriptome_scale.py --cells 100000 --genes 20000 \\
        --tfs 1600 --targets 200 --perturbed 40 --cells-per-set 100 \\
        --perturbed-targets 10 --backends dask-1,dask-2
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _measure import cpu_delta, cpu_tree  # benchmarks/ is sys.path[0]
from _synthetic_grn import tf_network  # benchmarks/ is sys.path[0]


def knockouts(
    *, cells: int, tfs: int, perturbed: int, cells_per_set: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The knockout design (module docstring): ``(regulator knocked out in each set, each
    cell's set or -1)``, from its own generator (``default_rng([seed, 22])``) so that the
    observational draws are untouched."""
    if perturbed < 0 or cells_per_set < 1:
        raise SystemExit("--perturbed must be >= 0 and --cells-per-set >= 1")
    if perturbed > tfs:
        raise SystemExit(f"--perturbed {perturbed} > --tfs {tfs}: one regulator per set")
    if perturbed * cells_per_set > cells:
        raise SystemExit(f"--perturbed x --cells-per-set = {perturbed * cells_per_set:,} "
                         f"knockout cells > --cells {cells:,}")  # fmt: skip
    rng = np.random.default_rng([seed, 22])
    regulator = rng.choice(tfs, perturbed, replace=False)
    set_of = -np.ones(cells, dtype=np.int64)
    chosen = rng.choice(cells, perturbed * cells_per_set, replace=False)
    set_of[chosen] = np.repeat(np.arange(perturbed), cells_per_set)
    return regulator, set_of


def simulate_h5ad(
    path: Path,
    *,
    cells: int,
    genes: int,
    tfs: int,
    chunk: int = 2000,
    seed: int = 0,
    perturbed: int = 0,
    cells_per_set: int = 100,
) -> pd.DataFrame:
    """Write the h5ad (module docstring) chunk by chunk; return the prior edge table.
    ``perturbed > 0`` adds the knockout sets (:func:`knockouts`) and ``obs["perturbation"]``;
    ``perturbed = 0`` writes exactly the observational file."""
    import anndata as ad
    import h5py

    from virtualcell._utils import atomic_path

    rng = np.random.default_rng(seed)
    names, base, programs, parents, weights = tf_network(
        rng, tfs, genes, base_median=0.04, base_sd=1.2, weight_high=1.5
    )
    n_t = genes - tfs
    w = sp.csr_matrix(
        (weights.ravel(), (parents.ravel(), np.repeat(np.arange(n_t), 3))), shape=(tfs, n_t)
    )
    shift = rng.normal(0, 0.3, size=(4, genes))
    time_of = rng.integers(0, 4, cells)
    if perturbed:
        ko_regulator, set_of = knockouts(cells=cells, tfs=tfs, perturbed=perturbed,
                                         cells_per_set=cells_per_set, seed=seed)  # fmt: skip
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        matrix = None
        for a in range(0, cells, chunk):
            b = min(a + chunk, cells)
            r = np.random.default_rng([seed, a])
            size = np.exp(r.normal(0, 0.4, b - a))[:, None]
            state = r.normal(size=(b - a, 10)) @ programs
            tf = r.poisson(size * base[:tfs] * np.exp(0.8 * state + shift[time_of[a:b], :tfs]))
            if perturbed:  # a knockout: the regulator's level is 0, also in its targets' rate
                ko = np.flatnonzero(set_of[a:b] >= 0)
                tf[ko, ko_regulator[set_of[a:b][ko]]] = 0
            drive = np.asarray(w.T @ (np.log1p(tf) - 0.05).T).T  # cells x targets
            rate = size * base[tfs:] * np.exp(np.minimum(drive + shift[time_of[a:b], tfs:], 3))
            counts = sp.csr_matrix(np.hstack([tf, r.poisson(rate)]).astype(np.float32))
            del drive, rate, tf
            total = np.asarray(counts.sum(axis=1)).ravel()
            counts = sp.diags((1e4 / np.maximum(total, 1)).astype(np.float32)) @ counts
            counts.data = np.log1p(counts.data)
            x = sp.csr_matrix(counts, dtype=np.float32)
            if matrix is None:
                ad.io.write_elem(f, "X", x)
                matrix = ad.io.sparse_dataset(f["X"])
            else:
                matrix.append(x)
            print(f"  wrote cells {b:,}/{cells:,}", flush=True)
        obs = pd.DataFrame(
            {"time": pd.Categorical([f"t{t}" for t in time_of])},
            index=[f"cell{i}" for i in range(cells)],
        )
        if perturbed:
            label = np.array(["control", *names[ko_regulator]], dtype=object)
            obs["perturbation"] = pd.Categorical(label[set_of + 1])
        ad.io.write_elem(f, "obs", obs)
        ad.io.write_elem(f, "var", pd.DataFrame(index=names))
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
    true = pd.DataFrame(
        {
            "regulator": names[parents.ravel()],
            "target": names[tfs + np.repeat(np.arange(n_t), 3)],
            "sign": np.sign(weights.ravel()).astype(int),
        }
    )
    known = true.sample(frac=0.6, random_state=seed)
    n_wrong = len(known) // 3
    wrong = pd.DataFrame(
        {
            "regulator": names[rng.integers(0, tfs, n_wrong)],
            "target": names[tfs + rng.integers(0, n_t, n_wrong)],
            "sign": rng.choice([-1, 1], n_wrong),
        }
    )
    return pd.concat([known, wrong], ignore_index=True)


class _Sampler:
    """Peak RSS per process of this process tree, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self.me = psutil.Process()
        self.interval = interval
        self.peak: dict[int, int] = {}
        self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            now = 0
            for p in [self.me, *self.me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                now += rss
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
            self.total = max(self.total, now)
            self._stop.wait(self.interval)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _phase(fn, worker_pids: list[int]):
    """Run ``fn()``; return its value and the phase's measurements."""
    load = os.getloadavg()[0]
    before = cpu_tree()
    t = time.perf_counter()
    with _Sampler() as s:
        value = fn()
    wall = time.perf_counter() - t
    after = cpu_tree()
    cpu = cpu_delta(before, after)
    gib = 1024**3
    workers = [s.peak.get(pid, 0) / gib for pid in worker_pids]
    return value, {
        "wall_s": wall,
        "cpu_s": cpu,
        "load_1min": load,
        "client_peak_gib": s.peak.get(os.getpid(), 0) / gib,
        "worker_peak_gib": workers,
        "tree_peak_gib": s.total / gib,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--tfs", type=int, default=1_600)
    ap.add_argument("--targets", type=int, default=400, help="solved targets (0 = all)")
    ap.add_argument("--backends", default="dask-1,dask-2")
    ap.add_argument("--chunk-cells", type=int, default=2000)
    ap.add_argument(
        "--perturbed",
        type=int,
        default=0,
        help="single-regulator knockout sets (0 = observational data only)",
    )
    ap.add_argument("--cells-per-set", type=int, default=100, help="cells per knockout set")
    ap.add_argument(
        "--perturbed-targets",
        type=int,
        default=20,
        help="knocked-out regulators solved as targets (their own timed phase)",
    )
    ap.add_argument(
        "--file",
        type=Path,
        default=None,
        help="h5ad (default results/grn/transcriptome.h5ad; with --perturbed N "
        "results/grn/transcriptome_koNxK.h5ad)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON (default results/grn/transcriptome_scale.json; with "
        "--perturbed N results/grn/transcriptome_scale_koNxK.json)",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n_sets = args.perturbed
    tag = f"_ko{n_sets}x{args.cells_per_set}" if n_sets else ""
    if args.file is None:
        args.file = Path(f"results/grn/transcriptome{tag}.h5ad")
    if args.out is None:
        args.out = Path(f"results/grn/transcriptome_scale{tag}.json")
    if n_sets:
        ko_regulator, set_of = knockouts(cells=args.cells, tfs=args.tfs, perturbed=n_sets,
                                         cells_per_set=args.cells_per_set, seed=args.seed)  # fmt: skip

    import virtualcell as vc
    from virtualcell._utils import markdown_table, use_dask, write_json

    vc.settings.verbosity = 0
    args.file.parent.mkdir(parents=True, exist_ok=True)
    prior_path = args.file.with_suffix(".prior.csv")
    if not args.file.exists() or not prior_path.exists():
        t = time.perf_counter()
        prior = simulate_h5ad(args.file, cells=args.cells, genes=args.genes, tfs=args.tfs,
                              seed=args.seed, perturbed=n_sets,
                              cells_per_set=args.cells_per_set)  # fmt: skip
        prior.to_csv(prior_path, index=False)
        print(f"wrote {args.file} in {time.perf_counter() - t:.0f} s", flush=True)
    prior = pd.read_csv(prior_path)
    import h5py

    with h5py.File(args.file, "r") as f:
        shape = tuple(int(v) for v in f["X"].attrs["shape"])
        nnz = int(f["X"]["data"].shape[0])
        csr_mb = sum(f["X"][k].size * f["X"][k].dtype.itemsize for k in f["X"]) / 1e6
        source = vc.data.CellSource.open(args.file)
        tf_names = [str(v) for v in source.var_names[: args.tfs]]
        labels = source.obs["perturbation"] if "perturbation" in source.obs else None
        source.close()
    if n_sets:  # a file written earlier must hold this run's knockout design
        want = np.array(["control", *np.asarray(tf_names)[ko_regulator]], dtype=object)
        if (
            labels is None
            or shape[0] != args.cells
            or not np.array_equal(labels.astype(str).to_numpy(), want[set_of + 1].astype(str))
        ):
            raise SystemExit(f"{args.file} does not hold --cells {args.cells} with "
                             f"--perturbed {n_sets} --cells-per-set {args.cells_per_set} "
                             f"(seed {args.seed}): remove it or pass another --file")  # fmt: skip
    print(f"data: {shape[0]:,} cells x {shape[1]:,} genes, density {nnz / np.prod(shape):.3f}, "
          f"CSR {csr_mb:,.0f} MB, {len(prior):,} prior edges", flush=True)  # fmt: skip
    n_genes = shape[1]
    n_t = args.targets if 0 < args.targets < n_genes else n_genes
    targets = np.sort(np.random.default_rng(1).choice(n_genes, n_t, replace=False))
    ko_targets = np.array([], dtype=int)
    if n_sets:  # the random targets take the fast path; knocked-out ones are timed apart
        targets = np.setdiff1d(targets, ko_regulator)
        n_t = targets.size
        ko_targets = np.sort(ko_regulator[: max(0, min(args.perturbed_targets, n_sets))])
    rows, reference, results = [], None, []
    for backend in args.backends.split(","):
        workers = int(backend.split("-")[1]) if backend.startswith("dask-") else 1
        t = time.perf_counter()
        if backend.startswith("dask-"):
            ctx = use_dask("local", n_workers=workers)
        else:
            import contextlib

            ctx = contextlib.nullcontext(None)
        with ctx as client:
            start_s = time.perf_counter() - t
            pids = list(client.run(os.getpid).values()) if client is not None else []
            stats, m1 = _phase(
                lambda client=client: vc.grn.primed_statistics(
                    args.file, regulators=tf_names, groupby="time",
                    chunk_cells=args.chunk_cells, dask=client,
                    perturbed="perturbation" if n_sets else None,
                ),
                pids,
            )  # fmt: skip

            def solve(tg, client=client, stats=stats, pids=pids):
                """One timed solve of targets ``tg``: (network, metrics, phase timing)."""
                tm: dict[str, float] = {}
                fitted, metrics = _phase(
                    lambda: vc.grn.solve_primed(stats, prior=prior, targets=tg, dask=client,
                                                timing=tm),
                    pids,
                )  # fmt: skip
                return fitted, metrics, tm

            net, m2, timing = solve(targets)
            if ko_targets.size:
                ko_net, m3, ko_timing = solve(ko_targets)
        check = {
            "cross": stats.cross[:, :50].copy(),
            "coef": net.coef[:, targets].copy(),
            "setting": (net.ridge, net.strength, net.prior_mean),
        }
        if n_sets:
            folds, n_reg = stats.folds, len(stats.regulators)
            sets_bytes = sum(ps.nbytes for ps in stats.perturbed)
            predicted = [
                8 * min(int(ps.cells.sum()) * (n_reg + ps.genes.size + 1),
                        folds * n_reg * (n_reg + ps.genes.size))
                + 8 * ps.regulator_rows.size * n_genes
                for ps in stats.perturbed
            ]  # fmt: skip
            sets_memory = {
                "sets": len(stats.perturbed),
                "cells_per_set": args.cells_per_set,
                "held_as_cells": sum(ps.z is not None for ps in stats.perturbed),
                "predicted_gib": sum(predicted) / 1024**3,
                "measured_gib": sets_bytes / 1024**3,
                "as_gram_blocks_gib": sum(8 * folds * n_reg * (n_reg + ps.genes.size)
                                          for ps in stats.perturbed) / 1024**3,
            }  # fmt: skip
            check["set_cross"] = np.concatenate([
                (ps.z if ps.z is not None else ps.cross)[..., :50].ravel()
                for ps in stats.perturbed
            ])  # fmt: skip
        if ko_targets.size:
            check["coef_ko"] = ko_net.coef[:, ko_targets].copy()
            check["setting_ko"] = (ko_net.ridge, ko_net.strength, ko_net.prior_mean)
            del ko_net
        del stats, net
        if reference is None:
            reference = check
            same = "reference"
        else:
            d1 = float(np.abs(check["cross"] - reference["cross"]).max())
            d2 = float(np.abs(check["coef"] - reference["coef"]).max())
            assert check["setting"] == reference["setting"], (check["setting"], reference)
            if n_sets:
                d1 = max(d1, float(np.abs(check["set_cross"] - reference["set_cross"]).max()))
            if ko_targets.size:
                d2 = max(d2, float(np.abs(check["coef_ko"] - reference["coef_ko"]).max()))
                assert check["setting_ko"] == reference["setting_ko"], check["setting_ko"]
            assert max(d1, d2) <= 1e-8, f"{backend} differs: {d1:.2e} {d2:.2e}"
            same = f"max |diff| stats {d1:.1e}, coef {d2:.1e}"
        per_target = m2["wall_s"] - timing.get("cv_setup_s", 0.0)
        result = {
            "backend": backend, "workers": workers, "cluster_start_s": start_s,
            "statistics": m1, "solve": m2, "solve_timing": timing, "targets": int(n_t),
            "setting": list(check["setting"]), "equal_to_first": same,
        }  # fmt: skip
        phases = [("statistics pass", m1), ("solve", m2)]
        if n_sets:
            result["perturbed_sets"] = sets_memory
            print(f"  {backend}: {sets_memory['sets']} perturbed sets x "
                  f"{args.cells_per_set} cells ({sets_memory['held_as_cells']} held as "
                  f"cells), their statistics {1024 * sets_memory['measured_gib']:,.1f} MiB "
                  f"(predicted, the smaller of 8 B x cells x (r + k + 1) and "
                  f"8 B x folds x r x (r + k), plus 8 B x g per set regulator: "
                  f"{1024 * sets_memory['predicted_gib']:,.1f} MiB; all as Gram blocks: "
                  f"{1024 * sets_memory['as_gram_blocks_gib']:,.1f} MiB)",
                  flush=True)  # fmt: skip
        if ko_targets.size:
            result["solve_perturbed"] = m3
            result["solve_perturbed_timing"] = ko_timing
            result["perturbed_targets"] = int(ko_targets.size)
            result["setting_perturbed"] = list(check["setting_ko"])
            phases.append(("solve (knocked-out targets)", m3))
        results.append(result)
        for phase, m in phases:
            row = {
                "backend": backend,
                "phase": phase,
                "wall s": round(m["wall_s"], 1),
                "CPU s": round(m["cpu_s"], 1),
                "cores used": round(m["cpu_s"] / m["wall_s"], 2),
                "load (1 min)": round(m["load_1min"], 1),
                "client GiB": round(m["client_peak_gib"], 2),
                "GiB / worker": ", ".join(f"{v:.2f}" for v in m["worker_peak_gib"]) or "-",
            }
            if phase == "statistics pass":
                row["per unit"] = (
                    f"{shape[0] / m['wall_s']:,.0f} cells/s, {csr_mb / m['wall_s']:.1f} MB/s"
                )
            elif phase != "solve":
                ko_per = m["wall_s"] - ko_timing.get("cv_setup_s", 0.0)
                row["per unit"] = (
                    f"{1000 * ko_per / ko_targets.size:.0f} ms/target wall, "
                    f"{1000 * m['cpu_s'] / ko_targets.size:.0f} ms CPU (setup "
                    f"{ko_timing.get('cv_setup_s', 0):.0f} s); all {n_sets:,}: "
                    f"{(ko_per * n_sets / ko_targets.size) / 60:.0f} min"
                )
            else:
                row["per unit"] = (
                    f"{1000 * per_target / n_t:.1f} ms/target wall, "
                    f"{1000 * m['cpu_s'] / n_t:.1f} ms CPU (setup {timing.get('cv_setup_s', 0):.0f}"
                    f" s); all {n_genes:,}: {(per_target * n_genes / n_t) / 60:.0f} min"
                )
            rows.append(row)
            print(row, flush=True)
        print(f"  {backend}: cluster start {start_s:.1f} s; {same}", flush=True)
    data = {"cells": shape[0], "genes": shape[1], "tfs": args.tfs, "nnz": nnz,
            "csr_mb": csr_mb, "prior_edges": len(prior)}  # fmt: skip
    if n_sets:
        data.update(perturbed_sets=n_sets, cells_per_set=args.cells_per_set,
                    perturbed_targets=int(ko_targets.size))  # fmt: skip
    write_json(args.out, {"data": data, "cpus": os.cpu_count(), "runs": results})
    print()
    ko = (f", {n_sets} knockout sets x {args.cells_per_set} cells "
          f"(+ {ko_targets.size} knocked-out targets)" if n_sets else "")  # fmt: skip
    print(f"primed network, {shape[0]:,} cells x {shape[1]:,} genes, {args.tfs} regulators, "
          f"{n_t} targets solved{ko}; {os.cpu_count()} CPUs")  # fmt: skip
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
