"""The one markdown-table writer (reports, docs, terminal summaries)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_value", "markdown_table"]


def format_value(value: Any, *, digits: int = 3) -> str:
    """Format one cell: floats with ``digits`` significant decimals, ``nan`` as ``—``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        return str(value).replace("|", "\\|").replace("\n", " ")
    if math.isnan(as_float):
        return "—"
    if as_float != 0 and (abs(as_float) >= 1e5 or abs(as_float) < 10 ** (-digits)):
        return f"{as_float:.{digits}g}"
    return f"{as_float:.{digits}f}"


def markdown_table(
    rows: Sequence[Mapping[str, Any]] | Any,
    *,
    columns: Sequence[str] | None = None,
    digits: int = 3,
    align: Mapping[str, str] | None = None,
) -> str:
    """Render rows (a sequence of mappings or a ``pandas.DataFrame``) as a markdown table.

    Parameters
    ----------
    rows
        Records; a DataFrame is read with its index dropped.
    columns
        Column order (default: keys of the first row, in order).
    digits
        Decimals for floats (see :func:`format_value`).
    align
        ``{column: "l"|"r"|"c"}``; numbers are right-aligned by default.
    """
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        rows = rows.to_dict(orient="records")
    rows = list(rows)
    if columns is None:
        columns = list(rows[0].keys()) if rows else []
    columns = list(columns)
    align = dict(align or {})
    head = "| " + " | ".join(str(c) for c in columns) + " |"
    marks = []
    for col in columns:
        how = align.get(col)
        if how is None:
            values = [r.get(col) for r in rows if r.get(col) is not None]
            numeric = bool(values) and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values
            )
            how = "r" if numeric else "l"
        marks.append({"l": "---", "r": "---:", "c": ":---:"}[how])
    sep = "| " + " | ".join(marks) + " |"
    body = [
        "| " + " | ".join(format_value(r.get(c), digits=digits) for c in columns) + " |"
        for r in rows
    ]
    return "\n".join([head, sep, *body]) + "\n"
