"""Modality mixing of paired multi-omic embeddings.

With paired measurements every cell is observed in every modality, so mixing is measured
on embeddings of each modality *alone* placed in the method's shared space (a joint
model's posterior from one modality; for a linear method the projection of one modality's
block): ``x[i]`` and ``y[i]`` are the same cell seen through two modalities.

* :func:`foscttm` — fraction of samples closer than the true match (Liu et al. 2019,
  UnionCom; Demetci et al. 2022, SCOT): for cell ``i`` the share of the other ``n - 1``
  cells of the second modality that are strictly closer to ``x[i]`` than its own match
  ``y[i]``, and symmetrically from ``y[i]`` to the first modality; averaged over the cells
  and the two directions. 0 = every cell's match is its nearest cell, about 0.5 = the
  modalities' spaces are unrelated. Lower is better.
* :func:`modality_asw` — scIB's batch ASW (:func:`~virtualcell.metrics.batch_asw`) with
  the modality as the batch on the pooled per-modality embeddings, within cell types:
  1 = within each cell type the modalities are indistinguishable. Higher is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import ValidationError
from ._checks import as_float_array, check_finite
from ._integration import batch_asw

__all__ = ["foscttm", "modality_asw"]

_CHUNK = 2048


def _pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    a = as_float_array(x, "x")
    b = as_float_array(y, "y")
    if a.ndim != 2 or b.ndim != 2:
        raise ValidationError(f"x and y must be 2-D (cells x dims), got {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValidationError(
            f"x and y must be the same cells in the same space: shapes {a.shape} and {b.shape}"
        )
    if a.shape[0] < 2:
        raise ValidationError(f"need at least 2 paired cells, got {a.shape[0]}")
    check_finite(a, "x")
    check_finite(b, "y")
    return a, b


def _closer_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row ``i`` of ``a``: share of rows ``j != i`` of ``b`` strictly closer to
    ``a[i]`` than ``b[i]`` is (computed in row chunks, memory ``chunk x n``)."""
    from scipy.spatial.distance import cdist

    n = a.shape[0]
    out = np.empty(n)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        d = cdist(a[start:stop], b, metric="sqeuclidean")
        own = d[np.arange(stop - start), np.arange(start, stop)]
        out[start:stop] = (d < own[:, None]).sum(axis=1)
    return out / (n - 1)


def foscttm(x: Any, y: Any) -> float:
    """Fraction of samples closer than the true match, averaged over both directions.

    Parameters
    ----------
    x, y
        ``(n_cells, n_dims)`` embeddings of the same cells (row ``i`` is one cell) from two
        modalities, each embedded alone into one shared space.

    Returns
    -------
    FOSCTTM in [0, 1], lower is better (Euclidean distances; ties do not count as
    closer): 0 when each cell's own match is nearer than every other cell, about 0.5 for
    unrelated spaces.
    """
    a, b = _pair(x, y)
    return float((_closer_share(a, b).mean() + _closer_share(b, a).mean()) / 2.0)


def modality_asw(x: Any, y: Any, *, labels: Sequence[Any]) -> float:
    """scIB batch ASW with the modality as the batch, on the two embeddings pooled.

    Parameters
    ----------
    x, y
        ``(n_cells, n_dims)`` embeddings of the same cells from two modalities, each
        embedded alone into one shared space.
    labels
        Cell type of each cell (length ``n_cells``; the pooled cells carry it twice).

    Returns
    -------
    :func:`~virtualcell.metrics.batch_asw` of the ``2 n_cells`` pooled rows with batches
    ``x`` / ``y`` within cell types, in [0, 1]; higher is better (modalities mixed).
    """
    a, b = _pair(x, y)
    lab = np.asarray(labels)
    if lab.shape != (a.shape[0],):
        raise ValidationError(
            f"labels must have one entry per cell ({a.shape[0]}), got {lab.shape}"
        )
    batches = np.repeat(np.array(["x", "y"]), a.shape[0])
    return batch_asw(batches, np.vstack([a, b]), labels=np.concatenate([lab, lab]))
