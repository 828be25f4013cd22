"""Peak memory of training streamed from a backed .h5ad: flat in the corpus size.

Writes two sparse count files, ``n`` cells and ``10 n`` cells (same genes and density),
then, each in a fresh subprocess, trains a tiny CellEncoder for one full epoch streaming
from the file (``CellSource`` reads ``chunk_size`` rows at a time) and reports the peak
resident memory (``VmHWM``). For reference it also reports the peak of simply
loading the larger file into memory with ``anndata.read_h5ad``.

Usage::

    python benchmarks/streaming_memory.py [--cells 5000 --genes 2000 --density 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import numpy as np
from virtualcell import settings
settings.verbosity = 0
path, mode = sys.argv[1], sys.argv[2]
def hwm():  # peak resident set of this process image (VmHWM; ru_maxrss would include the parent's pre-exec RSS)
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
import torch, anndata as ad
from virtualcell.models import CellEncoder, CellEncoderConfig
from virtualcell.tokenize import RankTokenizer
from virtualcell.data import CellSource
from virtualcell.train import CellBatches, MaskedTokenObjective, TrainConfig, train
after_import = hwm() * 1024
t = time.perf_counter()
if mode == "load":
    a = ad.read_h5ad(path)
    n = a.n_obs
    steps = 0
else:
    src = CellSource.open(path)
    tok = RankTokenizer(max_len=64).fit(src.read(0, 2000), genes=src.var_names)
    net = CellEncoder(CellEncoderConfig(vocab_size=len(tok.vocab), d_model=16, n_layers=1, n_heads=2, max_len=72))
    data = CellBatches(src, tok, batch_size=256, chunk_size=2048, seed=0)
    steps = data.batches_per_epoch()
    train(net, data, MaskedTokenObjective(), TrainConfig(max_steps=steps, batch_size=256, chunk_size=2048, warmup_steps=1))
    n = src.n_obs
print(json.dumps({"cells": n, "steps": steps, "seconds": time.perf_counter() - t,
                  "peak_mb": hwm(),
                  "after_import_mb": after_import / 1024}))
"""


def write_file(path: Path, n_cells: int, n_genes: int, density: float, seed: int) -> None:
    import anndata as ad
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    per_cell = max(1, int(density * n_genes))
    cols = np.sort(rng.random((n_cells, n_genes)).argsort(1)[:, :per_cell], axis=1)
    data = rng.integers(1, 20, size=(n_cells, per_cell)).astype(np.float32)
    indptr = np.arange(0, n_cells * per_cell + 1, per_cell)
    adata = ad.AnnData(
        sp.csr_matrix((data.ravel(), cols.ravel(), indptr), shape=(n_cells, n_genes))
    )
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    adata.write_h5ad(path)


def run_child(path: Path, mode: str, mmap_threshold: int | None = None) -> dict:
    env = dict(os.environ)
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    if mmap_threshold is not None:
        env["MALLOC_MMAP_THRESHOLD_"] = str(mmap_threshold)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=2000)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument(
        "--mmap-threshold",
        type=int,
        default=131072,
        help="MALLOC_MMAP_THRESHOLD_ for the 'fixed allocator' runs (glibc)",
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for factor in (1, 10):
            path = Path(tmp) / f"x{factor}.h5ad"
            write_file(path, args.cells * factor, args.genes, args.density, factor)
            size = path.stat().st_size / 2**20
            for label, thr in (("default malloc", None), ("mmap threshold", args.mmap_threshold)):
                t = time.perf_counter()
                res = run_child(path, "stream", thr)
                rows.append(
                    (
                        f"stream {factor}x, {label}",
                        res["cells"],
                        size,
                        res["peak_mb"],
                        res["after_import_mb"],
                        res["seconds"],
                    )
                )
                print(
                    f"  streamed {factor}x ({label}) in {time.perf_counter() - t:.0f}s",
                    file=sys.stderr,
                )
        res = run_child(Path(tmp) / "x10.h5ad", "load")
        rows.append(
            (
                "read_h5ad 10x (reference)",
                res["cells"],
                size,
                res["peak_mb"],
                res["after_import_mb"],
                res["seconds"],
            )
        )
    print(
        f"{'run':<34}{'cells':>8}{'file MB':>9}{'peak RSS MB':>13}{'after imports MB':>18}{'seconds':>9}"
    )
    for name, cells, mb, peak, base, sec in rows:
        print(f"{name:<34}{cells:>8}{mb:>9.1f}{peak:>13.1f}{base:>18.1f}{sec:>9.1f}")


if __name__ == "__main__":
    main()
