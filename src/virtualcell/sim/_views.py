"""What the simulation plots show, computed here (``vc.pl`` only draws it).

- :func:`condition_shifts` — mean log1p-normalised expression per condition, minus the
  control mean (the perturbation heatmap);
- :func:`embed_umap` — a UMAP of the cells (normalise, log1p, PCA, umap-learn) stored in
  ``obsm[key_added]`` (the UMAP plot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import check_number, doc_params
from ..data import CONTROL, PERTURBATION_KEY, expression

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["condition_shifts", "embed_umap"]


def condition_shifts(
    adata: ad.AnnData,
    *,
    layer: str | None = None,
    conditions: list[str] | None = None,
    max_conditions: int = 40,
) -> pd.DataFrame:
    """Mean expression shift of each condition from the control, per gene.

    Parameters
    ----------
    adata
        Cells with ``obs["perturbation"]`` (a ``control`` group is needed).
    layer
        ``None``: the counts in ``X``, library-size normalised to the median total and
        log1p-transformed; else ``layers[layer]`` used as it is.
    conditions
        Rows to keep, in order (default: ``control`` then the first
        ``max_conditions - 1`` other conditions in order of appearance).
    max_conditions
        Most rows when ``conditions`` is not given.

    Returns
    -------
    pandas.DataFrame
        Conditions x genes: mean per condition minus the control mean (the ``control``
        row is 0).
    """

    check_number("max_conditions", max_conditions, low=1, integer=True)
    if PERTURBATION_KEY not in adata.obs:
        raise ValidationError(f"obs has no {PERTURBATION_KEY!r} column")
    # the one rule (vc.data.expression): X normalised to the median library size; a
    # layer as given
    x = expression(
        adata,
        layer=layer,
        space="input" if layer else "log1p",
        normalize=True if layer is None else None,
        target_sum="median",
        sparse_output=False,
        dtype="float64",
        what="condition_shifts",
    ).X
    pert = adata.obs[PERTURBATION_KEY].astype(str)
    means = pd.DataFrame(x, index=pert.to_numpy(), columns=adata.var_names).groupby(level=0).mean()
    if CONTROL not in means.index:
        raise ValidationError(f"obs[{PERTURBATION_KEY!r}] has no {CONTROL!r} cells")
    if conditions is None:
        order = [c for c in pd.unique(pert) if c != CONTROL]
        conditions = [CONTROL, *order[: max_conditions - 1]]
    missing = [c for c in conditions if c not in means.index]
    if missing:
        raise ValidationError(f"conditions not in obs[{PERTURBATION_KEY!r}]: {missing[:5]}")
    return means.loc[conditions] - means.loc[CONTROL]


@doc_params
def embed_umap(adata: ad.AnnData, *, seed: int = 0, key_added: str = "X_umap") -> np.ndarray:
    """UMAP coordinates of the cells, stored in ``adata.obsm[key_added]`` and returned.

    Computed on ``vc.data.expression(adata, target_sum="median", normalize=True)``
    (``log1p`` of each cell scaled to the median library size, as scanpy's
    ``normalize_total`` + ``log1p``), PCA with up to 30
    components and umap-learn with 15 neighbours; ``X`` and the layers of ``adata`` are
    not modified.
    """
    import scanpy as sc

    check_number("seed", seed, low=0, integer=True)
    if adata.n_obs < 3 or adata.n_vars < 2:
        raise ValidationError(
            f"a UMAP needs at least 3 cells and 2 genes, got {adata.n_obs} x {adata.n_vars}"
        )
    import anndata as ad

    x = expression(adata, normalize=True, target_sum="median", what="embed_umap").X
    work = ad.AnnData(x)
    sc.pp.pca(work, n_comps=min(30, work.n_vars - 1, work.n_obs - 1), random_state=seed)
    # umap-learn directly: scanpy's neighbours fail on large inputs with recent scipy
    # (csr_array has no getnnz)
    from umap import UMAP

    n_neighbors = min(15, work.n_obs - 1)
    coords = UMAP(n_neighbors=n_neighbors, random_state=seed).fit_transform(work.obsm["X_pca"])
    adata.obsm[key_added] = np.asarray(coords)
    return adata.obsm[key_added]
