"""The one edge-table format: columns, their accepted aliases, and sign words.

Every gene-network table in virtualcell (ground truth read from BEELINE / DREAM4 files,
simulated networks, inferred edges, metric inputs) uses the columns

``regulator`` (str), ``target`` (str), ``sign`` (int: +1 activation, -1 repression,
0 unknown / unsigned), plus ``score`` (float, higher = more confident) for predictions
and ``label`` (1 edge / 0 listed non-edge) where candidate non-edges are kept.

Readers, metrics, the simulator and the GRN task all normalise tables with
:func:`normalize_edge_table` and signs with :func:`parse_signs`, so they accept the same
column names (case-insensitive):

=============  =================================================
column         also accepted
=============  =================================================
``regulator``  ``Gene1``, ``source``, ``TF``, ``from``
``target``     ``Gene2``, ``to``
``sign``       ``Type``
``score``      ``EdgeWeight``, ``combined_score``, ``importance``
=============  =================================================

(``weight`` is *not* a score: in :mod:`virtualcell.sim` it is the kinetic weight of an
edge. A BEELINE ``refNetwork*.csv`` header's ``weight`` column is read as its score by
:func:`~virtualcell.data.read_network`.)

Sign words (case-insensitive): ``+``, ``+1``, ``activation``, ``activator``, ``act``,
``a`` -> +1; ``-``, ``-1``, ``repression``, ``repressor``, ``inhibition``, ``inhibitor``,
``rep``, ``r`` -> -1; ``""``, ``0``, ``?``, ``nan``, ``none``, ``unknown``, ``unsigned``
-> 0; any other number -> its sign. Anything else is an error naming the values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError, VirtualCellError
from .._utils import doc_params

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "COLUMN_ALIASES",
    "EDGE_COLUMNS",
    "SIGN_WORDS",
    "UNSIGNED_WORDS",
    "canonical_column",
    "normalize_edge_table",
    "parse_signs",
    "true_network",
]

#: Columns every edge table has.
EDGE_COLUMNS = ("regulator", "target", "sign")

#: Accepted column names (lower case) -> canonical name.
COLUMN_ALIASES: dict[str, str] = {
    "regulator": "regulator",
    "gene1": "regulator",
    "source": "regulator",
    "tf": "regulator",
    "from": "regulator",
    "target": "target",
    "gene2": "target",
    "to": "target",
    "sign": "sign",
    "type": "sign",
    "score": "score",
    "edgeweight": "score",
    "combined_score": "score",
    "importance": "score",
    "label": "label",
}

#: Sign words (lower case) -> +1 / -1.
SIGN_WORDS: dict[str, int] = {
    "+": 1, "+1": 1, "activation": 1, "activator": 1, "act": 1, "a": 1,
    "-": -1, "-1": -1, "repression": -1, "repressor": -1, "inhibition": -1,
    "inhibitor": -1, "rep": -1, "r": -1,
}  # fmt: skip
#: Words meaning "sign not known" (-> 0).
UNSIGNED_WORDS = frozenset({"", "0", "?", "nan", "none", "unknown", "unsigned", "<na>"})


def canonical_column(name: object) -> str | None:
    """Canonical edge-table column for ``name`` (case-insensitive), or ``None``."""
    return COLUMN_ALIASES.get(str(name).strip().lower())


def parse_signs(
    values: Any,
    *,
    what: str = "sign",
    error: type[VirtualCellError] = ValidationError,
) -> np.ndarray:
    """Signs (int8: +1, -1, 0 unknown) of sign words or numbers (module documentation).

    Raises ``error`` naming up to five unrecognised values and ``what`` holds them.

    Parameters
    ----------
    values
        Sign words (``activation``, ``+`` ...) or numbers, any shape.
    what
        What holds the values, for the message.
    error
        Exception class raised for unknown values.
    """
    series = pd.Series(np.asarray(values, dtype=object).ravel())
    numeric = pd.to_numeric(series, errors="coerce")
    text = series.astype(str).str.strip().str.lower()
    words = text.map(SIGN_WORDS)
    words = words.where(~text.isin(UNSIGNED_WORDS), 0)
    out = np.sign(numeric).where(numeric.notna(), words)
    bad = out.isna()
    if bad.any():
        shown = series[bad].astype(str).unique()[:5].tolist()
        raise error(
            f"{what}: unknown sign value(s) {shown} (use +/-, +1/-1, activation/repression)"
        )
    return out.to_numpy(dtype=np.int8)


def normalize_edge_table(
    table: pd.DataFrame,
    *,
    what: str = "edge table",
    need_score: bool = False,
) -> pd.DataFrame:
    """A copy of ``table`` in the edge-table format.

    Alias columns are renamed (module documentation), ``regulator`` / ``target`` become
    stripped strings, a ``sign`` column of words becomes -1/0/+1 and ``score`` becomes
    float. Rows are kept as they are (``label == 0`` rows included).

    Parameters
    ----------
    table
        Edges with a source, a target and optional score / sign columns (aliases
        accepted).
    what
        What the table is, for messages.
    need_score
        Refuse a table without a score column.

    Raises
    ------
    ValidationError
        Not a DataFrame, two columns mapping to one name, a missing ``regulator`` /
        ``target`` (or ``score`` when ``need_score``), a non-numeric score or an unknown
        sign word; the message names the table (``what``) and the columns it has.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValidationError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    rename: dict[Any, str] = {}
    for column in table.columns:
        canon = canonical_column(column)
        if canon is not None and column != canon:
            rename[column] = canon
    targets = [rename.get(c, c) for c in table.columns]
    clash = sorted({c for c in targets if targets.count(c) > 1 and c in (*EDGE_COLUMNS, "score")})
    if clash:
        raise ValidationError(f"{what} has several columns meaning {clash}: {list(table.columns)}")
    out = table.rename(columns=rename)
    needed = ["regulator", "target"] + (["score"] if need_score else [])
    lacking = [c for c in needed if c not in out.columns]
    if lacking:
        raise ValidationError(
            f"{what} lacks column(s) {lacking}; has {list(table.columns)} "
            "(expected regulator, target[, score]; Gene1/Gene2, source/target, TF/target "
            "are accepted)"
        )
    out = out.copy()
    for column in ("regulator", "target"):
        out[column] = out[column].astype(str).str.strip()
    if "sign" in out.columns and not pd.api.types.is_numeric_dtype(out["sign"]):
        out["sign"] = parse_signs(out["sign"], what=f"{what}['sign']")
    if "score" in out.columns:
        score = pd.to_numeric(out["score"], errors="coerce")
        bad = score.isna() & out["score"].notna()
        if bad.any():
            raise ValidationError(
                f"{what}['score'] has non-numeric values, e.g. {out['score'][bad].iloc[0]!r}"
            )
        out["score"] = score.astype(float)
    return out


