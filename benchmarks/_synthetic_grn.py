"""The regulator network of the synthetic GRN benchmarks (``grn_transcriptome_scale``,
``grn_primed_perturbed``): drawn once here, in one order, so both scripts' files stay
reproducible from their seeds."""

from __future__ import annotations

import numpy as np


def tf_network(
    rng: np.random.Generator,
    tfs: int,
    genes: int,
    *,
    base_median: float,
    base_sd: float,
    weight_high: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(names, base, programs, parents, weights)``: gene names (``TF0..`` the first
    ``tfs``, then ``G0..``), log-normal base rates (median ``base_median``, log sd
    ``base_sd``), 10 latent programs of the regulators, 3 regulator parents per other gene
    and their signed weights (|w| uniform in [0.5, ``weight_high``])."""
    names = np.array([f"TF{i}" for i in range(tfs)] + [f"G{i}" for i in range(genes - tfs)])
    base = np.exp(rng.normal(np.log(base_median), base_sd, genes))
    programs = rng.normal(size=(10, tfs)) / np.sqrt(10)
    n_t = genes - tfs
    parents = np.stack([rng.choice(tfs, 3, replace=False) for _ in range(n_t)])
    weights = rng.choice([-1.0, 1.0], size=(n_t, 3)) * rng.uniform(0.5, weight_high, size=(n_t, 3))
    return names, base, programs, parents, weights
