"""Figures of gene regulatory network results (``vc.pl.grn_heatmap``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._base import finish, new_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["grn_heatmap"]


def grn_heatmap(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    title: str = "median AUPRC ratio",
    fmt: str = "{:.2f}",
) -> Figure:
    """BEELINE-style summary heatmap: methods (rows) x data sets (columns).

    Each cell is annotated with its value; colours are min-max scaled per column (data
    set) as in BEELINE, so the best method of each data set is the brightest. Missing
    values stay blank.

    Parameters
    ----------
    table
        Numbers, rows = methods, columns = data sets (e.g. a pivot of
        :func:`virtualcell.grn.evaluate` results).
    ax
        Axes to draw into (default: a new figure sized to the table).
    path
        Save the figure there (``.png``, ``.pdf`` or ``.svg``), atomically.
    overwrite
        Replace an existing file at ``path`` (refused otherwise: the output rule).
    title, fmt
        Title and the format of the annotations.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValidationError("grn_heatmap needs a non-empty DataFrame (methods x data sets)")
    try:
        vals = table.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValidationError("grn_heatmap: the table must hold numbers only") from None
    finite = np.isfinite(vals)
    lo = np.nanmin(np.where(finite, vals, np.inf), axis=0, keepdims=True)
    hi = np.nanmax(np.where(finite, vals, -np.inf), axis=0, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = np.where(hi > lo, (vals - lo) / span, 0.5)
    scaled = np.where(finite, scaled, np.nan)
    fig, ax = new_axes(ax, figsize=(1.2 + 1.1 * vals.shape[1], 0.9 + 0.42 * vals.shape[0]))
    ax.imshow(scaled, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(vals.shape[1]), [str(c) for c in table.columns], rotation=35, ha="right")
    ax.set_yticks(range(vals.shape[0]), [str(i) for i in table.index])
    for i, j in zip(*np.nonzero(finite), strict=True):
        color = "black" if scaled[i, j] > 0.6 else "white"
        ax.text(j, i, fmt.format(vals[i, j]), ha="center", va="center", fontsize=8, color=color)
    ax.set_title(title)
    return finish(fig, path, dpi=130, overwrite=overwrite)
