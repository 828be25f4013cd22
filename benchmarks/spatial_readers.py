"""Wall time and peak memory of the spatial readers on a synthetic section.

Builds, in a temporary folder, a Xenium folder (``cell_feature_matrix.h5`` with ``genes``
gene features and 40 control features at 8 % density, ``cells.parquet``) and a
SpatialData store (the same cells as 13-vertex polygons, the table under
``tables/table``), with the writers of ``tests/data/test_spatial_formats.py``; then reads
each with ``vc.data.read`` in a fresh process and reports the wall time, the peak resident
memory (``VmHWM``, Linux) and the largest coordinate error against the centroids written,
beside the same count matrix read alone (``read_10x_h5`` / ``anndata.read_zarr``).

Usage::

    python benchmarks/spatial_readers.py [--cells 100000 --genes 300]
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))

CHILD = r"""
import json, sys, time
import numpy as np
import virtualcell as vc

def peak_mb():  # VmHWM: this process's peak resident memory (ru_maxrss survives exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024

folder, xy, baseline = sys.argv[1], np.load(sys.argv[2]), sys.argv[3] == "baseline"
start = time.perf_counter()
if baseline:  # the count matrix alone, without coordinates: the floor of any reader
    import anndata as ad
    from pathlib import Path
    if folder.endswith(".zarr"):
        adata = ad.read_zarr(Path(folder) / "tables" / "table")
    else:
        adata = vc.data.read_10x_h5(Path(folder) / "cell_feature_matrix.h5", gex_only=False)
else:
    adata = vc.data.read(folder)
wall = time.perf_counter() - start
print(json.dumps({
    "read": "matrix only (baseline)" if baseline else adata.uns["vc"]["source"]["format"],
    "cells": adata.n_obs, "features": adata.n_vars, "wall_s": round(wall, 2),
    "peak_rss_mb": peak_mb(),
    "max_coordinate_error": None if baseline else float(np.abs(adata.obsm["spatial"] - xy).max()),
}))
"""


def build(root: Path, n: int, genes: int) -> None:
    import anndata as ad
    import pandas as pd
    import test_spatial_formats as t
    from scipy import sparse

    rng = np.random.default_rng(0)
    counts = sparse.random(n, genes + 40, density=0.08, random_state=0, format="csr",
                           data_rvs=lambda k: rng.integers(1, 20, k)).toarray()  # fmt: skip
    names = [f"G{i}" for i in range(genes)]
    names += [f"NegControlProbe_{i}" for i in range(20)]
    names += [f"UnassignedCodeword_{i}" for i in range(20)]
    types = ["Gene Expression"] * genes + ["Negative Control Probe"] * 20
    types += ["Unassigned Codeword"] * 20
    cells = [f"c{i}-1" for i in range(n)]
    xy = rng.uniform(0, 5000, (n, 2))
    np.save(root / "xy.npy", xy)

    (root / "xenium").mkdir()
    t._write_10x_h5(root / "xenium/cell_feature_matrix.h5", counts, cells, names, types)
    table = pd.DataFrame({"cell_id": cells, "x_centroid": xy[:, 0], "y_centroid": xy[:, 1]})
    table.to_parquet(root / "xenium/cells.parquet", index=False)

    store = t._zarr_group(root / "section.zarr", {"spatialdata_attrs": {"version": "0.2"}})
    angle = np.linspace(0, 2 * np.pi, 13)
    blobs = []
    for x, y in xy:
        ring = np.c_[x + 5 * np.cos(angle), y + 5 * np.sin(angle)]
        ring[-1] = ring[0]
        blobs.append(struct.pack("<BIII", 1, 3, 1, 13) + ring.astype("<f8").tobytes())
    t._shapes(store, "cells", blobs, cells, {"type": "identity"})
    obs = pd.DataFrame({"region": pd.Categorical(["cells"] * n), "cell_id": cells}, index=cells)
    attrs = {"region": "cells", "region_key": "region", "instance_key": "cell_id"}
    tab = ad.AnnData(X=sparse.csr_matrix(counts[:, :genes], dtype=np.float32), obs=obs,
                     uns={"spatialdata_attrs": attrs})  # fmt: skip
    t._write_zarr(tab, store / "tables/table")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.cells, args.genes)
        for folder in ("xenium", "section.zarr"):
            for mode in ("baseline", "reader"):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(root / folder), str(root / "xy.npy"), mode],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                print(folder, out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
