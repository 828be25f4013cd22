"""``niche_embed`` and ``domains``: niche embeddings of a section and spatial domains from
them (one clustering step, the same for every embedding)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import check_number
from ._graph import DEFAULT_NEIGHBORS, neighbors
from ._niches import NicheInputs

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["cluster_domains", "domains", "niche_embed"]

#: Domain counts tried when ``domains(n_domains=None, method="kmeans")`` chooses one.
AUTO_RANGE = range(2, 16)


def _inputs(adata: AnnData, *, n_neighbors: int, layer: str | None, recompute: bool) -> NicheInputs:
    params = (adata.uns.get("spatial_neighbors") or {}).get("params", {})
    have = "spatial_connectivities" in adata.obsp
    if recompute or not have or (params and params.get("n_neighbors") != n_neighbors
                                 and params.get("radius") is None):  # fmt: skip
        neighbors(adata, n_neighbors=n_neighbors)
    return NicheInputs.from_adata(adata, layer=layer)


def niche_embed(
    adata: AnnData,
    *,
    method: str = "composition",
    n_neighbors: int = DEFAULT_NEIGHBORS,
    layer: str | None = None,
    seed: int = 0,
    key_added: str = "X_vc_niche",
    **options: Any,
) -> np.ndarray:
    """Embed each cell with its neighbourhood by a registered niche embedding.

    The spatial graph is built with :func:`neighbors` unless ``obsp`` already holds one
    (a radius graph is kept; a k-nearest graph of another ``k`` is rebuilt).

    Parameters
    ----------
    adata
        Cells of one section (``obsm["spatial"]``; counts in ``X`` or ``layer``).
    method
        A name of :func:`list_niche_embeddings` (``expression``, ``neighbor_pca``,
        ``composition``, ``multihop``, ``niche_transformer``).
    n_neighbors
        Neighbours per cell of the spatial graph.
    layer
        Expression layer (``"raw"`` = ``adata.raw``).
    seed
        Random state of the method.
    key_added
        ``obsm`` key written.
    **options
        Options of the method (e.g. ``n_states``, ``hops``, ``steps``).

    Returns
    -------
    numpy.ndarray
        ``(n_cells, dims)`` float32, also in ``obsm[key_added]``.
    """
    from ._registry import NICHE_EMBEDDINGS

    fn = NICHE_EMBEDDINGS.get(method)
    inputs = _inputs(adata, n_neighbors=n_neighbors, layer=layer, recompute=False)
    try:
        z = fn(inputs, seed=seed, **options)
    except TypeError as err:
        raise ValidationError(f"niche embedding {method!r}: {err}") from None
    z = np.asarray(z, dtype=np.float32)
    adata.obsm[key_added] = z
    return z


def _check_n_domains(n_domains: int, n_cells: int) -> int:
    check_number("n_domains", n_domains, low=2, high=max(2, n_cells - 1), integer=True)
    if n_cells < 3:
        raise ValidationError(f"spatial domains need at least 3 cells, got {n_cells}")
    return int(n_domains)


def _kmeans(z: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)


def _leiden(z: np.ndarray, k: int | None, seed: int) -> np.ndarray:
    """Leiden on a kNN graph of ``z``; with ``k``, the resolution is bisected until the
    partition has ``k`` clusters (the closest count found otherwise)."""
    import anndata as ad
    import scanpy as sc

    work = ad.AnnData(np.zeros((z.shape[0], 0), dtype=np.float32))
    work.obsm["X_emb"] = z
    sc.pp.neighbors(work, n_neighbors=min(15, z.shape[0] - 1), use_rep="X_emb",
                    random_state=seed)  # fmt: skip

    def run(res: float) -> np.ndarray:
        sc.tl.leiden(work, resolution=res, key_added="_d", flavor="igraph", n_iterations=2,
                     directed=False, random_state=seed)  # fmt: skip
        return work.obs["_d"].astype(int).to_numpy()

    if k is None:
        return run(1.0)
    lo, hi, best = 1e-3, 10.0, None
    for _ in range(25):
        mid = float(np.sqrt(lo * hi))
        labels = run(mid)
        m = len(np.unique(labels))
        if best is None or abs(m - k) < abs(len(np.unique(best)) - k):
            best = labels
        if m == k:
            break
        lo, hi = (mid, hi) if m < k else (lo, mid)
    return best


def cluster_domains(
    z: np.ndarray,
    *,
    n_domains: int | None = None,
    method: Literal["kmeans", "leiden"] = "kmeans",
    seed: int = 0,
) -> np.ndarray:
    """Spatial domains of a niche embedding: the one clustering step of every method.

    Parameters
    ----------
    z
        Niche embedding (cells x dims).
    n_domains
        Number of domains. ``None``: ``kmeans`` takes the count of :data:`AUTO_RANGE`
        (2-15) with the best silhouette (on at most 5,000 cells); ``leiden`` uses
        resolution 1.
    method
        ``kmeans`` (``n_init=10``) or ``leiden`` (resolution bisected to ``n_domains``).
    seed
        Random state.

    Returns
    -------
    numpy.ndarray
        One integer domain per cell.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or not np.isfinite(z).all():
        raise ValidationError(f"the embedding must be a finite 2-D array, got shape {z.shape}")
    n = z.shape[0]
    if n_domains is not None:
        n_domains = _check_n_domains(n_domains, n)
    if method == "leiden":
        return _leiden(z, n_domains, seed)
    if method != "kmeans":
        raise ValidationError(f"method must be 'kmeans' or 'leiden', got {method!r}")
    if n_domains is not None:
        return _kmeans(z, n_domains, seed)
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sub = rng.choice(n, min(n, 5000), replace=False)
    best, best_s = None, -np.inf
    for k in AUTO_RANGE:
        if k >= len(sub):
            break
        labels = _kmeans(z, k, seed)
        if len(np.unique(labels[sub])) < 2:
            continue
        s = silhouette_score(z[sub], labels[sub])
        if s > best_s:
            best, best_s = labels, s
    if best is None:
        raise ValidationError("could not choose a number of domains (too few distinct cells)")
    return best


