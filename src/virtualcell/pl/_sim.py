"""Figures of simulated data: the true network, the perturbation heatmap, a UMAP.

Each follows the plotting contract of :mod:`virtualcell.pl._base`:
``f(obj, *, ax=None, path=None, ...) -> Figure``; what is drawn is computed in
:mod:`virtualcell.sim` (:func:`~virtualcell.sim.condition_shifts`,
:func:`~virtualcell.sim.embed_umap`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data import CONTROL, PERTURBATION_KEY
from ._base import figure_params, finish, new_axes

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..sim import GRN

__all__ = ["network", "perturbation_heatmap", "umap"]


def _edges(obj: ad.AnnData | GRN | pd.DataFrame) -> tuple[pd.DataFrame, list[str], set[str]]:
    from ..sim import GRN

    if isinstance(obj, GRN):
        return obj.edges, obj.genes, set(obj.master_regulators)
    if isinstance(obj, pd.DataFrame):
        genes = sorted(set(obj["regulator"]) | set(obj["target"]))
        return obj, genes, set(genes) - set(obj["target"])
    if "true_network" not in getattr(obj, "uns", {}):
        raise ValidationError("adata.uns['true_network'] is missing (not a simulation?)")
    e = obj.uns["true_network"]
    return e, list(obj.var_names), set(obj.var_names) - set(e["target"])


@figure_params
def network(
    obj: ad.AnnData | GRN | pd.DataFrame,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    layout: Literal["spring", "kamada_kawai"] = "spring",
    seed: int = 0,
) -> Figure:
    """Draw a GRN: green arrows activate, red arrows repress; master regulators (genes
    without regulators) are orange squares, other genes blue circles; node size grows with
    the number of targets.

    Parameters
    ----------
    obj
        A simulation (AnnData with ``uns["true_network"]``), a
        :class:`~virtualcell.sim.GRN` or an edge table with ``regulator, target, sign``
        (``sign`` +1 / -1; an optional ``weight``).
    layout
        Node placement: ``"spring"`` (force-directed, seeded) or ``"kamada_kawai"``.
    seed
        Random seed of the spring layout (ignored by ``"kamada_kawai"``).
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    import networkx as nx

    edges, genes, mrs = _edges(obj)
    graph = nx.DiGraph()
    graph.add_nodes_from(genes)
    weights = edges["weight"] if "weight" in edges else pd.Series(1.0, index=edges.index)
    for r, t, s, w in zip(edges["regulator"], edges["target"], edges["sign"], weights, strict=True):
        graph.add_edge(str(r), str(t), sign=int(s), weight=float(w))
    if layout == "spring":
        pos = nx.spring_layout(graph, seed=seed, k=1.5 / np.sqrt(max(len(genes), 1)))
    elif layout == "kamada_kawai":
        pos = nx.kamada_kawai_layout(graph)
    else:
        raise ValidationError(f"layout must be spring or kamada_kawai, got {layout!r}")
    fig, ax = new_axes(ax, figsize=(8, 8))
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
    return finish(fig, path, overwrite=overwrite)


