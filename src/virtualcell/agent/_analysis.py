"""Small AnnData analyses the agent calls as tools (answers as sorted tables).

Each returns a table whose first row is the answer to the usual question, so that a small
model only has to read the top of a summary. Definitions:

* :func:`describe_data` — sizes, ``obs`` columns with their number of values, layers.
* :func:`perturbation_effects` — per perturbation, mean expression of ``gene`` minus the
  control mean (library-size-normalised ``log1p`` counts unless ``layer`` is given),
  with Welch's ``z = delta / sqrt(var_p / n_p + var_c / n_c)``; sorted by ``|delta|``
  (the size of the change; ``z`` says how sure it is).
* :func:`expression_by_group` — mean and fraction of cells expressing ``gene`` per value of
  an ``obs`` column, sorted by mean.
* :func:`count_cell_types` — k-means on the first principal components of normalised
  ``log1p`` expression for ``k = 2 .. max_k``; the ``k`` with the highest silhouette.
* :func:`knockout_support` — for candidate edges ``A -> B`` with ``A`` perturbed: Welch
  ``z`` of ``B`` in ``A``-perturbed cells vs control; supported when ``|z| >= z_min``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data import CONTROL, PERTURBATION_KEY, expression

if TYPE_CHECKING:
    import anndata as ad

__all__ = [
    "count_cell_types",
    "describe_data",
    "expression_by_group",
    "knockout_support",
    "perturbation_effects",
]


def _normalized(adata: ad.AnnData, layer: str | None) -> np.ndarray:
    # the one rule (vc.data.expression): X normalised to the median library size; a
    # layer as given
    space = "log1p" if layer is None else "input"
    e = expression(
        adata, layer=layer, space=space, target_sum="median", sparse_output=False, dtype="float64"
    )
    return np.asarray(e.X, dtype=np.float64)


def _gene_column(adata: ad.AnnData, gene: str) -> int:
    names = list(map(str, adata.var_names))
    if gene in names:
        return names.index(gene)
    upper = {n.upper(): i for i, n in enumerate(names)}
    if gene.upper() in upper:
        return upper[gene.upper()]
    raise ValidationError(f"gene {gene!r} is not in the data (genes e.g. {names[:5]})")


def _labels(adata: ad.AnnData, key: str) -> np.ndarray:
    if key not in adata.obs:
        raise ValidationError(
            f"the data has no obs column {key!r} (columns: {list(adata.obs.columns)})"
        )
    return adata.obs[key].astype(str).to_numpy()


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean(a) - mean(b), Welch z) along axis 0."""
    d = a.mean(axis=0) - b.mean(axis=0)
    se = np.sqrt(a.var(axis=0, ddof=1) / max(len(a), 1) + b.var(axis=0, ddof=1) / max(len(b), 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, d / se, 0.0)
    return d, np.nan_to_num(z)


def describe_data(adata: ad.AnnData) -> dict:
    """Sizes and annotations of a data set: cells, genes, ``obs`` columns, layers.

    Parameters
    ----------
    adata
        The data (a workspace handle).

    Returns
    -------
    dict
        ``n_cells``, ``n_genes``, ``obs`` (``{column: number of distinct values}``),
        ``layers``, ``uns`` keys and the first genes.
    """
    return {
        "n_cells": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "obs": {str(c): int(adata.obs[c].nunique()) for c in adata.obs.columns},
        "layers": list(adata.layers.keys()),
        "uns": [str(k) for k in adata.uns.keys()],
        "genes": [str(g) for g in adata.var_names[:10]],
    }


def perturbation_effects(
    adata: ad.AnnData,
    *,
    gene: str,
    perturbation_key: str = PERTURBATION_KEY,
    layer: str | None = None,
) -> pd.DataFrame:
    """Which perturbations change ``gene`` most: mean shift vs control, sorted by |delta|.

    Parameters
    ----------
    adata
        Cells with ``obs[perturbation_key]`` labels (``control``, ``A``, ``A+B``).
    gene
        The gene whose expression is compared.
    perturbation_key
        The ``obs`` column holding the perturbation labels.
    layer
        Layer to use (default: normalised ``log1p`` of ``X``).

    Returns
    -------
    pandas.DataFrame
        ``perturbation, delta, z, n_cells`` sorted by decreasing ``|delta|``.
    """
    j = _gene_column(adata, gene)
    x = _normalized(adata, layer)[:, j]
    labels = _labels(adata, perturbation_key)
    ctrl = x[labels == CONTROL]
    if len(ctrl) < 2:
        raise ValidationError(f"fewer than 2 {CONTROL!r} cells in obs[{perturbation_key!r}]")
    rows = []
    for p in sorted(set(labels) - {CONTROL}):
        v = x[labels == p]
        if len(v) < 2:
            continue
        d, z = _welch(v[:, None], ctrl[:, None])
        rows.append((p, float(d[0]), float(z[0]), len(v)))
    df = pd.DataFrame(rows, columns=["perturbation", "delta", "z", "n_cells"])
    order = np.argsort(-np.abs(df["delta"].to_numpy()), kind="stable")
    return df.iloc[order].reset_index(drop=True)


def expression_by_group(
    adata: ad.AnnData, *, gene: str, groupby: str, layer: str | None = None
) -> pd.DataFrame:
    """Which group expresses ``gene`` most: mean and fraction expressing, per group.

    Parameters
    ----------
    adata
        The data.
    gene
        The gene (e.g. a marker).
    groupby
        ``obs`` column with the groups (clusters, cell types).
    layer
        Layer to use (default: normalised ``log1p`` of ``X``).

    Returns
    -------
    pandas.DataFrame
        ``group, mean, fraction_expressing, n_cells`` sorted by decreasing mean.
    """
    groups = _labels(adata, groupby)
    j = _gene_column(adata, gene)
    x = _normalized(adata, layer)[:, j]
    rows = [
        (
            g,
            float(x[groups == g].mean()),
            float((x[groups == g] > 0).mean()),
            int((groups == g).sum()),
        )
        for g in sorted(set(groups))
    ]
    df = pd.DataFrame(rows, columns=["group", "mean", "fraction_expressing", "n_cells"])
    return df.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)


