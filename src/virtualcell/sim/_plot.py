"""Plots of simulated data: the true network, condition heatmap, UMAP by perturbation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data._conventions import CONTROL, PERTURBATION_KEY

if TYPE_CHECKING:
    import anndata as ad
    from matplotlib.figure import Figure

    from ._grn import GRN

__all__ = ["plot_heatmap", "plot_network", "plot_umap"]


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def _edges(obj: ad.AnnData | GRN | pd.DataFrame) -> tuple[pd.DataFrame, list[str], set[str]]:
    from ._grn import GRN

    if isinstance(obj, GRN):
        return obj.edges, obj.genes, set(obj.master_regulators)
    if isinstance(obj, pd.DataFrame):
        genes = sorted(set(obj["regulator"]) | set(obj["target"]))
        return obj, genes, set(genes) - set(obj["target"])
    if "true_network" not in obj.uns:
        raise ValidationError("adata.uns['true_network'] is missing")
    e = obj.uns["true_network"]
    return e, list(obj.var_names), set(obj.var_names) - set(e["target"])


def plot_network(
    obj: ad.AnnData | GRN | pd.DataFrame,
    *,
    path: str | Path | None = None,
    layout: str = "spring",
    seed: int = 0,
    figsize: tuple[float, float] = (8, 8),
) -> Figure:
    """Draw the true GRN: green arrows activate, red arrows repress; master regulators
    are squares, node size grows with the number of targets."""
    import matplotlib.pyplot as plt
    import networkx as nx

    edges, genes, mrs = _edges(obj)
    graph = nx.DiGraph()
    graph.add_nodes_from(genes)
    for r, t, s, w in zip(
        edges["regulator"], edges["target"], edges["sign"], edges["weight"], strict=True
    ):
        graph.add_edge(str(r), str(t), sign=int(s), weight=float(w))
    if layout == "spring":
        pos = nx.spring_layout(graph, seed=seed, k=1.5 / np.sqrt(max(len(genes), 1)))
    elif layout == "kamada_kawai":
        pos = nx.kamada_kawai_layout(graph)
    else:
        raise ValidationError(f"layout must be spring or kamada_kawai, got {layout!r}")
    fig, ax = plt.subplots(figsize=figsize)
    out_deg = dict(graph.out_degree())
    sizes = {g: 40 + 60 * out_deg[g] for g in genes}
    for sign, colour in ((1, "tab:green"), (-1, "tab:red")):
        el = [(u, v) for u, v, d in graph.edges(data=True) if d["sign"] == sign]
        nx.draw_networkx_edges(
            graph, pos, edgelist=el, edge_color=colour, alpha=0.6, ax=ax, arrowsize=8,
            node_size=[sizes[g] for g in graph.nodes],
        )  # fmt: skip
    for shape, group in (
        ("s", [g for g in genes if g in mrs]),
        ("o", [g for g in genes if g not in mrs]),
    ):
        nx.draw_networkx_nodes(
            graph, pos, nodelist=group, node_shape=shape, node_size=[sizes[g] for g in group],
            node_color="tab:orange" if shape == "s" else "tab:blue", ax=ax, alpha=0.9,
        )  # fmt: skip
    if len(genes) <= 60:
        nx.draw_networkx_labels(graph, pos, font_size=7, ax=ax)
    ax.set_title(
        f"true GRN: {len(genes)} genes, {graph.number_of_edges()} edges "
        "(green activation, red repression, squares master regulators)",
        fontsize=9,
    )
    ax.axis("off")
    return _save(fig, path)


def plot_heatmap(
    adata: ad.AnnData,
    *,
    conditions: list[str] | None = None,
    max_conditions: int = 40,
    layer: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Heatmap of mean log1p-normalised expression per condition (rows) and gene (columns),
    centred on the control row. ``layer=None`` uses the counts in ``X``."""
    import matplotlib.pyplot as plt
    import scipy.sparse as sp

    x = adata.layers[layer] if layer else adata.X
    x = x.toarray() if sp.issparse(x) else np.asarray(x, dtype=float)
    if layer is None:
        tot = x.sum(axis=1, keepdims=True)
        x = np.log1p(
            np.divide(x * np.median(tot), tot, out=np.zeros_like(x, dtype=float), where=tot > 0)
        )
    pert = adata.obs[PERTURBATION_KEY].astype(str)
    means = pd.DataFrame(x, index=pert.to_numpy(), columns=adata.var_names).groupby(level=0).mean()
    if conditions is None:
        order = [c for c in pd.unique(pert) if c != CONTROL]
        conditions = [CONTROL, *order[: max_conditions - 1]]
    missing = [c for c in conditions if c not in means.index]
    if missing:
        raise ValidationError(f"conditions not in obs['perturbation']: {missing[:5]}")
    mat = means.loc[conditions] - means.loc[CONTROL]
    vmax = float(np.nanpercentile(np.abs(mat.to_numpy()), 99)) or 1.0
    fig, ax = plt.subplots(figsize=(min(3 + 0.12 * adata.n_vars, 20), 2 + 0.2 * len(conditions)))
    im = ax.imshow(mat.to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_yticks(range(len(conditions)), conditions, fontsize=6)
    if adata.n_vars <= 120:
        ax.set_xticks(range(adata.n_vars), adata.var_names, rotation=90, fontsize=5)
    ax.set_xlabel("gene")
    ax.set_title("mean expression shift vs control (log1p normalised)", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.6)
    return _save(fig, path)


def plot_umap(
    adata: ad.AnnData,
    *,
    color: str = PERTURBATION_KEY,
    max_categories: int = 12,
    seed: int = 0,
    path: str | Path | None = None,
) -> Figure:
    """UMAP of the cells (on a copy: scanpy normalise, log1p, PCA; umap-learn UMAP),
    coloured by ``color``; beyond ``max_categories`` categories, control and the
    conditions with the largest true effects (``varm["true_effects"]``; else the largest
    groups) are kept and the rest shown as ``other``. The input is not modified."""
    import matplotlib.pyplot as plt
    import scanpy as sc

    if color not in adata.obs:
        raise ValidationError(f"obs has no column {color!r}")
    work = adata.copy()
    work.layers.clear()
    sc.pp.normalize_total(work)
    sc.pp.log1p(work)
    sc.pp.pca(work, n_comps=min(30, work.n_vars - 1, work.n_obs - 1), random_state=seed)
    # umap-learn directly: scanpy's neighbours fail on large inputs with recent scipy
    # (csr_array has no getnnz)
    from umap import UMAP

    n_neighbors = min(15, work.n_obs - 1)
    work.obsm["X_umap"] = UMAP(n_neighbors=n_neighbors, random_state=seed).fit_transform(
        work.obsm["X_pca"]
    )
    lab = work.obs[color].astype(str)
    keep = list(lab.value_counts().index[:max_categories])
    if color == PERTURBATION_KEY and "true_effects" in adata.varm:
        # the conditions with the largest true effects (where separation is visible)
        size = np.linalg.norm(np.asarray(adata.varm["true_effects"], dtype=float), axis=0)
        cols = np.asarray(adata.varm["true_effects"].columns)
        keep = [CONTROL, *cols[np.argsort(size)[::-1][: max_categories - 1]]]
    if CONTROL in set(lab) and CONTROL not in keep:
        keep = [CONTROL, *keep[:-1]]
    lab = lab.where(lab.isin(keep), "other")
    fig, ax = plt.subplots(figsize=(7, 6))
    xy = work.obsm["X_umap"]
    cmap = plt.get_cmap("tab20")
    cats = (["other"] if (lab == "other").any() else []) + [c for c in keep if c in set(lab)]
    for i, c in enumerate(cats):
        sel = (lab == c).to_numpy()
        colour = "lightgrey" if c == "other" else "black" if c == CONTROL else cmap(i % 20)
        ax.scatter(xy[sel, 0], xy[sel, 1], s=3, color=colour, label=c, alpha=0.7, linewidths=0)
    ax.legend(markerscale=4, fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xlabel("UMAP1")
    ax.set_ylabel("UMAP2")
    ax.set_title(f"UMAP of {work.n_obs} simulated cells by {color}", fontsize=9)
    return _save(fig, path)
