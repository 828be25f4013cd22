"""Small array helpers shared by several layers."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["unit_rows"]


def unit_rows(x: Any) -> np.ndarray:
    """Rows of ``x`` scaled to unit Euclidean norm; a zero row stays zero (a floating
    ``x`` keeps its dtype, anything else becomes float64)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
