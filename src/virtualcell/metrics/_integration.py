"""Batch-integration metrics of the scIB set (Luecken et al. 2022).

Batch removal: :func:`batch_asw`, :func:`ilisi`, :func:`kbet`, :func:`graph_connectivity`.
Biology kept: :func:`clisi`, :func:`isolated_label_f1` (with :func:`~.nmi`, :func:`~.ari`,
:func:`~.asw` from the clustering metrics). :func:`integration_scores` computes them all.

Neighbours are exact Euclidean k-nearest neighbours (scikit-learn), a cell never being its
own neighbour. Definitions follow ``scib-metrics`` (checked against it in the tests where
the inputs can be made identical); the differences are listed in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError
from .._utils import doc_params
from ._checks import as_float_array, check_finite, encode_labels, paired_labels
from ._clustering import DEFAULT_RESOLUTIONS, ari, asw, nmi
from ._leiden import EMBEDDING_PARAMS, leiden_clusterings

__all__ = [
    "batch_asw",
    "clisi",
    "graph_connectivity",
    "ilisi",
    "integration_scores",
    "isolated_label_f1",
    "isolated_labels",
    "kbet",
    "knn",
    "lisi",
]


_documented = doc_params(
    **EMBEDDING_PARAMS,
    perplexity=(
        "Effective number of neighbours the weights are calibrated to (> 0; default "
        "``floor(k / 3)``, 30 for 90 neighbours, as scIB)."
    ),
    scale="Return the scIB score in [0, 1] instead of the median LISI itself.",
)


# ----------------------------------------------------------------------------- inputs
def _embedding(embedding: Any, n: int) -> np.ndarray:
    x = as_float_array(embedding, "embedding")
    if x.ndim != 2 or x.shape[0] != n:
        raise ValidationError(f"embedding must have shape (n_cells={n}, n_dims), got {x.shape}")
    check_finite(x, "embedding")
    return x


def _codes(values: Any, name: str, n: int | None = None) -> np.ndarray:
    lab, _ = paired_labels(values, values, (name, name))
    if n is not None and len(lab) != n:
        raise ValidationError(f"{name} has {len(lab)} values for {n} cells")
    _, (codes,) = encode_labels(lab)
    return codes


@_documented
def knn(embedding: Any, *, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean k-nearest neighbours of every row, itself excluded.

    Returns
    -------
    ``(distances, indices)``, each ``(n_cells, k)`` with ``k = min(n_neighbors,
    n_cells - 1)``, nearest first (ties broken by scikit-learn's order).
    """
    from sklearn.neighbors import NearestNeighbors

    x = as_float_array(embedding, "embedding")
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValidationError(f"embedding must be 2-D with >= 2 cells, got shape {x.shape}")
    check_finite(x, "embedding")
    k = int(min(n_neighbors, x.shape[0] - 1))
    if k < 1:
        raise ValidationError(f"n_neighbors must be >= 1, got {n_neighbors}")
    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    dist, idx = nn.kneighbors(x)
    # drop each row's own index (normally first; duplicates may put it elsewhere)
    rows = np.arange(x.shape[0])[:, None]
    own = idx == rows
    no_self = ~own.any(axis=1)
    own[no_self, -1] = True  # the row itself was not returned: drop the farthest instead
    keep = ~own
    return dist[keep].reshape(len(x), k), idx[keep].reshape(len(x), k)


