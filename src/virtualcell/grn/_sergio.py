"""Reader for the SERGIO simulator data sets (Dibaeinia & Sinha 2020).

A SERGIO data-set folder holds ``simulated_noNoise_{T,S,U}_<rep>.csv`` (genes x cells,
first row and column are integer indices; T = total, S = spliced, U = unspliced),
``gt_GRN.csv`` (``regulator_index,target_index``, no header) and optionally
``Interaction_cID_*.txt`` (SERGIO input rows ``target, n_regs, reg ids..., K...,
hill...``; a negative ``K`` is a repression) and ``bMat_cID*.tab`` (cell-type graph).
Cells are stored cell type by cell type, in equal blocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import DataFormatError

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["read_sergio"]


def _signs(folder: Path) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for f in sorted(folder.glob("Interaction_cID_*.txt")):
        for line in f.read_text().splitlines():
            vals = [float(v) for v in line.replace(",", " ").split()]
            if len(vals) < 2:
                continue
            t, k = int(vals[0]), int(vals[1])
            regs, ks = vals[2 : 2 + k], vals[2 + k : 2 + 2 * k]
            for r, kk in zip(regs, ks, strict=False):
                out[(int(r), t)] = 1 if kk > 0 else -1
    return out


def read_sergio(
    folder: str | Path, *, replicate: int = 0, n_cell_types: int | None = None
) -> ad.AnnData:
    """Read one SERGIO data set into AnnData (cells x genes).

    Parameters
    ----------
    folder
        The data-set folder (e.g. ``De-noised_100G_3T_300cPerT_dynamics_9_DS4``).
    replicate
        Which ``simulated_noNoise_*_<replicate>.csv`` to read.
    n_cell_types
        Number of cell-type blocks; default from ``bMat_cID*.tab`` or the folder name
        (``..._3T_...``), else 1.

    Returns
    -------
    anndata.AnnData
        ``X`` = total expression; ``layers["spliced"]`` / ``layers["unspliced"]`` when
        present; genes named ``G<index>``; ``obs["cell_type"]``; ``uns["true_network"]``
        (``regulator, target, sign``; sign from the interaction file, 0 if unknown).
    """
    import anndata as ad

    folder = Path(folder)
    total = folder / f"simulated_noNoise_T_{replicate}.csv"
    if not total.is_file():
        raise DataFormatError(
            f"{folder}: no simulated_noNoise_T_{replicate}.csv (not a SERGIO data set?)"
        )
    gt = folder / "gt_GRN.csv"
    if not gt.is_file():
        raise DataFormatError(f"{folder}: missing gt_GRN.csv")

    def load(path: Path) -> np.ndarray:
        try:
            return pd.read_csv(path, index_col=0).to_numpy(dtype=np.float64).T
        except (ValueError, pd.errors.ParserError) as err:
            raise DataFormatError(f"{path}: cannot parse SERGIO expression ({err})") from err

    X = load(total)
    n_cells, n_genes = X.shape
    genes = [f"G{i}" for i in range(n_genes)]
    if n_cell_types is None:
        bmat = sorted(folder.glob("bMat_cID*.tab"))
        if bmat:
            n_cell_types = len(np.atleast_2d(np.loadtxt(bmat[0])))
        else:
            token = next(
                (p for p in folder.name.split("_") if p.endswith("T") and p[:-1].isdigit()), None
            )
            n_cell_types = int(token[:-1]) if token else 1
    if n_cells % n_cell_types:
        n_cell_types = 1
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(
                np.repeat(np.arange(n_cell_types), n_cells // n_cell_types).astype(str)
            )
        },
        index=[f"C{i}" for i in range(n_cells)],
    )
    adata = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes))
    for name, key in (("S", "spliced"), ("U", "unspliced")):
        p = folder / f"simulated_noNoise_{name}_{replicate}.csv"
        if p.is_file():
            adata.layers[key] = load(p)
    pairs = pd.read_csv(gt, header=None).to_numpy(dtype=int)
    signs = _signs(folder)
    bad = (pairs < 0) | (pairs >= n_genes)
    if bad.any():
        raise DataFormatError(f"{gt}: gene index out of range 0..{n_genes - 1}")
    adata.uns["true_network"] = pd.DataFrame(
        {
            "regulator": [genes[r] for r in pairs[:, 0]],
            "target": [genes[t] for t in pairs[:, 1]],
            "sign": np.array([signs.get((int(r), int(t)), 0) for r, t in pairs], dtype=np.int8),
        }
    ).drop_duplicates(["regulator", "target"], ignore_index=True)
    adata.uns["vc"] = {"source": {"path": str(folder), "format": "sergio"}}
    return adata
