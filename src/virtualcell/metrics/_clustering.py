"""Clustering metrics: NMI, ARI, ASW, scIB-style AvgBIO and a Leiden helper.

Label metrics take ``(truth, clusters)``; embedding metrics take ``(labels, embedding)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from .._errors import ValidationError
from .._utils import doc_params
from ._checks import Labels, as_float_array, check_finite, encode_labels, paired_labels
from ._leiden import DEFAULT_RESOLUTIONS, leiden_clusterings

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["DEFAULT_RESOLUTIONS", "ari", "asw", "avg_bio", "avg_bio_parts", "leiden_nmi_ari", "nmi"]


def _contingency(truth: Labels, clusters: Labels) -> np.ndarray:
    t, c = paired_labels(truth, clusters, ("truth", "clusters"))
    _, (ti,) = encode_labels(t)
    _, (ci,) = encode_labels(c)
    table = np.zeros((ti.max() + 1, ci.max() + 1))
    np.add.at(table, (ti, ci), 1.0)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


_LABELINGS = {
    "truth": "True labels, one per item (any hashable values; missing values are an error).",
    "clusters": "Cluster (or predicted) labels, one per item, in the order of ``truth``.",
}

#: Parameters of the Leiden-sweep metrics (leiden_nmi_ari, avg_bio, avg_bio_parts).
_SWEEP = {
    "labels": "True labels (the truth comes first, as in every metric), or the name of an "
    "``obs`` column when ``embedding`` is an AnnData.",
    "embedding": "An AnnData (``.X`` or ``.obsm[use_rep]`` is used; it is not modified) or a "
    "``(n_cells, n_dims)`` array.",
    "use_rep": "``obsm`` key of the embedding (default ``.X``); for an AnnData only.",
    "resolutions": "Leiden resolutions searched for the best NMI (default 0.1, 0.2, ..., 2.0).",
    "n_neighbors": "Neighbours of the kNN graph.",
    "seed": "Random state of the neighbour search and Leiden.",
}


@doc_params(**_LABELINGS)
def nmi(truth: Labels, clusters: Labels) -> float:
    """Normalised mutual information with arithmetic-mean normalisation.

    ``NMI = I(T; C) / ((H(T) + H(C)) / 2)`` with natural-log entropies of the label
    frequencies. Two labelings that each have one class score 1; when only one of them
    is constant the score is 0. Symmetric, in [0, 1], higher is better (1 = the same
    partition up to renaming).

    Returns
    -------
    NMI (equals scikit-learn's ``normalized_mutual_info_score``).
    """
    table = _contingency(truth, clusters)
    n = table.sum()
    h_t, h_c = _entropy(table.sum(1)), _entropy(table.sum(0))
    if h_t == 0.0 and h_c == 0.0:
        return 1.0
    pij = table / n
    outer = np.outer(table.sum(1), table.sum(0)) / n**2
    nz = pij > 0
    mi = float((pij[nz] * np.log(pij[nz] / outer[nz])).sum())
    return float(max(0.0, mi / ((h_t + h_c) / 2)))


@doc_params(**_LABELINGS)
def ari(truth: Labels, clusters: Labels) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985).

    With ``n_ij`` the contingency table, ``a_i``/``b_j`` its row/column sums and
    ``C(x) = x (x-1) / 2``::

        index = sum_ij C(n_ij);  expected = sum_i C(a_i) sum_j C(b_j) / C(n)
        ARI = (index - expected) / ((sum_i C(a_i) + sum_j C(b_j)) / 2 - expected)

    In [-1, 1], higher is better: 1 for identical partitions, about 0 for random ones,
    negative for less agreement than chance. When the denominator is 0 (both partitions trivial and identical)
    the score is 1.

    Returns
    -------
    ARI (equals scikit-learn's ``adjusted_rand_score``).
    """
    table = _contingency(truth, clusters)
    n = table.sum()

    def comb2(x: np.ndarray | float) -> np.ndarray | float:
        return x * (x - 1) / 2

    index = float(comb2(table).sum())
    sum_a = float(comb2(table.sum(1)).sum())
    sum_b = float(comb2(table.sum(0)).sum())
    expected = sum_a * sum_b / comb2(n) if n > 1 else 0.0
    denom = (sum_a + sum_b) / 2 - expected
    if denom == 0:
        return 1.0
    return float((index - expected) / denom)


def asw(
    labels: Labels,
    embedding: ArrayLike,
    *,
    metric: Literal["euclidean", "cosine"] = "euclidean",
    rescale: bool = True,
) -> float:
    """Average silhouette width of an embedding with respect to labels (ASW_label).

    For cell ``i`` with label ``L``: ``a_i`` = mean distance to the other cells of ``L``,
    ``b_i`` = smallest mean distance to the cells of another label, and
    ``s_i = (b_i - a_i) / max(a_i, b_i)`` (``s_i = 0`` for a label with one cell).
    ASW is the mean of ``s_i`` over all cells, in [-1, 1]. With ``rescale=True`` (the
    scIB convention used by AvgBIO) the result is ``(ASW + 1) / 2``, in [0, 1].

    Parameters
    ----------
    labels
        One label per row of ``embedding``; at least 2 and at most ``n - 1`` labels.
    embedding
        ``(n_cells, n_dims)`` array.
    metric
        Distance between cells.
    rescale
        Return ``(ASW + 1) / 2`` instead of ASW.

    Returns
    -------
    ASW in [-1, 1], or rescaled in [0, 1]; higher is better (labels better separated).
    """
    from sklearn.metrics import silhouette_score

    lab, _ = paired_labels(labels, labels, ("labels", "labels"))
    x = as_float_array(embedding, "embedding")
    if x.ndim != 2 or x.shape[0] != len(lab):
        raise ValidationError(
            f"embedding must have shape (n_cells={len(lab)}, n_dims), got {x.shape}"
        )
    check_finite(x, "embedding")
    _, (codes,) = encode_labels(lab)
    n_labels = int(codes.max()) + 1
    if not 2 <= n_labels <= len(lab) - 1:
        raise ValidationError(
            f"asw needs between 2 and n_cells - 1 distinct labels, got {n_labels} "
            f"for {len(lab)} cells"
        )
    score = float(silhouette_score(x, codes, metric=metric))
    return (score + 1) / 2 if rescale else score


def _embedding_of(adata_or_embedding: Any, use_rep: str | None) -> np.ndarray:
    try:
        from anndata import AnnData
    except ImportError:  # pragma: no cover
        AnnData = ()  # type: ignore[assignment]
    if isinstance(adata_or_embedding, AnnData):
        adata = adata_or_embedding
        if use_rep is None:
            x = adata.X
        elif use_rep in adata.obsm:
            x = adata.obsm[use_rep]
        else:
            raise ValidationError(
                f"use_rep {use_rep!r} not in adata.obsm (have {sorted(adata.obsm.keys())})"
            )
    else:
        x = adata_or_embedding
    arr = as_float_array(x, "embedding")
    if arr.ndim != 2:
        raise ValidationError(f"embedding must be 2-D (cells x dims), got shape {arr.shape}")
    check_finite(arr, "embedding")
    return arr


def _check_order(name: str, labels: Any, embedding: Any) -> None:
    """Refuse the data-first order (labels and embedding swapped) with a clear message."""
    swapped = hasattr(labels, "obs") or (isinstance(labels, np.ndarray) and labels.ndim == 2)
    if swapped and (isinstance(embedding, str) or np.ndim(embedding) == 1):
        raise ValidationError(
            f"{name} takes the truth first: {name}(labels, embedding, ...) (labels may be an "
            "obs column name when embedding is an AnnData)"
        )


def _labels_of(adata_or_embedding: Any, labels: Any) -> np.ndarray:
    if isinstance(labels, str):
        obs = getattr(adata_or_embedding, "obs", None)
        if obs is None or labels not in obs:
            raise ValidationError(f"labels key {labels!r} not found in adata.obs")
        labels = obs[labels]
    lab, _ = paired_labels(labels, labels, ("labels", "labels"))
    return lab


@doc_params(**_SWEEP)
def leiden_nmi_ari(
    labels: Labels | str,
    embedding: AnnData | ArrayLike,
    *,
    use_rep: str | None = None,
    resolutions: Sequence[float] = DEFAULT_RESOLUTIONS,
    n_neighbors: int = 15,
    seed: int = 0,
) -> dict[str, float]:
    """Cluster an embedding with Leiden and score the clusters against labels.

    scIB convention: a k-nearest-neighbour graph (``scanpy.pp.neighbors``, euclidean,
    ``n_neighbors``) is built on the embedding, Leiden (``flavor="igraph"``, 2
    iterations, undirected, ``random_state=seed``) is run at every resolution in
    ``resolutions``, and the resolution with the highest NMI against ``labels`` is kept
    (first one on ties). NMI and ARI are reported at that resolution.

    Returns
    -------
    dict with ``nmi`` (in [0, 1]), ``ari`` (at most 1), ``resolution`` and
    ``n_clusters`` of the kept clustering; higher NMI/ARI is better.
    """
    _check_order("leiden_nmi_ari", labels, embedding)

    x = _embedding_of(embedding, use_rep)
    lab = _labels_of(embedding, labels)
    if len(lab) != x.shape[0]:
        raise ValidationError(f"{len(lab)} labels for an embedding of {x.shape[0]} cells")
    if len(resolutions) == 0:
        raise ValidationError("resolutions is empty")
    clusterings = leiden_clusterings(x, resolutions=resolutions, n_neighbors=n_neighbors, seed=seed)
    best: dict[str, float] | None = None
    for res, clusters in clusterings.items():
        score = nmi(lab, clusters)
        if best is None or score > best["nmi"]:
            best = {
                "nmi": score,
                "ari": ari(lab, clusters),
                "resolution": float(res),
                "n_clusters": float(len(np.unique(clusters))),
            }
    assert best is not None
    return best


@doc_params(**_SWEEP)
def avg_bio(
    labels: Labels | str,
    embedding: AnnData | ArrayLike,
    *,
    use_rep: str | None = None,
    resolutions: Sequence[float] = DEFAULT_RESOLUTIONS,
    n_neighbors: int = 15,
    seed: int = 0,
) -> float:
    """scIB-style AvgBIO: ``(NMI + ARI + ASW_label) / 3``.

    NMI and ARI compare the labels with the Leiden clusters of the best resolution
    (:func:`leiden_nmi_ari`); ASW_label is :func:`asw` (Euclidean) rescaled to [0, 1].
    At most 1 (ARI can be negative), higher is better (``METRIC_SPECS["avg_bio"]``).

    Returns
    -------
    AvgBIO of the embedding.
    """
    _check_order("avg_bio", labels, embedding)
    parts = avg_bio_parts(labels, embedding, use_rep=use_rep, resolutions=resolutions,
                          n_neighbors=n_neighbors, seed=seed)  # fmt: skip
    return parts["avg_bio"]


@doc_params(**_SWEEP)
def avg_bio_parts(
    labels: Labels | str,
    embedding: AnnData | ArrayLike,
    *,
    use_rep: str | None = None,
    resolutions: Sequence[float] = DEFAULT_RESOLUTIONS,
    n_neighbors: int = 15,
    seed: int = 0,
) -> dict[str, float]:
    """:func:`avg_bio` with its parts: one Leiden sweep and one ASW, reported together.

    Returns
    -------
    dict
        ``{"avg_bio", "nmi", "ari", "asw"}``; ``avg_bio = (nmi + ari + asw) / 3`` with
        ``asw`` the rescaled label ASW (exactly the value :func:`avg_bio` returns).
    """
    _check_order("avg_bio_parts", labels, embedding)
    lab = _labels_of(embedding, labels)
    x = _embedding_of(embedding, use_rep)
    clus = leiden_nmi_ari(lab, x, resolutions=resolutions, n_neighbors=n_neighbors, seed=seed)
    width = asw(lab, x, rescale=True)
    return {
        "avg_bio": float((clus["nmi"] + clus["ari"] + width) / 3),
        "nmi": float(clus["nmi"]),
        "ari": float(clus["ari"]),
        "asw": float(width),
    }
