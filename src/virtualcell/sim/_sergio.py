"""Cross-check against the published SERGIO engine (``sergio-rs``, optional).

``sergio-rs`` only draws master-regulator profiles at random and implements knockouts by
deleting the gene (orphaned targets become new master regulators), so it cannot serve as
the kinetic core here; it is used to validate :mod:`._kinetics` on shared networks:
simulate with ``sergio-rs``, read each master regulator's basal rate back from its mean
(``b = lambda * mean``), simulate the same network and rates with our engine, and compare
the per-gene, per-cell-type means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import VirtualCellError

if TYPE_CHECKING:
    from ._grn import GRN

__all__ = ["sergio_rs_crosscheck"]


def _import():
    try:
        import sergio_rs
    except ImportError as err:  # pragma: no cover - optional dependency
        raise VirtualCellError(
            "sergio-rs is not installed (pip install 'virtualcell[sim]')"
        ) from err
    return sergio_rs


def sergio_rs_simulate(grn: GRN, *, n_cells: int, seed: int) -> np.ndarray:
    """Simulate ``grn`` (edges, K, n, half responses, decays) with ``sergio-rs``.

    Returns ``cell types x genes x cells`` (cell types drawn by sergio-rs at random).
    """
    srs = _import()
    n_ct = len(grn.cell_types)
    genes = {g: srs.Gene(g, float(d)) for g, d in zip(grn.genes, grn.decay, strict=True)}
    net = srs.GRN()
    for r, t, s, w, n, h in grn.edges[
        ["regulator", "target", "sign", "weight", "hill_n", "half_response"]
    ].itertuples(index=False):
        net.add_interaction(genes[r], genes[t], float(s * w), float(h), round(n))
    net.set_mrs()
    profile = srs.MrProfile.from_random(net, n_ct, (0.2, 1.0), (2.0, 4.0), seed)
    sim = srs.Sim(net, n_cells, 300, 10, 0.01, 1, seed)
    df = sim.simulate(profile).to_pandas().set_index("Genes")
    df = df.reindex(grn.genes)
    out = np.stack(
        [df[[c for c in df.columns if c.startswith(f"type_{k}_")]].to_numpy() for k in range(n_ct)]
    )
    return out


def sergio_rs_crosscheck(
    grn: GRN, *, n_cells: int = 500, seed: int = 0, method: str = "cle"
) -> pd.DataFrame:
    """Compare gene means of ``sergio-rs`` and our engine on the same network.

    Returns one row per cell type: Pearson correlation of the per-gene means (non-master
    regulators, and all genes), the median relative difference, and the same numbers for
    our deterministic steady state.
    """
    from ._grn import GRN
    from ._kinetics import mean_field, simulate_cells

    ref = sergio_rs_simulate(grn, n_cells=n_cells, seed=seed)  # ct x genes x cells
    n_ct = ref.shape[0]
    mrs = np.isin(grn.genes, grn.master_regulators)
    basal = np.zeros((grn.n_genes, n_ct))
    basal[mrs] = (ref.mean(axis=2).T * grn.decay[:, None])[mrs]
    twin = GRN(
        genes=grn.genes,
        edges=grn.edges,
        decay=grn.decay,
        basal=pd.DataFrame(basal, index=grn.genes, columns=[f"type_{k}" for k in range(n_ct)]),
    )
    steady = mean_field(twin)
    rng = np.random.default_rng(seed)
    ones = np.ones((grn.n_genes, n_cells))
    rows = []
    for k in range(n_ct):
        ours = simulate_cells(
            twin,
            basal=np.repeat(basal[:, [k]], n_cells, axis=1),
            mult=ones,
            add=0 * ones,
            x0=np.repeat(steady[:, [k]], n_cells, axis=1),
            rng=rng,
            method=method,
        )
        a, b, m = ref[k].mean(axis=1), ours.mean(axis=1), steady[:, k]
        # genes outside every edge (isolated master regulators) are absent from sergio-rs
        fin = np.isfinite(a)
        sel = ~mrs & fin
        a, b = np.nan_to_num(a), np.nan_to_num(b)
        rows.append(
            {
                "cell_type": f"type_{k}",
                "pearson_targets": float(np.corrcoef(a[sel], b[sel])[0, 1]),
                "pearson_all": float(np.corrcoef(a[fin], b[fin])[0, 1]),
                "median_rel_diff_targets": float(
                    np.median(np.abs(a[sel] - b[sel]) / np.maximum(a[sel], 1e-3))
                ),
                "pearson_targets_steady_state": float(np.corrcoef(a[sel], m[sel])[0, 1]),
                "median_rel_diff_steady_state": float(
                    np.median(np.abs(a[sel] - m[sel]) / np.maximum(a[sel], 1e-3))
                ),
                "sd_ratio_targets": float(
                    np.median(ours.std(axis=1)[sel] / np.maximum(ref[k].std(axis=1)[sel], 1e-6))
                ),
            }
        )
    return pd.DataFrame(rows)
