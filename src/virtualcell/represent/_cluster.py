"""``cluster``: Leiden clustering of an embedding with a resolution sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._features import labels_of

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["cluster", "embedding_of"]


def embedding_of(adata: AnnData, use_rep: str | None, *, layer: str | None = None, seed: int = 0):
    """``adata.obsm[use_rep]``; ``None``: the ``pca`` source, computed on ``adata`` and
    stored as ``obsm["X_vc_pca"]``."""
    if use_rep is None:
        from ._embeddings import embed

        if "X_vc_pca" not in adata.obsm:
            embed(adata, source="pca", layer=layer, key_added="X_vc_pca", seed=seed)
        use_rep = "X_vc_pca"
    if use_rep not in adata.obsm:
        raise ValidationError(f"use_rep {use_rep!r} not in adata.obsm ({sorted(adata.obsm)})")
    return np.asarray(adata.obsm[use_rep], dtype=np.float64), use_rep


def cluster(
    adata: AnnData,
    *,
    use_rep: str | None = None,
    resolutions: Sequence[float] | None = None,
    label_key: str | None = None,
    n_neighbors: int = 15,
    layer: str | None = None,
    key_added: str = "vc_cluster",
    seed: int = 0,
) -> pd.DataFrame:
    """Leiden clusters at every resolution of a sweep; keep the best.

    The kNN graph and Leiden runs are those of
    :func:`~virtualcell.metrics.leiden_clusterings` (scanpy, igraph flavour). Each
    resolution is scored by the silhouette of its clusters in the embedding (needs 2 to
    ``n - 1`` clusters) and, with ``label_key``, by NMI and ARI against the labels. The
    kept resolution is the best NMI with labels, else the best silhouette.

    Parameters
    ----------
    adata
        Cells; ``obsm[use_rep]`` is clustered.
    use_rep
        ``obsm`` key of the embedding; ``None``: PCA on HVGs (``obsm["X_vc_pca"]``).
    resolutions
        Leiden resolutions (default 0.1, 0.2, ..., 2.0 as scIB).
    label_key
        Optional ``obs`` column of known labels to score (and choose) against.
    n_neighbors
        Neighbours of the kNN graph.
    layer
        Expression layer when the PCA embedding is computed here.
    key_added
        ``obs`` column receiving the kept clustering.
    seed
        Random state of the graph and Leiden.

    Returns
    -------
    pandas.DataFrame
        One row per resolution: ``resolution``, ``n_clusters``, ``silhouette`` (and
        ``nmi``, ``ari``), column ``chosen``; also in ``uns["vc"]["cluster"]``.
    """
    from sklearn.metrics import silhouette_score

    from ..metrics import DEFAULT_RESOLUTIONS, ari, leiden_clusterings, nmi

    x, rep = embedding_of(adata, use_rep, layer=layer, seed=seed)
    labels = labels_of(adata, label_key) if label_key is not None else None
    res = tuple(DEFAULT_RESOLUTIONS if resolutions is None else resolutions)
    clusterings = leiden_clusterings(x, resolutions=res, n_neighbors=n_neighbors, seed=seed)
    rows = []
    for r, c in clusterings.items():
        k = len(np.unique(c))
        row = {
            "resolution": r,
            "n_clusters": k,
            "silhouette": float(silhouette_score(x, c)) if 2 <= k < len(c) else float("nan"),
        }
        if labels is not None:
            row["nmi"] = nmi(truth=labels, clusters=c)
            row["ari"] = ari(truth=labels, clusters=c)
        rows.append(row)
    table = pd.DataFrame(rows)
    crit = table["nmi"] if labels is not None else table["silhouette"].fillna(-np.inf)
    best = int(np.argmax(crit.to_numpy()))
    table["chosen"] = np.arange(len(table)) == best
    chosen = clusterings[float(table["resolution"][best])]
    adata.obs[key_added] = pd.Categorical(chosen, categories=sorted(set(chosen), key=int))
    adata.uns.setdefault("vc", {})["cluster"] = {
        "use_rep": rep,
        "resolution": float(table["resolution"][best]),
        "criterion": "nmi" if labels is not None else "silhouette",
        "label_key": label_key or "",
        "key_added": key_added,
        "sweep": {c: table[c].to_numpy() for c in table.columns},
    }
    return table