@doc_params
def true_network(adata: AnnData) -> pd.DataFrame:
    """The ground-truth edge table a reader stored in ``adata.uns["true_network"]``.

    Raises
    ------
    ValidationError
        There is none; the message names the source and the file that would hold it
        (BEELINE ``refNetwork.csv`` and the variants present, the DREAM4 gold standard,
        a simulation's network), so "scored nothing" never passes silently.
    """
    net = adata.uns.get("true_network") if hasattr(adata, "uns") else None
    if isinstance(net, pd.DataFrame):
        return normalize_edge_table(net, what="uns['true_network']")
    source = adata.uns.get("vc", {}).get("source", {}) if hasattr(adata, "uns") else {}
    where = source.get("path") or source.get("name") or "the data"
    fmt = source.get("format")
    if fmt == "beeline":
        others = adata.uns.get("beeline", {}).get("networks_available", [])
        more = f"; networks in the folder: {', '.join(others)} (pass network=)" if others else ""
        hint = f"it has no refNetwork.csv{more}"
    elif fmt == "dream4":
        hint = (
            "no gold standard (*_goldstandard.tsv) was found beside it, in gold/ folders "
            "above it or under VIRTUALCELL_DATA/grn/dream4/gold"
        )
    else:
        hint = "uns['true_network'] is missing (read a BEELINE / DREAM4 folder or a simulation)"
    raise ValidationError(f"{where}: no ground-truth network to score against: {hint}")
