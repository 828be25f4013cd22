"""BEELINE-style summary heatmap (methods x data sets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["plot_summary_heatmap"]


def plot_summary_heatmap(
    table: pd.DataFrame,
    path: str | Path,
    *,
    title: str = "median AUPRC ratio",
    fmt: str = "{:.2f}",
) -> Path:
    """Save a heatmap of ``table`` (rows = methods, columns = data sets), each cell
    annotated with its value; colours are scaled per column (data set) as in BEELINE, so
    the best method of each data set is the brightest.

    Returns
    -------
    pathlib.Path
        The written file (format from its suffix, e.g. ``.png`` / ``.pdf``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    vals = table.to_numpy(dtype=float)
    lo = np.nanmin(vals, axis=0, keepdims=True)
    hi = np.nanmax(vals, axis=0, keepdims=True)
    scaled = np.where(hi > lo, (vals - lo) / np.where(hi > lo, hi - lo, 1.0), 0.5)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * vals.shape[1], 0.9 + 0.42 * vals.shape[0]))
    ax.imshow(scaled, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(vals.shape[1]), [str(c) for c in table.columns], rotation=35, ha="right")
    ax.set_yticks(range(vals.shape[0]), [str(i) for i in table.index])
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            if np.isfinite(vals[i, j]):
                color = "black" if scaled[i, j] > 0.6 else "white"
                ax.text(
                    j, i, fmt.format(vals[i, j]), ha="center", va="center", fontsize=8, color=color
                )
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