def domains(
    adata: AnnData,
    *,
    embedding: str = "composition",
    n_domains: int | None = None,
    method: Literal["kmeans", "leiden"] = "kmeans",
    n_neighbors: int = DEFAULT_NEIGHBORS,
    layer: str | None = None,
    seed: int = 0,
    key_added: str = "vc_domain",
) -> pd.Series:
    """Spatial domains: cluster a niche embedding into ``n_domains`` domains.

    Parameters
    ----------
    adata
        Cells of one section (``obsm["spatial"]``).
    embedding
        An ``obsm`` key holding a niche embedding, or a method of
        :func:`list_niche_embeddings` computed here (written to ``obsm["X_vc_niche"]``).
    n_domains
        Number of domains (2 to ``n_cells - 1``); ``None``: chosen as
        :func:`cluster_domains` says.
    method
        ``kmeans`` or ``leiden``.
    n_neighbors
        Neighbours per cell of the spatial graph (when the embedding is computed here).
    layer
        Expression layer (when the embedding is computed here).
    seed
        Random state of the embedding and the clustering.
    key_added
        ``obs`` column written (categorical ``"0"``, ``"1"`` ...).

    Returns
    -------
    pandas.Series
        The domain of each cell (index ``obs_names``); also ``obs[key_added]`` and
        ``uns["vc"]["domains"]`` (the settings).
    """
    if n_domains is not None:
        _check_n_domains(n_domains, adata.n_obs)
    if embedding in adata.obsm:
        z = np.asarray(adata.obsm[embedding], dtype=np.float32)
    else:
        z = niche_embed(adata, method=embedding, n_neighbors=n_neighbors, layer=layer,
                        seed=seed)  # fmt: skip
    labels = cluster_domains(z, n_domains=n_domains, method=method, seed=seed)
    names = sorted(np.unique(labels).tolist())
    cat = pd.Categorical([str(x) for x in labels], categories=[str(x) for x in names])
    adata.obs[key_added] = cat
    adata.uns.setdefault("vc", {})["domains"] = {
        "embedding": embedding, "method": method, "seed": int(seed),
        "n_domains": len(names), "requested": -1 if n_domains is None else int(n_domains),
    }  # fmt: skip
    return adata.obs[key_added].copy()
