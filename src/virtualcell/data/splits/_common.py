"""Helpers shared by the split functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..._errors import ValidationError
from ._split import Split

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["allocate", "check_fractions", "conditions_of", "finish", "obs_labels", "rng_for"]


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate ``(train, val, test)`` fractions: three non-negative numbers summing to 1."""
    values = tuple(float(f) for f in fractions)
    if len(values) != 3:
        raise ValidationError(f"fractions must be (train, val, test), got {fractions!r}")
    if min(values) < 0 or abs(sum(values) - 1.0) > 1e-9:
        raise ValidationError(f"fractions must be >= 0 and sum to 1, got {fractions!r}")
    return values  # type: ignore[return-value]


def allocate(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Split ``n`` items: ``val = round(f_val n)``, ``test = round(f_test n)``, train the
    rest (Python rounding, half to even); test is never rounded above ``n - val``."""
    n_val = min(n, round(fractions[1] * n))
    n_test = min(n - n_val, round(fractions[2] * n))
    return n - n_val - n_test, n_val, n_test


def obs_labels(adata: AnnData, key: str) -> pd.Series:
    """``adata.obs[key]`` as strings, indexed by cell name; missing values are an error."""
    if key not in adata.obs:
        raise ValidationError(f"adata.obs has no column {key!r} (have {list(adata.obs.columns)})")
    column = adata.obs[key]
    if column.isna().any():
        bad = adata.obs_names[column.isna().to_numpy()][:5].tolist()
        raise ValidationError(f"adata.obs[{key!r}] has missing values, e.g. cells {bad}")
    return pd.Series(column.astype(str).to_numpy(), index=adata.obs_names.astype(str), dtype=object)


def conditions_of(assignment: pd.Series, labels: pd.Series) -> dict[str, list[str]]:
    """Sorted distinct labels per part."""
    return {
        name: sorted(set(labels[(assignment == name).to_numpy()]))
        for name in ("train", "val", "test")
    }


def finish(adata: AnnData, split: Split, key_added: str | None) -> Split:
    """Optionally write the split to ``adata.obs[key_added]`` and return it."""
    if key_added is not None:
        split.apply(adata, key_added=key_added)
    return split


def rng_for(seed: int) -> np.random.Generator:
    """The generator every split uses (numpy PCG64 seeded with ``seed``)."""
    return np.random.default_rng(seed)
