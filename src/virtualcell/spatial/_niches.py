"""Niche embeddings: a vector per cell that describes the cell *in its tissue context*.

Every method reads the same :class:`NicheInputs` — the expression matrix, its gene
names and the spatial neighbourhood graph, nothing else (no ``obs`` column: truth fields
such as ``obs["niche"]`` never reach a method) — and returns a ``cells x dims`` array.
The table is in ``_registry.py``:

* ``expression`` (baseline) — the cell's own expression: PCA on log-normalised
  expression (:class:`virtualcell.represent.PCASource`, ``n_comps`` components), no
  neighbours;
* ``neighbor_pca`` (baseline) — that PCA averaged over the cell and its graph neighbours;
* ``composition`` — cellular neighbourhoods: soft cell-state memberships (k-means on the
  PCA with ``n_states`` = 20 centres, a Gaussian kernel on the distances to them)
  averaged over ``hops`` = 8 rounds of neighbourhood averaging: what mix of cell states
  surrounds a cell;
* ``multihop`` — CellCharter-style: the PCA and its neighbourhood averages after 1, 2, 4
  and 8 rounds side by side (:func:`multiscale`);
* ``niche_transformer`` — the oracle option in the spirit of Nicheformer, see
  :mod:`._oracle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import check_number
from ._graph import smoothing_operator

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "NicheInputs",
    "composition_embedding",
    "expression_embedding",
    "multihop_embedding",
    "multiscale",
    "neighbor_pca_embedding",
]

#: Principal components of the expression PCA every method starts from.
DEFAULT_COMPS = 30
#: Averaging rounds of :func:`multihop_embedding` (chosen on seeds 100-101, docs/spatial.md).
DEFAULT_SCALES = (1, 2, 4, 8)


@dataclass
class NicheInputs:
    """What every niche-embedding method gets: expression, gene names and the graph.

    Built with :meth:`from_adata`; the expression PCA and the averaging operator are
    computed once and shared by the methods of an evaluation.

    Attributes
    ----------
    X
        Expression (cells x genes, CSR float32; counts or log-normalised).
    genes
        Gene names.
    conn
        Spatial connectivities (cells x cells, ``obsp["spatial_connectivities"]``).
    n_comps
        Components of the expression PCA.
    """

    X: sp.csr_matrix
    genes: np.ndarray
    conn: sp.csr_matrix
    n_comps: int = DEFAULT_COMPS
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_adata(
        cls, adata: AnnData, *, layer: str | None = None, n_comps: int = DEFAULT_COMPS
    ) -> NicheInputs:
        """Inputs from ``adata`` (its graph must exist: :func:`~virtualcell.spatial.neighbors`)."""
        from ..represent import expression

        if "spatial_connectivities" not in adata.obsp:
            raise ValidationError(
                "no obsp['spatial_connectivities']: run vc.spatial.neighbors(adata) first"
            )
        check_number("n_comps", n_comps, low=2, integer=True)
        X, genes = expression(adata, layer=layer)
        return cls(X, genes, sp.csr_matrix(adata.obsp["spatial_connectivities"]), int(n_comps))

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.X.shape[0])

    def pca(self) -> np.ndarray:
        """Expression PCA (cells x ``n_comps``), computed once."""
        if "pca" not in self._cache:
            import anndata as ad

            from ..represent import get_embedding

            work = ad.AnnData(self.X)
            work.var_names = [str(g) for g in self.genes]
            k = max(2, min(self.n_comps, self.X.shape[1] - 1, self.n_cells - 1))
            z = get_embedding("pca")(n_comps=k, seed=0).fit_transform(work)
            self._cache["pca"] = np.asarray(z, dtype=np.float32)
        return self._cache["pca"]

    def smooth(self, x: np.ndarray, hops: int = 1) -> np.ndarray:
        """``hops`` rounds of neighbourhood averaging (the cell included) of ``x``."""
        if "W" not in self._cache:
            self._cache["W"] = smoothing_operator(self.conn)
        W = self._cache["W"]
        out = np.asarray(x, dtype=np.float32)
        for _ in range(int(hops)):
            out = np.asarray(W @ out, dtype=np.float32)
        return out


def _standardize(z: np.ndarray) -> np.ndarray:
    """Each block scaled to unit total variance (so that blocks weigh alike)."""
    z = z - z.mean(0)
    total = float(np.sqrt((z**2).sum(1).mean()))
    return (z / total if total > 0 else z).astype(np.float32)


def expression_embedding(inputs: NicheInputs, *, seed: int = 0) -> np.ndarray:
    """The cell's own expression PCA (baseline: no neighbours).

    Parameters
    ----------
    inputs
        Expression and graph (:class:`NicheInputs`).
    seed
        Unused (the PCA is deterministic); kept for the common signature.

    Returns
    -------
    numpy.ndarray
        Cells x ``n_comps``.
    """
    return inputs.pca()


def neighbor_pca_embedding(inputs: NicheInputs, *, seed: int = 0, hops: int = 1) -> np.ndarray:
    """Expression PCA averaged over the cell and its spatial neighbours (baseline).

    Parameters
    ----------
    inputs
        Expression and graph (:class:`NicheInputs`).
    seed
        Unused (deterministic); kept for the common signature.
    hops
        Rounds of neighbourhood averaging.

    Returns
    -------
    numpy.ndarray
        Cells x ``n_comps``.
    """
    check_number("hops", hops, low=1, integer=True)
    return inputs.smooth(inputs.pca(), hops)


def soft_states(
    z: np.ndarray, *, n_states: int, seed: int = 0, max_fit_cells: int = 50_000
) -> np.ndarray:
    """Soft cell-state memberships: k-means centres on ``z`` and a Gaussian kernel on the
    squared distances to them, ``p_ik ∝ exp(-d_ik^2 / (2 s^2))`` with ``s^2`` the mean
    squared distance of a cell to its nearest centre (rows sum to 1).

    Parameters
    ----------
    z
        Cell embedding (cells x dims).
    n_states
        Number of cell states (k-means centres).
    seed
        k-means random state.
    max_fit_cells
        Centres are fitted on at most this many cells (a seeded random subset).

    Returns
    -------
    numpy.ndarray
        Cells x ``n_states`` memberships.
    """
    from sklearn.cluster import KMeans

    n = z.shape[0]
    k = int(min(n_states, n))
    rng = np.random.default_rng(seed)
    fit = z if n <= max_fit_cells else z[rng.choice(n, max_fit_cells, replace=False)]
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(fit)
    d2 = km.transform(z).astype(np.float64) ** 2
    s2 = max(float(d2.min(1).mean()), 1e-12)
    logits = -(d2 - d2.min(1, keepdims=True)) / (2 * s2)
    p = np.exp(logits)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def composition_embedding(
    inputs: NicheInputs, *, seed: int = 0, n_states: int = 20, hops: int = 8
) -> np.ndarray:
    """Cellular neighbourhoods: soft cell-state memberships averaged over the neighbourhood.

    Parameters
    ----------
    inputs
        Expression and graph (:class:`NicheInputs`).
    seed
        Random state of the cell-state k-means.
    n_states
        Number of soft cell states.
    hops
        Rounds of neighbourhood averaging of the memberships.

    Returns
    -------
    numpy.ndarray
        Cells x ``n_states``: the neighbourhood's mix of cell states.
    """
    check_number("n_states", n_states, low=2, integer=True)
    check_number("hops", hops, low=1, integer=True)
    p = soft_states(inputs.pca(), n_states=n_states, seed=seed)
    return inputs.smooth(p, hops)


def multiscale(inputs: NicheInputs, z: np.ndarray, scales: Sequence[int]) -> np.ndarray:
    """``z`` and its ``s``-round neighbourhood averages for every ``s`` of ``scales``,
    side by side, each block scaled to unit total variance (so that every scale weighs
    alike).

    Parameters
    ----------
    inputs
        The graph (:class:`NicheInputs`).
    z
        A per-cell embedding (cells x dims).
    scales
        Rounds of averaging, increasing (e.g. ``(1, 2, 4, 8)``).

    Returns
    -------
    numpy.ndarray
        Cells x ``(len(scales) + 1) * dims``.
    """
    steps = [int(s) for s in scales]
    if not steps or any(s < 1 for s in steps) or steps != sorted(set(steps)):
        raise ValidationError(f"scales must be increasing integers >= 1, got {list(scales)}")
    blocks, x, done = [_standardize(z)], np.asarray(z, dtype=np.float32), 0
    for s in steps:
        x, done = inputs.smooth(x, s - done), s
        blocks.append(_standardize(x))
    return np.hstack(blocks)


def multihop_embedding(
    inputs: NicheInputs, *, seed: int = 0, scales: Sequence[int] = DEFAULT_SCALES
) -> np.ndarray:
    """CellCharter-style: the expression PCA and its neighbourhood averages at several
    scales (1, 2, 4 and 8 rounds of averaging), concatenated (:func:`multiscale`).

    Parameters
    ----------
    inputs
        Expression and graph (:class:`NicheInputs`).
    seed
        Unused (deterministic); kept for the common signature.
    scales
        Rounds of averaging of each block after the cell's own PCA.

    Returns
    -------
    numpy.ndarray
        Cells x ``(len(scales) + 1) * n_comps``.
    """
    return multiscale(inputs, inputs.pca(), scales)
