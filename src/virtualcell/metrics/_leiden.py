"""The Leiden sweep shared by the clustering and integration metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import ValidationError
from .._utils import doc_params
from ._checks import as_float_array, check_finite

__all__ = ["DEFAULT_RESOLUTIONS", "EMBEDDING_PARAMS", "leiden_clusterings"]

#: Leiden resolutions searched by the sweep (0.1, 0.2, ..., 2.0, as in scIB).
DEFAULT_RESOLUTIONS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 21))

#: Parameters shared by the embedding metrics (clustering and integration).
EMBEDDING_PARAMS = {
    "embedding": (
        "Cells x dimensions array (dense or sparse; NaN or infinite values are an error), "
        "one row per cell in the order of the labels."
    ),
    "labels": "Cell-type label of each cell (any hashable values; missing values are an error).",
    "batches": "Batch of each cell, in the order of the embedding's rows.",
    "resolutions": "Leiden resolutions of the sweep (default 0.1, 0.2, ..., 2.0, as scIB).",
    "n_neighbors": (
        "Neighbours of each cell in the kNN graph (capped at the number of cells - 1)."
    ),
    "seed": "Random state of the neighbour graph and of Leiden.",
}


@doc_params(**EMBEDDING_PARAMS)
def leiden_clusterings(
    embedding: Any,
    *,
    resolutions: Sequence[float] = DEFAULT_RESOLUTIONS,
    n_neighbors: int = 15,
    seed: int = 0,
) -> dict[float, np.ndarray]:
    """Leiden clusters of an embedding at every resolution (the scIB sweep).

    One scanpy kNN graph (``scanpy.pp.neighbors``, euclidean) and ``scanpy.tl.leiden``
    (``flavor="igraph"``, 2 iterations, undirected, ``random_state=seed``) per resolution,
    as :func:`~virtualcell.metrics.leiden_nmi_ari`. Needs at least 3 cells.

    Returns
    -------
    ``{resolution: labels}``: one array of cluster names (strings), one per cell, for
    every resolution.
    """
    import anndata as ad
    import scanpy as sc

    x = as_float_array(embedding, "embedding")
    if x.ndim != 2 or x.shape[0] < 3:
        raise ValidationError(f"embedding must be 2-D with >= 3 cells, got shape {x.shape}")
    check_finite(x, "embedding")
    if len(resolutions) == 0:
        raise ValidationError("resolutions is empty")
    work = ad.AnnData(np.zeros((x.shape[0], 0), dtype=np.float32))
    work.obsm["X_emb"] = x
    sc.pp.neighbors(
        work, n_neighbors=min(n_neighbors, x.shape[0] - 1), use_rep="X_emb", random_state=seed
    )
    out = {}
    for res in resolutions:
        sc.tl.leiden(
            work,
            resolution=float(res),
            key_added="_leiden",
            flavor="igraph",
            n_iterations=2,
            directed=False,
            random_state=seed,
        )
        out[float(res)] = work.obs["_leiden"].astype(str).to_numpy()
    return out
