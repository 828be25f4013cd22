"""Tiny perturbation data sets built in memory for the vc.perturb tests."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest


def linear_cells(
    n_genes: int = 12, n_singles: int = 6, n_cells: int = 20, seed: int = 0, doubles: bool = True
) -> ad.AnnData:
    """Counts whose single effects are known; doubles are exactly additive in log space."""
    rng = np.random.default_rng(seed)
    genes = [f"g{i}" for i in range(n_genes)]
    base = rng.uniform(1.0, 3.0, size=n_genes)
    effects = {g: rng.normal(scale=0.6, size=n_genes) for g in genes[:n_singles]}
    for g in effects:
        effects[g][genes.index(g)] = -base[genes.index(g)]  # knockout lowers the gene itself
    conds = ["control", *effects]
    if doubles:
        conds += [f"{genes[i]}+{genes[i + 1]}" for i in range(0, n_singles - 1, 2)]
    rows, labels = [], []
    for c in conds:
        log_mean = base.copy()
        if c != "control":
            for g in c.split("+"):
                log_mean = log_mean + effects[g]
        n = 3 * n_cells if c == "control" else n_cells
        rows.append(rng.poisson(np.exp(np.clip(log_mean, -3, 6)) * 5, size=(n, n_genes)))
        labels += [c] * n
    x = np.vstack(rows).astype(np.float32)
    x[:, -1] += 1  # every cell has counts
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))])
    obs["perturbation_type"] = np.where(obs["perturbation"] == "control", "control", "knockout")
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=genes))


@pytest.fixture
def cells() -> ad.AnnData:
    return linear_cells()


@pytest.fixture(scope="session")
def sim_small() -> ad.AnnData:
    """A small simulated Perturb-seq set with strong epistasis (the simulator preset)."""
    import virtualcell as vc

    return vc.sim.simulate_preset(
        "epistasis", grn=30, singles=16, doubles=24, cells_per_condition=30, seed=3
    )


def dream4_like(n_genes: int = 8, seed: int = 0) -> ad.AnnData:
    """One profile per condition, values in [0, 1], like DREAM4 (chain g0 -> g1 -> ...)."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i + 1}" for i in range(n_genes)]

    def steady(ko: set[int], kd: set[int]) -> np.ndarray:
        x = np.zeros(n_genes)
        for j in range(n_genes):
            prod = 0.8 if j == 0 else 0.9 * x[j - 1] ** 2 / (0.3**2 + x[j - 1] ** 2) + 0.05
            if j in ko:
                prod = 0.0
            if j in kd:
                prod *= 0.5
            x[j] = prod
        return x

    rows, labels, kinds = [steady(set(), set())], ["control"], ["wildtype"]
    for j in range(n_genes):
        rows.append(steady({j}, set()))
        labels.append(genes[j])
        kinds.append("knockout")
        rows.append(steady(set(), {j}))
        labels.append(genes[j])
        kinds.append("knockdown")
    x = np.clip(np.vstack(rows) + rng.normal(scale=0.01, size=(len(rows), n_genes)), 0, None)
    ptype = ["control" if k == "wildtype" else k for k in kinds]
    obs = pd.DataFrame(
        {"perturbation": labels, "perturbation_type": ptype, "experiment": kinds},
        index=[f"r{i}" for i in range(len(labels))],
    )
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=genes))
