"""``neighbors``: the spatial neighbourhood graph of a section, in squidpy's conventions.

The graph is built from ``obsm["spatial"]`` with scikit-learn's exact neighbour search (a
KD-tree: about a second for 100,000 cells) and stored where squidpy's
``squidpy.gr.spatial_neighbors`` stores it, so that either library reads the other's:

* ``obsp["spatial_connectivities"]`` — CSR, 1.0 for every edge, symmetric, no self loops;
* ``obsp["spatial_distances"]`` — CSR, the Euclidean distance of every edge (same pattern);
* ``uns["spatial_neighbors"]`` — ``{"connectivities_key", "distances_key", "params"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import check_number

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["coordinates", "neighbors", "smoothing_operator"]

#: Neighbours per cell of the default graph (squidpy's default is 6, the hexagonal lattice
#: of Visium spots; 20 was chosen against 10 on simulated seeds 100-101, docs/spatial.md).
DEFAULT_NEIGHBORS = 20


def coordinates(adata: AnnData, *, key: str = "spatial") -> np.ndarray:
    """The spatial coordinates ``obsm[key]`` as a checked float64 ``(n_cells, 2 or 3)``
    array.

    Parameters
    ----------
    adata
        Cells of one section.
    key
        ``obsm`` key of the coordinates (squidpy / spatialdata: ``"spatial"``).

    Returns
    -------
    numpy.ndarray
        ``(n_cells, d)`` float64, ``d`` 2 or 3; a one-line :class:`ValidationError` when
        the key is missing, the shape is wrong or a coordinate is not finite.
    """
    if key not in adata.obsm:
        raise ValidationError(
            f"no obsm[{key!r}]: spatial coordinates are needed (an n_cells x 2 array in "
            f"micrometres); obsm holds {sorted(adata.obsm) or 'nothing'}"
        )
    raw = adata.obsm[key]
    try:
        xy = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"obsm[{key!r}] is not numeric") from None
    if xy.ndim != 2 or xy.shape[1] not in (2, 3) or xy.shape[0] != adata.n_obs:
        raise ValidationError(
            f"obsm[{key!r}] must have shape (n_cells, 2) or (n_cells, 3); got {xy.shape}"
        )
    bad = ~np.isfinite(xy).all(1)
    if bad.any():
        raise ValidationError(
            f"obsm[{key!r}] has {int(bad.sum())} cell(s) with NaN or infinite coordinates "
            f"(first: {adata.obs_names[int(np.flatnonzero(bad)[0])]!r}); drop or fix them"
        )
    return xy


def neighbors(
    adata: AnnData,
    *,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    radius: float | None = None,
    key: str = "spatial",
) -> sp.csr_matrix:
    """Build the spatial neighbourhood graph from ``obsm[key]`` (squidpy's layout).

    Without ``radius`` each cell is joined to its ``n_neighbors`` nearest cells and the
    graph is made symmetric (an edge when either cell is among the other's nearest, so
    every cell has at least ``n_neighbors`` neighbours). With ``radius`` every pair of
    cells at most ``radius`` apart is joined (``n_neighbors`` is then not used; a cell
    with none stays isolated). A cell is never its own neighbour.

    Parameters
    ----------
    adata
        Cells of one section; ``obsm[key]`` holds their coordinates. Written in place:
        ``obsp["spatial_connectivities"]``, ``obsp["spatial_distances"]`` and
        ``uns["spatial_neighbors"]``.
    n_neighbors
        Nearest neighbours per cell (1 to ``n_cells - 1``).
    radius
        Join every pair within this distance (coordinate units, micrometres) instead.
    key
        ``obsm`` key of the coordinates.

    Returns
    -------
    scipy.sparse.csr_matrix
        The connectivities (cells x cells, 1.0 per edge), as stored in ``obsp``.
    """
    from sklearn.neighbors import NearestNeighbors

    xy = coordinates(adata, key=key)
    n = xy.shape[0]
    if n < 2:
        raise ValidationError(f"a neighbourhood graph needs at least 2 cells, got {n}")
    if radius is None:
        check_number("n_neighbors", n_neighbors, low=1, high=n - 1, integer=True)
        conn = knn_graph(xy, int(n_neighbors))
    else:
        check_number("radius", radius, low=0, low_open=True)
        nn = NearestNeighbors(algorithm="kd_tree").fit(xy)
        found = nn.radius_neighbors(xy, radius=float(radius), return_distance=False)
        r = np.repeat(np.arange(n), [len(f) for f in found])
        c = np.concatenate(found) if n else np.zeros(0, dtype=int)
        keep = r != c
        conn = sp.csr_matrix((np.ones(keep.sum(), dtype=np.float32), (r[keep], c[keep])),
                             shape=(n, n))  # fmt: skip
        conn = conn.maximum(conn.T).tocsr()
    conn.sort_indices()
    # distances on the same pattern (explicit zeros kept: two cells on one spot stay joined)
    rows = np.repeat(np.arange(n), np.diff(conn.indptr))
    dist = np.linalg.norm(xy[rows] - xy[conn.indices], axis=1).astype(np.float32)
    d = sp.csr_matrix((dist, conn.indices.copy(), conn.indptr.copy()), shape=(n, n))
    adata.obsp["spatial_connectivities"] = conn
    adata.obsp["spatial_distances"] = d
    adata.uns["spatial_neighbors"] = {
        "connectivities_key": "spatial_connectivities",
        "distances_key": "spatial_distances",
        "params": {
            "n_neighbors": int(n_neighbors),
            "radius": None if radius is None else float(radius),
            "coord_type": "generic",
            "key": key,
            "transform": None,
        },
    }
    return conn


def knn_graph(xy: np.ndarray, n_neighbors: int, *, symmetric: bool = True) -> sp.csr_matrix:
    """Binary graph joining each point to its ``n_neighbors`` nearest others (CSR, 1.0 per
    edge, float32); a point is never its own neighbour, wherever ties put it.

    ``symmetric``: the union of both directions (every point then has at least
    ``n_neighbors`` neighbours; what :func:`neighbors` stores); else row ``i`` lists
    exactly ``i``'s nearest (what the communication methods average over)."""
    from sklearn.neighbors import NearestNeighbors

    n = xy.shape[0]
    nn = NearestNeighbors(algorithm="kd_tree").fit(xy)
    idx = nn.kneighbors(xy, n_neighbors=int(n_neighbors) + 1, return_distance=False)
    others = idx != np.arange(n)[:, None]
    first = np.cumsum(others, axis=1) <= int(n_neighbors)
    r, j = np.nonzero(others & first)
    conn = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, idx[r, j])), shape=(n, n))
    return conn.maximum(conn.T).tocsr() if symmetric else conn


def smoothing_operator(conn: sp.spmatrix, *, self_loops: bool = True) -> sp.csr_matrix:
    """Row-normalised neighbourhood averaging: ``W = D^-1 (A + I)`` (with the cell itself
    when ``self_loops``), so that ``W @ X`` is each cell's neighbourhood mean of ``X``.

    Parameters
    ----------
    conn
        Connectivities (cells x cells, e.g. ``obsp["spatial_connectivities"]``).
    self_loops
        Include the cell itself in its neighbourhood.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``W`` (float32; an isolated cell without ``self_loops`` gets a zero row).
    """
    a = sp.csr_matrix(conn, dtype=np.float32, copy=True)
    a.data[:] = 1.0
    if self_loops:
        a = (a + sp.identity(a.shape[0], dtype=np.float32, format="csr")).tocsr()
        a.data[:] = 1.0
    deg = np.asarray(a.sum(1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    return (sp.diags(inv.astype(np.float32)) @ a).tocsr()