# ----------------------------------------------------------------------------- LISI
def _simpson(
    dist: np.ndarray, idx: np.ndarray, codes: np.ndarray, perplexity: float, tol: float = 1e-5
) -> np.ndarray:
    """Simpson index per cell with perplexity-calibrated Gaussian neighbour weights."""
    n, _k = dist.shape
    target = np.log(perplexity)
    beta = np.ones(n)
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)

    def weights(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P = np.exp(-dist * b[:, None])
        s = P.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            H = np.where(s > 0, np.log(s) + b * (dist * P).sum(1) / s, 0.0)
            P = np.where(s[:, None] > 0, P / s[:, None], 0.0)
        return H, P

    H, P = weights(beta)
    diff = H - target
    for _ in range(50):
        active = np.abs(diff) >= tol
        if not active.any():
            break
        up = active & (diff > 0)
        down = active & (diff <= 0)
        lo = np.where(up, beta, lo)
        hi = np.where(down, beta, hi)
        new = beta.copy()
        new[up] = np.where(np.isinf(hi[up]), beta[up] * 2, (beta[up] + hi[up]) / 2)
        new[down] = np.where(np.isinf(lo[down]), beta[down] / 2, (beta[down] + lo[down]) / 2)
        beta = new
        H_new, P_new = weights(beta)
        H = np.where(active, H_new, H)
        P = np.where(active[:, None], P_new, P)
        diff = H - target
    n_labels = int(codes.max()) + 1
    neigh = codes[idx]
    sums = np.zeros((n, n_labels))
    np.add.at(sums, (np.repeat(np.arange(n), idx.shape[1]), neigh.ravel()), P.ravel())
    simpson = (sums**2).sum(1)
    return np.where(H == 0, -1.0, simpson)


@_documented
def lisi(
    labels: Sequence[Any],
    embedding: Any,
    *,
    n_neighbors: int = 90,
    perplexity: float | None = None,
) -> np.ndarray:
    """Local inverse Simpson index of every cell (Korsunsky et al. 2019).

    For cell ``i`` with neighbour distances ``d_ij`` (its ``n_neighbors`` nearest cells),
    weights ``p_ij = exp(-beta_i d_ij) / sum_j exp(-beta_i d_ij)`` with ``beta_i`` found by
    bisection (at most 50 steps, tolerance 1e-5) so that the entropy of ``p_i`` equals
    ``log(perplexity)``; then ``LISI_i = 1 / sum_l (sum_{j: label_j = l} p_ij)^2`` — the
    effective number of labels around the cell (1 .. number of labels). ``perplexity``
    defaults to ``floor(n_neighbors / 3)`` (30 for 90 neighbours, as scIB). A cell whose
    weights have zero entropy gets ``-1`` (scib-metrics' convention).

    Parameters
    ----------
    labels
        The label of each cell whose diversity is measured (cell types for cLISI,
        batches for iLISI).

    Returns
    -------
    LISI per cell, in [1, number of labels] (or -1); its direction depends on the use:
    higher is better for batches (mixing), lower for cell types (separation).
    """
    codes = _codes(labels, "labels")
    x = _embedding(embedding, len(codes))
    dist, idx = knn(x, n_neighbors=n_neighbors)
    perp = float(np.floor(dist.shape[1] / 3)) if perplexity is None else float(perplexity)
    if perp <= 0:
        raise ValidationError(f"perplexity must be > 0, got {perp} (use more neighbours)")
    return 1.0 / _simpson(dist, idx, codes, perp)


def _median_lisi(
    values: Sequence[Any], embedding: Any, name: str, n_neighbors: int, perplexity: float | None
) -> tuple[float, int]:
    """Median LISI of ``values`` and their number of distinct values (at least 2)."""
    codes = _codes(values, name)
    n_values = int(codes.max()) + 1
    if n_values < 2:
        raise ValidationError(
            f"{'ilisi' if name == 'batches' else 'clisi'} needs at least 2 {name}"
        )
    lis = lisi(codes, embedding, n_neighbors=n_neighbors, perplexity=perplexity)
    return float(np.nanmedian(lis)), n_values


@_documented
def ilisi(
    batches: Sequence[Any],
    embedding: Any,
    *,
    n_neighbors: int = 90,
    perplexity: float | None = None,
    scale: bool = True,
) -> float:
    """Integration LISI: median over cells of :func:`lisi` of the batch labels.

    With ``scale`` (scIB): ``(median - 1) / (n_batches - 1)`` in [0, 1], 1 = batches fully
    mixed. Needs at least 2 batches.

    Returns
    -------
    The scaled score (higher is better) or, without ``scale``, the median LISI in
    [1, n_batches].
    """
    value, n_batches = _median_lisi(batches, embedding, "batches", n_neighbors, perplexity)
    return (value - 1) / (n_batches - 1) if scale else value


@_documented
def clisi(
    labels: Sequence[Any],
    embedding: Any,
    *,
    n_neighbors: int = 90,
    perplexity: float | None = None,
    scale: bool = True,
) -> float:
    """Cell-type LISI: median over cells of :func:`lisi` of the cell-type labels.

    With ``scale`` (scIB): ``(n_labels - median) / (n_labels - 1)`` in [0, 1], 1 = every
    neighbourhood holds one cell type. Needs at least 2 labels.

    Returns
    -------
    The scaled score (higher is better) or, without ``scale``, the median LISI in
    [1, n_labels] (lower is better).
    """
    value, n_labels = _median_lisi(labels, embedding, "labels", n_neighbors, perplexity)
    return (n_labels - value) / (n_labels - 1) if scale else value


# ----------------------------------------------------------------------------- ASW, kBET
@_documented
def batch_asw(
    batches: Sequence[Any],
    embedding: Any,
    *,
    labels: Sequence[Any],
    metric: Literal["euclidean", "cosine"] = "euclidean",
) -> float:
    """Batch ASW within cell types (scIB ``silhouette_batch``).

    For each label, the silhouette ``s_i`` of its cells with the *batches* as clusters;
    each cell scores ``1 - |s_i|``; the score of a label is the mean over its cells and the
    result the mean over labels. Labels with a single batch, or with one cell per batch,
    are skipped. 1 = batches indistinguishable within every cell type. NaN when every
    label is skipped.

    Parameters
    ----------
    labels
        Cell-type label of each cell: the silhouettes are computed within each label.
    metric
        Distance between cells.

    Returns
    -------
    Batch ASW in [0, 1], higher is better (batches better mixed).
    """
    from sklearn.metrics import silhouette_samples

    b = _codes(batches, "batches")
    lab = _codes(labels, "labels", len(b))
    x = _embedding(embedding, len(b))
    per_label = []
    for value in np.unique(lab):
        mask = lab == value
        sub = b[mask]
        n_b = len(np.unique(sub))
        if n_b == 1 or n_b == mask.sum():
            continue
        s = silhouette_samples(x[mask], sub, metric=metric)
        per_label.append(float(np.mean(1.0 - np.abs(s))))
    return float(np.mean(per_label)) if per_label else float("nan")


def _kbet_rate(idx: np.ndarray, codes: np.ndarray, alpha: float) -> float:
    from scipy.stats import chi2

    n_b = int(codes.max()) + 1
    freq = np.bincount(codes, minlength=n_b) / len(codes)
    k = idx.shape[1]
    observed = np.zeros((len(idx), n_b))
    np.add.at(observed, (np.repeat(np.arange(len(idx)), k), codes[idx].ravel()), 1.0)
    expected = freq * k
    stat = ((observed - expected) ** 2 / expected).sum(1)
    p = chi2.sf(stat, n_b - 1)
    return float((p >= alpha).mean())


@_documented
def kbet(
    batches: Sequence[Any],
    embedding: Any,
    *,
    labels: Sequence[Any] | None = None,
    n_neighbors: int | None = None,
    alpha: float = 0.05,
) -> float:
    """kBET acceptance rate (Büttner et al. 2019): how often a neighbourhood's batch mix
    is compatible with the global one.

    For every cell, the batch counts ``o_b`` of its ``k`` nearest neighbours are compared
    with ``e_b = k * f_b`` (``f_b`` the batch frequencies of the cells scored) by Pearson's
    chi-square test (``n_batches - 1`` degrees of freedom); the rate is the fraction of
    cells with ``p >= alpha``. 1 = well mixed.

    With ``labels`` (scIB): computed within each label separately — neighbours among the
    label's cells, ``k = clip(floor(mean cells per batch / 4), 10, 70)`` (at most
    ``n_label - 1``), labels with fewer than 10 cells or one batch skipped — and averaged
    over labels (NaN when all are skipped). Without labels, ``k = n_neighbors`` (default
    50) over all cells.

    Parameters
    ----------
    labels
        Cell-type label of each cell (scIB's per-label kBET); ``None``: all cells at once.
    n_neighbors
        Neighbours ``k`` of each cell (at most the cells scored - 1). ``None``: 50 without
        labels, the per-label rule above with labels; given with labels, it replaces that
        rule (``k = min(n_neighbors, n_label - 1)``).
    alpha
        Significance level of the test, in (0, 1): a cell is accepted when ``p >= alpha``.

    Returns
    -------
    The acceptance rate in [0, 1], higher is better (batches better mixed).
    """
    b = _codes(batches, "batches")
    x = _embedding(embedding, len(b))
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha must be in (0, 1), got {alpha}")
    if labels is None:
        if int(b.max()) + 1 < 2:
            raise ValidationError("kbet needs at least 2 batches")
        _, idx = knn(x, n_neighbors=n_neighbors or 50)
        return _kbet_rate(idx, b, alpha)
    lab = _codes(labels, "labels", len(b))
    rates = []
    for value in np.unique(lab):
        mask = lab == value
        sub = b[mask]
        if mask.sum() < 10 or len(np.unique(sub)) == 1:
            continue
        _, sub_codes = np.unique(sub, return_inverse=True)
        mean_size = np.bincount(sub_codes).mean()
        k0 = int(min(70, max(10, np.floor(mean_size / 4))))
        k0 = min(k0, int(mask.sum()) - 1)
        if n_neighbors is not None:
            k0 = min(int(n_neighbors), int(mask.sum()) - 1)
        _, idx = knn(x[mask], n_neighbors=k0)
        rates.append(_kbet_rate(idx, sub_codes, alpha))
    return float(np.mean(rates)) if rates else float("nan")


# ----------------------------------------------------------------------------- graphs
def _knn_graph(x: np.ndarray, n_neighbors: int) -> Any:
    import scipy.sparse as sp

    _, idx = knn(x, n_neighbors=n_neighbors)
    n, k = idx.shape
    g = sp.csr_matrix((np.ones(n * k), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    return ((g + g.T) > 0).astype(np.float64)


@_documented
def graph_connectivity(labels: Sequence[Any], embedding: Any, *, n_neighbors: int = 15) -> float:
    """Graph connectivity (scIB): do the cells of a type stay connected?

    On the symmetrised kNN graph (an edge where either cell is among the other's
    ``n_neighbors`` nearest, as scanpy's connectivities), restricted to the cells of each
    label, the size of the largest connected component over the label's size; mean over
    labels. 1 = every cell type forms one connected piece.

    Returns
    -------
    Graph connectivity in (0, 1], higher is better.
    """
    from scipy.sparse.csgraph import connected_components

    lab = _codes(labels, "labels")
    x = _embedding(embedding, len(lab))
    g = _knn_graph(x, n_neighbors)
    out = []
    for value in np.unique(lab):
        mask = np.flatnonzero(lab == value)
        _, comp = connected_components(g[mask][:, mask], directed=False)
        out.append(np.bincount(comp).max() / len(mask))
    return float(np.mean(out))


@_documented
def isolated_labels(labels: Sequence[Any], *, batches: Sequence[Any]) -> list[Any]:
    """Labels present in the fewest batches (scIB's isolated labels), sorted.

    Returns
    -------
    Every label whose number of distinct batches is the minimum over labels, sorted by
    its text.
    """
    lab, bat = paired_labels(labels, batches, ("labels", "batches"))
    import pandas as pd

    per = pd.DataFrame({"l": lab, "b": bat}).drop_duplicates().groupby("l")["b"].count()
    return sorted(per.index[per == per.min()].tolist(), key=str)


@_documented
def isolated_label_f1(
    labels: Sequence[Any],
    embedding: Any,
    *,
    batches: Sequence[Any],
    clusterings: dict[float, np.ndarray] | None = None,
    resolutions: Sequence[float] = DEFAULT_RESOLUTIONS,
    n_neighbors: int = 15,
    seed: int = 0,
) -> float:
    """Isolated-label F1 (scIB, cluster-based): are the rarest-across-batches types kept?

    For each isolated label ``L`` (:func:`isolated_labels`): over every Leiden clustering
    of the sweep (:func:`leiden_clusterings`) and every cluster ``C``, the F1 of "in
    ``C``" as a predictor of "is ``L``" (``2 |C ∩ L| / (|C| + |L|)``); the label's score is
    the best such F1. Result: mean over isolated labels, in [0, 1], higher is better.

    Parameters
    ----------
    clusterings
        Precomputed ``{resolution: cluster labels}`` (:func:`leiden_clusterings`), so a
        caller scoring several metrics clusters once; ``None``: computed here from
        ``resolutions``, ``n_neighbors`` and ``seed`` (which are ignored otherwise).

    Returns
    -------
    The isolated-label F1.
    """
    lab, _ = paired_labels(labels, batches, ("labels", "batches"))
    x = _embedding(embedding, len(lab))
    if clusterings is None:
        clusterings = leiden_clusterings(
            x, resolutions=resolutions, n_neighbors=n_neighbors, seed=seed
        )
    scores = []
    for value in isolated_labels(lab, batches=batches):
        is_l = lab == value
        best = 0.0
        for clusters in clusterings.values():
            clusters = np.asarray(clusters)
            for c in np.unique(clusters[is_l]):
                in_c = clusters == c
                best = max(best, 2 * float((in_c & is_l).sum()) / (in_c.sum() + is_l.sum()))
        scores.append(best)
    return float(np.mean(scores))


# ----------------------------------------------------------------------------- all
@_documented
def integration_scores(
    labels: Sequence[Any],
    embedding: Any,
    *,
    batches: Sequence[Any],
    n_neighbors: int = 15,
    lisi_neighbors: int = 90,
    resolutions: Sequence[float] = DEFAULT_RESOLUTIONS,
    seed: int = 0,
) -> dict[str, float]:
    """The scIB metric set of one embedding.

    Biology kept: ``nmi``, ``ari`` (Leiden sweep, best-NMI resolution), ``asw_label``
    (:func:`~virtualcell.metrics.asw`, rescaled), ``isolated_label_f1``, ``clisi``.
    Batch removal: ``batch_asw``, ``ilisi``, ``kbet`` (per label), ``graph_connectivity``.
    Aggregates (scIB): ``bio`` = mean of the 5 biology scores, ``batch`` = mean of the 4
    batch scores (NaN ignored), ``overall = 0.6 bio + 0.4 batch``. Every score is in
    [0, 1] (ARI at most 1) and higher is better.

    Parameters
    ----------
    n_neighbors
        Neighbours of the Leiden kNN graph and of graph connectivity (kBET uses the
        per-label rule of :func:`kbet`).
    lisi_neighbors
        Neighbours of each cell for iLISI and cLISI.

    Returns
    -------
    ``{name: score}`` with the nine scores above and ``bio``, ``batch``, ``overall``.
    """
    lab, bat = paired_labels(labels, batches, ("labels", "batches"))
    x = _embedding(embedding, len(lab))
    clusterings = leiden_clusterings(x, resolutions=resolutions, n_neighbors=n_neighbors, seed=seed)
    best = max(clusterings, key=lambda r: (nmi(lab, clusterings[r]), -r))
    out = {
        "nmi": nmi(lab, clusterings[best]),
        "ari": ari(lab, clusterings[best]),
        "asw_label": asw(lab, x, rescale=True),
        "isolated_label_f1": isolated_label_f1(lab, x, batches=bat, clusterings=clusterings),
        "clisi": clisi(lab, x, n_neighbors=lisi_neighbors),
        "batch_asw": batch_asw(bat, x, labels=lab),
        "ilisi": ilisi(bat, x, n_neighbors=lisi_neighbors),
        "kbet": kbet(bat, x, labels=lab),
        "graph_connectivity": graph_connectivity(lab, x, n_neighbors=n_neighbors),
    }
    bio = [out[k] for k in ("nmi", "ari", "asw_label", "isolated_label_f1", "clisi")]
    batch = [out[k] for k in ("batch_asw", "ilisi", "kbet", "graph_connectivity")]
    out["bio"] = float(np.nanmean(bio))
    out["batch"] = float(np.nanmean(batch)) if not np.all(np.isnan(batch)) else float("nan")
    out["overall"] = 0.6 * out["bio"] + 0.4 * out["batch"]
    return out
