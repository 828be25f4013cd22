"""Provenance of preprocessing: ``uns["vc"]["preprocessing"]`` and input checks.

Each step is stored under a zero-padded key (``"000"``, ``"001"`` ...) so that the record
survives ``write_h5ad`` (h5ad cannot store a list of dicts); :func:`history` returns the
steps in order as a list.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
from scipy import sparse

from .._errors import ValidationError
from .._utils import doc_params
from ..data import UNS_KEY, is_integer_valued

__all__ = ["history"]

_KEY = "preprocessing"


def _clean(value: Any) -> Any:
    """Make a parameter value writable to h5ad (no None, tuples -> lists)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (tuple, list)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@doc_params
def history(adata: ad.AnnData) -> list[dict]:
    """Preprocessing steps recorded on ``adata``, oldest first.

    Each step is a dict with ``step``, ``params``, ``n_obs_before``, ``n_vars_before``,
    ``n_obs_after`` and ``n_vars_after``.
    """
    record = adata.uns.get(UNS_KEY, {}).get(_KEY, {})
    if isinstance(record, list):
        return list(record)
    return [record[k] for k in sorted(record)]


def record_step(adata: ad.AnnData, step: str, params: dict, before: tuple[int, int]) -> dict:
    """Append one step to ``uns["vc"]["preprocessing"]`` and return it."""
    entry = {
        "step": step,
        "params": _clean(params),
        "n_obs_before": int(before[0]),
        "n_vars_before": int(before[1]),
        "n_obs_after": int(adata.n_obs),
        "n_vars_after": int(adata.n_vars),
    }
    uns = adata.uns.setdefault(UNS_KEY, {})
    steps = uns.get(_KEY, {})
    if isinstance(steps, list):
        steps = {f"{i:03d}": s for i, s in enumerate(steps)}
    steps[f"{len(steps):03d}"] = entry
    uns[_KEY] = steps
    return entry


def has_step(adata: ad.AnnData, step: str) -> bool:
    """Whether ``step`` was recorded (by virtualcell) on ``adata``."""
    return any(s.get("step") == step for s in history(adata))


def _values(x) -> np.ndarray:
    return x.data if sparse.issparse(x) else np.asarray(x)


def check_finite_nonnegative(adata: ad.AnnData, *, what: str) -> None:
    """Refuse NaN/inf or negative values in ``X`` (names the step that refused)."""
    values = _values(adata.X)
    if values.size == 0:
        return
    if not np.all(np.isfinite(values)):
        raise ValidationError(f"{what}: X contains NaN or infinite values")
    minimum = float(values.min())
    if minimum < 0:
        raise ValidationError(
            f"{what}: X has negative values (min {minimum:.3g}); this step needs "
            "non-negative counts or normalised counts, not scaled / centred data"
        )


def looks_logged(adata: ad.AnnData) -> bool:
    """Logged already: a recorded ``log1p`` step, scanpy's ``uns['log1p']``, or
    non-integer values whose maximum is at most ``log1p(1e6) ~ 13.8``."""
    if has_step(adata, "log1p") or "log1p" in adata.uns:
        return True
    values = _values(adata.X)
    if values.size == 0 or is_integer_valued(adata.X):
        return False
    return float(values.max()) <= float(np.log1p(1e6))


def start_counts_step(
    adata: ad.AnnData, what: str, *, if_logged: str
) -> tuple[tuple[int, int], bool]:
    """Common start of a step that needs un-logged counts (``normalize``, ``log1p``).

    Refuses NaN/inf, negative or already log-transformed ``X`` (``if_logged`` ends that
    message), keeps integer ``X`` in ``layers["counts"]`` and makes ``X`` floating point.
    Returns the shape before the step and whether counts are kept.
    """
    check_finite_nonnegative(adata, what=what)
    if looks_logged(adata):
        raise ValidationError(
            f"{what}: X is already log-transformed (recorded log1p step, uns['log1p'], or "
            f"non-integer values <= 13.8); {if_logged}"
        )
    before = adata.shape
    counts_kept = keep_counts(adata)
    if not np.issubdtype(adata.X.dtype, np.floating):
        adata.X = adata.X.astype(np.float32)
    return before, counts_kept


def keep_counts(adata: ad.AnnData) -> bool:
    """Copy integer-valued ``X`` to ``layers["counts"]`` once; True if counts are kept."""
    if "counts" in adata.layers:
        return True
    if is_integer_valued(adata.X):
        adata.layers["counts"] = adata.X.copy()
        return True
    return False
