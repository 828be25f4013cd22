"""Run a per-target function over chunks of targets through the package's one engine
(:mod:`virtualcell._utils._engine`): in this process, on local worker processes
(``n_jobs``), or on a Dask cluster (``dask=`` address / ``"local"`` / a client, or a
cluster made the default with ``virtualcell._utils.use_dask``)::

    from virtualcell._utils import use_dask

    with use_dask("tcp://scheduler:8786"):          # or "local"
        edges = vc.grn.infer(adata, method="grnboost2")

The expression matrix and other shared inputs travel to each worker once (memory-mapped
locally, scattered on Dask); each task is a chunk of target indices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._utils import map_tasks, n_workers

__all__ = ["map_targets"]


def map_targets(
    fn: Callable[..., np.ndarray],
    targets: np.ndarray,
    *,
    n_jobs: int = 1,
    chunk_size: int | None = None,
    description: str = "targets",
    dask: str | Any | None = None,
    per_chunk: Callable[[np.ndarray], Any] | None = None,
    **shared: Any,
) -> np.ndarray:
    """``fn(chunk, **shared) -> (len(chunk), k)`` over chunks of ``targets``; rows stacked
    in the order of ``targets``. Results do not depend on ``n_jobs``, ``dask`` or chunking
    as long as ``fn`` seeds per target.

    The default chunk size gives each worker about 8 chunks (load balance and steady
    progress; per-chunk set-up is small because workers cache what all chunks share).
    ``per_chunk`` turns each chunk into the task ``fn`` gets instead (a chunk's own inputs
    travel with it, not to every worker)."""
    targets = np.asarray(targets)
    if chunk_size is None:
        n_chunks = 8 * n_workers(n_jobs=n_jobs, dask=dask)
        chunk_size = max(1, int(np.ceil(len(targets) / n_chunks)))
    chunks = [targets[i : i + chunk_size] for i in range(0, len(targets), chunk_size)]
    items = chunks if per_chunk is None else [per_chunk(c) for c in chunks]
    parts = map_tasks(fn, items, shared=shared, n_jobs=n_jobs, dask=dask, description=description)
    return np.vstack(parts) if parts else np.zeros((0, 0))