def count_cell_types(
    adata: ad.AnnData, *, max_k: int = 8, n_pcs: int = 10, layer: str | None = None, seed: int = 0
) -> dict:
    """How many cell types the data holds: k-means with the best silhouette over k.

    Parameters
    ----------
    adata
        The data.
    max_k
        Largest number of clusters tried (from 2).
    n_pcs
        Principal components clustered.
    layer
        Layer to use (default: normalised ``log1p`` of ``X``).
    seed
        Seed of PCA and k-means.

    Returns
    -------
    dict
        ``n_clusters`` (the best k), ``silhouette`` (``{k: score}``) and ``sizes``.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    if max_k < 2:
        raise ValidationError(f"max_k must be >= 2, got {max_k}")
    X = _normalized(adata, layer)
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    n = min(n_pcs, X.shape[1] - 1, X.shape[0] - 1)
    Z = PCA(n_components=max(n, 1), random_state=seed).fit_transform(X)
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(Z), size=min(len(Z), 2000), replace=False)
    scores, labels = {}, {}
    for k in range(2, min(max_k, len(Z) - 1) + 1):
        lab = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(Z)
        scores[k] = float(silhouette_score(Z[sample], lab[sample]))
        labels[k] = lab
    best = max(scores, key=lambda k: (scores[k], -k))
    sizes = np.bincount(labels[best]).tolist()
    return {"n_clusters": int(best), "silhouette": scores, "sizes": sizes}


def _edge_pairs(edges: Sequence[str] | pd.DataFrame) -> list[tuple[str, str]]:
    if isinstance(edges, pd.DataFrame):
        cols = {c.lower(): c for c in edges.columns}
        a, b = cols.get("regulator", cols.get("gene1")), cols.get("target", cols.get("gene2"))
        if a is None or b is None:
            raise ValidationError("the edge table needs columns regulator, target")
        return list(zip(edges[a].astype(str), edges[b].astype(str), strict=True))
    out = []
    for e in edges:
        parts = [p for p in re.split(r"\s*(?:->|→|>|,|\s)\s*", str(e).strip()) if p]
        if len(parts) != 2:
            raise ValidationError(f"edge {e!r} is not of the form 'A->B'")
        out.append((parts[0], parts[1]))
    return out


def knockout_support(
    adata: ad.AnnData,
    *,
    edges: list[str],
    z_min: float = 4.0,
    perturbation_key: str = PERTURBATION_KEY,
    layer: str | None = None,
) -> pd.DataFrame:
    """Which candidate edges ``A->B`` the knockouts support: B changes when A is perturbed.

    Parameters
    ----------
    adata
        Perturbation data with ``obs[perturbation_key]`` (single-gene labels are used).
    edges
        Candidate edges as ``"A->B"`` strings (or a table with ``regulator, target``).
    z_min
        Smallest ``|z|`` that counts as support.
    perturbation_key
        The ``obs`` column holding the perturbation labels.
    layer
        Layer to use (default: normalised ``log1p`` of ``X``).

    Returns
    -------
    pandas.DataFrame
        ``edge, regulator, target, delta, z, supported``; edges whose regulator was never
        perturbed get ``supported = False`` and ``z = NaN``; sorted by decreasing ``|z|``.
    """
    pairs = _edge_pairs(edges)
    if not pairs:
        raise ValidationError("no candidate edges given")
    X = _normalized(adata, layer)
    labels = _labels(adata, perturbation_key)
    ctrl = X[labels == CONTROL]
    rows = []
    for a, b in pairs:
        j = _gene_column(adata, b)
        cells = X[labels == a]
        if len(cells) < 2 or len(ctrl) < 2:
            rows.append((f"{a}->{b}", a, b, np.nan, np.nan, False))
            continue
        d, z = _welch(cells[:, [j]], ctrl[:, [j]])
        rows.append((f"{a}->{b}", a, b, float(d[0]), float(z[0]), bool(abs(z[0]) >= z_min)))
    df = pd.DataFrame(rows, columns=["edge", "regulator", "target", "delta", "z", "supported"])
    order = np.argsort(-np.nan_to_num(np.abs(df["z"].to_numpy()), nan=-1), kind="stable")
    return df.iloc[order].reset_index(drop=True)
