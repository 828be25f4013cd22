"""Run a per-target function over chunks of targets, in worker processes via joblib.

The joblib backend is not fixed here, so a user can send the work to a cluster::

    import joblib
    from dask.distributed import Client   # or: from ray.util.joblib import register_ray

    client = Client("scheduler-address:8786")
    with joblib.parallel_config(backend="dask"):
        edges = vc.grn.infer(adata, method="grnboost2", n_jobs=-1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._utils import progress

__all__ = ["map_targets"]


def map_targets(
    fn: Callable[..., np.ndarray],
    targets: np.ndarray,
    *,
    n_jobs: int = 1,
    chunk_size: int | None = None,
    description: str = "targets",
    **shared: Any,
) -> np.ndarray:
    """``fn(chunk, **shared) -> (len(chunk), k)`` over chunks of ``targets``; rows stacked
    in the order of ``targets``. Results do not depend on ``n_jobs`` or chunking as long
    as ``fn`` seeds per target."""
    targets = np.asarray(targets)
    if chunk_size is None:
        workers = max(1, n_jobs if n_jobs > 0 else 4)
        chunk_size = max(1, int(np.ceil(len(targets) / (4 * workers))))
    chunks = [targets[i : i + chunk_size] for i in range(0, len(targets), chunk_size)]
    if n_jobs == 1 or len(chunks) == 1:
        it = progress(chunks, total=len(chunks), description=description)
        parts = [fn(c, **shared) for c in it]
    else:
        from joblib import Parallel, delayed

        runner = Parallel(n_jobs=n_jobs, prefer="processes", return_as="generator")
        jobs = runner(delayed(fn)(c, **shared) for c in chunks)
        parts = list(progress(jobs, total=len(chunks), description=description))
    return np.vstack(parts) if parts else np.zeros((0, 0))
