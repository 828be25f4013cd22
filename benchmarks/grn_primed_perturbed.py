"""The primed network on Perturb-seq-like data: streamed from the file vs read into memory.

Data (``simulate``): ``--cells`` x ``--genes`` log-normalised expression
(``log1p(counts / total * 1e4)``, float32 CSR) in an h5ad. The first ``--tfs`` genes are
regulators following 10 latent cell programs; every other gene has 3 regulator parents
(signed weights on its log rate); base rates log-normal, library sizes log-normal, two
time points (``obs["time"]``). ``--perturbed`` regulators are knocked out, each in
``--cells-per-ko`` cells (rate x 0.05, the effect passed on to its targets);
the other cells are ``control`` (``obs["perturbation"]``). A prior of known edges (60 %
of the true parent edges with their sign, plus a third as many random ones) is written
next to it.

``fit --mode stream|memory`` runs the public entry point one way, in its own process
(measure each with ``/usr/bin/time -v``):

* ``stream``: ``vc.grn.infer(PATH, method="primed", perturbed="perturbation", ...)``
  (the file read in chunks of ``--chunk-cells``);
* ``memory``: ``adata = anndata.read_h5ad(PATH)`` then the same call on ``adata``.

Both write their edge table; ``compare`` checks the two are equal (max |diff| of the
scores, sign agreement)::

    python benchmarks/grn_primed_perturbed.py simulate --out /tmp/ps.h5ad
    /usr/bin/time -v python benchmarks/grn_primed_perturbed.py fit --mode stream \\
        --data /tmp/ps.h5ad --edges /tmp/stream.parquet
    /usr/bin/time -v python benchmarks/grn_primed_perturbed.py fit --mode memory \\
        --data /tmp/ps.h5ad --edges /tmp/memory.parquet
    python benchmarks/grn_primed_perturbed.py compare /tmp/stream.parquet /tmp/memory.parquet
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _synthetic_grn import tf_network  # benchmarks/ is sys.path[0]


def simulate(
    path: Path, *, cells: int, genes: int, tfs: int, perturbed: int, cells_per_ko: int, seed: int
) -> None:
    """Write the h5ad and its prior (module docstring)."""
    import anndata as ad

    from virtualcell._utils import atomic_path

    rng = np.random.default_rng(seed)
    names, base, programs, parents, weights = tf_network(
        rng, tfs, genes, base_median=0.3, base_sd=1.0, weight_high=1.0
    )
    kos = rng.choice(tfs, perturbed, replace=False)
    labels = np.array(["control"] * cells, dtype=object)
    order = rng.permutation(cells)
    for i, k in enumerate(kos):
        labels[order[i * cells_per_ko : (i + 1) * cells_per_ko]] = names[k]
    time_point = rng.integers(0, 2, cells)
    blocks = []
    for a in range(0, cells, 2000):
        b = min(a + 2000, cells)
        m = b - a
        tf_log = rng.normal(size=(m, 10)) @ programs + 0.5 * rng.normal(size=(m, tfs))
        ko = np.array([np.flatnonzero(names[:tfs] == lab)[0] if lab != "control" else -1
                       for lab in labels[a:b]])  # fmt: skip
        rows = np.flatnonzero(ko >= 0)
        tf_log[rows, ko[rows]] = np.log(0.05)  # knocked out: its rate x 0.05
        tg_log = np.einsum("cpk,pk->cp", np.clip(tf_log[:, parents], -3, 3), weights)
        log_rate = np.hstack([tf_log, tg_log]) + np.log(base) + 0.3 * time_point[a:b, None]
        lib = np.exp(rng.normal(0, 0.3, m))[:, None]
        counts = rng.poisson(np.exp(np.clip(log_rate, -10, 4)) * lib).astype(np.float64)
        counts[rows, ko[rows]] = rng.poisson(0.02, rows.size)
        norm = np.log1p(counts / np.maximum(counts.sum(1, keepdims=True), 1) * 1e4)
        blocks.append(sp.csr_matrix(norm.astype(np.float32)))
    obs = pd.DataFrame(
        {"perturbation": labels, "time": np.array(["d1", "d2"])[time_point]},
        index=[f"c{i}" for i in range(cells)],
    )
    adata = ad.AnnData(sp.vstack(blocks).tocsr(), obs=obs, var=pd.DataFrame(index=names))
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    true = pd.DataFrame({
        "regulator": names[parents.ravel()],
        "target": np.repeat(names[tfs:], 3),
        "sign": np.sign(weights.ravel()).astype(int),
    })  # fmt: skip
    known = true.sample(frac=0.6, random_state=seed)
    wrong = pd.DataFrame({
        "regulator": names[rng.integers(0, tfs, len(known) // 3)],
        "target": names[rng.integers(tfs, genes, len(known) // 3)],
        "sign": rng.choice([-1, 1], len(known) // 3),
    })  # fmt: skip
    prior = pd.concat([known, wrong]).drop_duplicates(["regulator", "target"])
    with atomic_path(path.with_suffix(".prior.csv")) as tmp:
        prior.to_csv(tmp, index=False)
    print(json.dumps({"cells": cells, "genes": genes, "tfs": tfs, "perturbed": perturbed,
                      "nnz": int(adata.X.nnz), "prior_edges": len(prior)}))  # fmt: skip


def fit(path: Path, *, mode: str, tfs: int, chunk_cells: int, edges: Path) -> None:
    """One fit through ``vc.grn.infer`` (module docstring); prints wall seconds."""
    import virtualcell as vc
    from virtualcell._utils import atomic_path

    prior = pd.read_csv(path.with_suffix(".prior.csv"))
    regulators = [f"TF{i}" for i in range(tfs)]
    t0 = time.perf_counter()
    if mode == "memory":
        import anndata as ad

        data = ad.read_h5ad(path)
        t_read = time.perf_counter() - t0
        options: dict = {}
    else:
        data, t_read, options = path, 0.0, {"chunk_cells": chunk_cells}
    table = vc.grn.infer(data, method="primed", regulators=regulators, prior=prior,
                         groupby="time", perturbed="perturbation", **options)  # fmt: skip
    wall = time.perf_counter() - t0
    with atomic_path(edges) as tmp:
        table.to_parquet(tmp, index=False)
    print(json.dumps({"mode": mode, "wall_s": round(wall, 1), "read_s": round(t_read, 1),
                      "edges": len(table), "load_1min": os.getloadavg()[0]}))  # fmt: skip


def compare(a: Path, b: Path) -> None:
    x, y = pd.read_parquet(a), pd.read_parquet(b)
    m = x.merge(y, on=["regulator", "target"], validate="1:1")
    print(json.dumps({"edges": len(m), "same_edges": len(m) == len(x) == len(y),
                      "max_abs_diff": float(np.abs(m["score_x"] - m["score_y"]).max()),
                      "signs_agree": bool((m["sign_x"] == m["sign_y"]).all())}))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("simulate")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--cells", type=int, default=20_000)
    s.add_argument("--genes", type=int, default=2_000)
    s.add_argument("--tfs", type=int, default=200)
    s.add_argument("--perturbed", type=int, default=50)
    s.add_argument("--cells-per-ko", type=int, default=200)
    s.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("fit")
    f.add_argument("--mode", choices=("stream", "memory"), required=True)
    f.add_argument("--data", type=Path, required=True)
    f.add_argument("--edges", type=Path, required=True)
    f.add_argument("--tfs", type=int, default=200)
    f.add_argument("--chunk-cells", type=int, default=5000)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = p.parse_args()
    if args.cmd == "simulate":
        simulate(args.out, cells=args.cells, genes=args.genes, tfs=args.tfs,
                 perturbed=args.perturbed, cells_per_ko=args.cells_per_ko, seed=args.seed)  # fmt: skip
    elif args.cmd == "fit":
        fit(args.data, mode=args.mode, tfs=args.tfs, chunk_cells=args.chunk_cells,
            edges=args.edges)  # fmt: skip
    else:
        compare(args.a, args.b)


if __name__ == "__main__":
    main()