@figure_params
def perturbation_heatmap(
    obj: ad.AnnData | pd.DataFrame,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    layer: str | None = None,
    conditions: list[str] | None = None,
    max_conditions: int = 40,
) -> Figure:
    """Heatmap of the mean expression shift vs control per condition (rows) and gene
    (columns), symmetric colour scale at the 99th percentile of ``|shift|``.

    Parameters
    ----------
    obj
        The conditions x genes table of :func:`~virtualcell.sim.condition_shifts`, or a
        simulation (AnnData), from which that table is computed with ``layer``,
        ``conditions`` and ``max_conditions``.
    layer
        Layer the shifts of a simulation are computed in (``None``: ``X``, log1p
        normalised); ignored for a table.
    conditions
        Conditions (rows) to draw from a simulation (``None``: chosen by
        :func:`~virtualcell.sim.condition_shifts`); ignored for a table.
    max_conditions
        At most this many rows from a simulation; ignored for a table.
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    if isinstance(obj, pd.DataFrame):
        shifts = obj
    else:
        from ..sim import condition_shifts

        shifts = condition_shifts(
            obj, layer=layer, conditions=conditions, max_conditions=max_conditions
        )
    rows, genes = list(shifts.index), list(shifts.columns)
    values = shifts.to_numpy(dtype=float)
    vmax = float(np.nanpercentile(np.abs(values), 99)) if values.size else 1.0
    vmax = vmax or 1.0
    fig, ax = new_axes(ax, figsize=(min(3 + 0.12 * len(genes), 20), 2 + 0.2 * len(rows)))
    im = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=6)
    if len(genes) <= 120:
        ax.set_xticks(range(len(genes)), [str(g) for g in genes], rotation=90, fontsize=5)
    ax.set_xlabel("gene")
    what = "log1p normalised" if layer is None else f"layer {layer}"
    ax.set_title(f"mean expression shift vs control ({what})", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.6)
    return finish(fig, path, overwrite=overwrite)


def _categories(adata: ad.AnnData, color: str, max_categories: int) -> tuple[pd.Series, list]:
    """Labels with at most ``max_categories`` shown (control and the conditions with the
    largest true effects first, else the largest groups); the rest become ``other``."""
    lab = adata.obs[color].astype(str)
    keep = list(lab.value_counts().index[:max_categories])
    if color == PERTURBATION_KEY and "true_effects" in adata.varm:
        size = np.linalg.norm(np.asarray(adata.varm["true_effects"], dtype=float), axis=0)
        cols = np.asarray(adata.varm["true_effects"].columns)
        keep = [CONTROL, *cols[np.argsort(size)[::-1][: max_categories - 1]]]
    if CONTROL in set(lab) and CONTROL not in keep:
        keep = [CONTROL, *keep[:-1]]
    lab = lab.where(lab.isin(keep), "other")
    cats = (["other"] if (lab == "other").any() else []) + [c for c in keep if c in set(lab)]
    return lab, cats


@figure_params
def umap(
    adata: ad.AnnData,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    color: str = PERTURBATION_KEY,
    max_categories: int = 12,
    basis: str = "X_umap",
) -> Figure:
    """Scatter of ``obsm[basis]`` (e.g. from :func:`~virtualcell.sim.embed_umap`) coloured
    by ``obs[color]``; beyond ``max_categories`` categories, control and the conditions
    with the largest true effects (``varm["true_effects"]``; else the largest groups) are
    kept and the rest drawn grey as ``other``.

    Parameters
    ----------
    adata
        Cells with ``obsm[basis]`` and ``obs[color]``; not modified.
    color
        ``obs`` column the points are coloured by (``"control"`` drawn black).
    max_categories
        Most categories shown in colour (the rest grey, as ``other``).
    basis
        ``obsm`` key of the 2-D embedding (its first two columns are drawn).
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    if basis not in adata.obsm:
        raise ValidationError(
            f"adata.obsm[{basis!r}] is missing: compute it first with "
            "vc.sim.embed_umap(adata) (or scanpy's sc.tl.umap)"
        )
    if color not in adata.obs:
        raise ValidationError(f"obs has no column {color!r}")
    from matplotlib import colormaps

    lab, cats = _categories(adata, color, max_categories)
    xy = np.asarray(adata.obsm[basis])[:, :2]
    fig, ax = new_axes(ax, figsize=(7, 6))
    cmap = colormaps["tab20"]
    for i, c in enumerate(cats):
        sel = (lab == c).to_numpy()
        colour = "lightgrey" if c == "other" else "black" if c == CONTROL else cmap(i % 20)
        ax.scatter(xy[sel, 0], xy[sel, 1], s=3, color=colour, label=c, alpha=0.7, linewidths=0)
    ax.legend(markerscale=4, fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xlabel("UMAP1")
    ax.set_ylabel("UMAP2")
    ax.set_title(f"UMAP of {adata.n_obs} cells by {color}", fontsize=9)
    return finish(fig, path, overwrite=overwrite)
