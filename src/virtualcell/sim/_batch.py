"""Cell types measured in several batches: ground truth for annotation and integration.

``simulate_batches`` draws unperturbed cells of several cell types from a GRN (SERGIO
kinetics, :func:`~virtualcell.sim.simulate_perturbseq` with no perturbations), assigns
each cell to a batch, and applies a batch effect to the noise-free expression before the
technical noise:

* **gene-specific scaling** — batch ``b`` multiplies gene ``g`` by
  ``f_bg ~ LogNormal(0, gene_sigma)`` (capture efficiency / chemistry differences);
* **library size** — batch ``b`` scales the mean library size by
  ``s_b ~ LogNormal(0, library_sigma)`` (sequencing depth);
* then the usual technical noise (:class:`~virtualcell.sim.TechnicalNoise`: outlier
  genes, per-cell library size around the batch's mean, dropout, Poisson UMIs),
  drawn separately for each batch.

The batch-free expression stays in ``layers["true_expression"]``, so the effect can be
measured and an integration scored against the truth.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from ..data import UNS_KEY
from ._grn import GRN, sample_grn
from ._noise import TechnicalNoise, add_technical_noise

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["simulate_batches"]


def simulate_batches(
    grn: GRN | int = 200,
    *,
    n_cell_types: int = 5,
    n_cells: int = 1500,
    n_batches: int = 3,
    gene_sigma: float = 0.5,
    library_sigma: float = 0.5,
    isolated_types: int = 0,
    technical_noise: TechnicalNoise | None = None,
    method: str = "cle",
    seed: int = 0,
) -> ad.AnnData:
    """Simulate cells of ``n_cell_types`` types measured in ``n_batches`` batches.

    Parameters
    ----------
    grn
        A :class:`GRN`, or a number of genes for :func:`sample_grn` (``n_cell_types``,
        ``seed``).
    n_cell_types
        Cell types of a sampled GRN (a given GRN brings its own).
    n_cells
        Cells in total (cell types in equal shares, cycled).
    n_batches
        Batches; each cell is assigned to one uniformly at random.
    gene_sigma
        Log-scale standard deviation of the per-batch, per-gene factors ``f_bg``
        (0 = no gene-specific effect).
    library_sigma
        Log-scale standard deviation of the per-batch library-size factors ``s_b``
        (0 = same depth everywhere).
    isolated_types
        How many cell types (the last ones) occur only in the first batch — scIB's
        "isolated labels".
    technical_noise
        :class:`TechnicalNoise` (default ``TechnicalNoise()``); its ``umis_per_gene`` is
        scaled by ``s_b`` in batch ``b``.
    method
        ``cle`` or ``fast`` kinetics (see :func:`simulate_perturbseq`).
    seed
        Seeds everything: same seed, same output.

    Returns
    -------
    AnnData
        ``X``: UMI counts (CSR, int32); ``obs``: ``cell_type``, ``batch``
        (``batch0`` ...), ``library_size``; ``layers["true_expression"]``: the noise-free,
        batch-free expression; ``uns["true_network"]``; ``uns["vc"]["sim"]`` with the
        parameters and ``batch_effect``: ``gene_factor`` (batches x genes) and
        ``library_factor`` (per batch).
    """
    import anndata as ad

    from ._simulate import simulate_perturbseq

    if n_batches < 1:
        raise ValidationError(f"n_batches must be >= 1, got {n_batches}")
    if gene_sigma < 0 or library_sigma < 0:
        raise ValidationError("gene_sigma and library_sigma must be >= 0")
    if isinstance(grn, int | np.integer):
        grn = sample_grn(int(grn), n_cell_types=n_cell_types, seed=seed)
    elif not isinstance(grn, GRN):
        raise ValidationError(f"grn must be a GRN or a number of genes, got {type(grn).__name__}")
    n_types = len(grn.cell_types)
    if not 0 <= isolated_types < n_types:
        raise ValidationError(
            f"isolated_types must be between 0 and {n_types - 1} (the GRN has {n_types} types)"
        )
    if isolated_types and n_batches < 2:
        raise ValidationError("isolated_types needs n_batches >= 2")
    noise = technical_noise or TechnicalNoise()
    clean = simulate_perturbseq(
        grn,
        cells_per_condition=1,
        n_control_cells=int(n_cells),
        singles=0,
        doubles=0,
        method=method,  # type: ignore[arg-type]
        technical_noise=noise,
        keep_true_expression=True,
        seed=seed,
    )
    true = np.asarray(clean.layers["true_expression"], dtype=np.float64)
    cell_type = clean.obs["cell_type"].astype(str).to_numpy()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    batch = rng.integers(0, n_batches, len(true))
    isolated = list(grn.cell_types[n_types - isolated_types :]) if isolated_types else []
    batch[np.isin(cell_type, isolated)] = 0
    gene_factor = rng.lognormal(0.0, gene_sigma, (n_batches, grn.n_genes))
    library_factor = rng.lognormal(0.0, library_sigma, n_batches)
    counts = np.zeros(true.shape, dtype=np.int32)
    library = np.zeros(len(true))
    for b in range(n_batches):
        rows = np.flatnonzero(batch == b)
        if len(rows) == 0:
            continue
        nb = dataclasses.replace(noise, umis_per_gene=noise.umis_per_gene * library_factor[b])
        counts[rows], tech = add_technical_noise(true[rows] * gene_factor[b], nb, rng)
        library[rows] = tech["library_size"]
    names = [f"batch{b}" for b in range(n_batches)]
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(cell_type, categories=grn.cell_types),
            "batch": pd.Categorical(np.asarray(names)[batch], categories=names),
            "library_size": library.astype(np.float32),
        },
        index=clean.obs_names,
    )
    out = ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=clean.var.copy())
    out.layers["true_expression"] = clean.layers["true_expression"]
    out.uns["true_network"] = clean.uns["true_network"]
    params = dict(clean.uns[UNS_KEY]["sim"])
    params.update(
        {
            "n_batches": int(n_batches),
            "gene_sigma": float(gene_sigma),
            "library_sigma": float(library_sigma),
            "isolated_types": isolated,
            "batch_effect": {
                "gene_factor": gene_factor.astype(np.float32),
                "library_factor": library_factor.astype(np.float32),
            },
        }
    )
    out.uns[UNS_KEY] = {"sim": params}
    return out
