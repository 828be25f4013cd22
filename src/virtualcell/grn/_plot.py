"""Markdown summary tables of GRN results (the heatmap is :func:`virtualcell.pl.grn_heatmap`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["markdown_table"]


def markdown_table(table: pd.DataFrame, *, floatfmt: str = "{:.2f}", index: bool = True) -> str:
    """A GitHub-markdown table of ``table`` (no optional dependency)."""
    df = table.reset_index() if index else table
    cols = [str(c) for c in df.columns]

    def cell(v) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else floatfmt.format(v)
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)
