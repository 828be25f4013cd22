"""Input checks shared by the metric modules (clear errors instead of numpy tracebacks)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from .._errors import ValidationError

#: One label per cell / sample (class names, cluster ids, perturbation names).
Labels = Sequence[Hashable] | np.ndarray | pd.Series
#: Network-metric input: an edge table (``regulator, target[, score]``) or an array that
#: enumerates the candidate edges (1-D) or a genes x genes matrix (2-D).
EdgeInput = pd.DataFrame | ArrayLike
#: Gene subsets of the perturbation metrics: gene names (with ``genes=``) or positions.
GeneSubset = Sequence[str] | Sequence[int] | np.ndarray

__all__ = [
    "as_float_array",
    "as_label_array",
    "check_finite",
    "check_same_shape",
    "encode_labels",
    "paired_labels",
]


def as_float_array(x: Any, name: str) -> np.ndarray:
    """Dense float64 array of ``x`` (sparse matrices, Series and lists accepted)."""
    if sparse.issparse(x):
        x = x.toarray()
    if isinstance(x, pd.DataFrame | pd.Series):
        x = x.to_numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValidationError(f"{name} must be numeric: {err}") from None
    if arr.ndim == 0:
        raise ValidationError(f"{name} must be an array, got a scalar")
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise naming the first offending positions when ``arr`` holds NaN or infinity."""
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[:5].tolist()
        raise ValidationError(
            f"{name} contains {int(bad.sum())} NaN/infinite value(s), first at index {where}"
        )


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise when two arrays have different shapes (length mismatch named)."""
    if a.shape != b.shape:
        raise ValidationError(f"{names[0]} and {names[1]} differ in shape: {a.shape} vs {b.shape}")


def as_label_array(x: Any, name: str) -> np.ndarray:
    """1-D array of labels (any hashable values); missing values are an error."""
    if isinstance(x, pd.Series | pd.Categorical | pd.Index):
        series = pd.Series(np.asarray(x, dtype=object))
    else:
        arr = np.asarray(x, dtype=object)
        if arr.ndim != 1:
            raise ValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
        series = pd.Series(arr)
    missing = series.isna().to_numpy()
    if missing.any():
        where = np.flatnonzero(missing)[:5].tolist()
        raise ValidationError(
            f"{name} contains {int(missing.sum())} missing label(s), first at index {where}"
        )
    return series.to_numpy()


def paired_labels(truth: Any, pred: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two label arrays of equal, non-zero length."""
    t = as_label_array(truth, names[0])
    p = as_label_array(pred, names[1])
    if len(t) != len(p):
        raise ValidationError(f"{names[0]} and {names[1]} differ in length: {len(t)} vs {len(p)}")
    if len(t) == 0:
        raise ValidationError(f"{names[0]} is empty")
    return t, p


def encode_labels(*arrays: np.ndarray) -> tuple[list[Any], list[np.ndarray]]:
    """Integer codes of several label arrays over their joint, sorted label set."""
    joint = pd.Index(pd.unique(np.concatenate([np.asarray(a, dtype=object) for a in arrays])))
    try:
        joint = joint.sort_values()
    except TypeError:  # mixed types: keep first-seen order
        pass
    return list(joint), [joint.get_indexer(a) for a in arrays]
