"""BEELINE folders and ground-truth edge lists.

A BEELINE input folder holds ``ExpressionData.csv`` (genes x cells), ``PseudoTime.csv``
(cells x one or more ``PseudoTime*`` / ``Time`` columns, NaN where a cell is not on a
lineage) and ``refNetwork.csv`` (``Gene1,Gene2[,Type]``; real data sets also ship
STRING-thresholded variants ``refNetwork-string-{400,700,900}.csv`` with a
``combined_score`` column).

Edge tables (``uns["true_network"]``, :func:`read_network`) are in the one edge-table
format (:mod:`virtualcell.data._edges`): ``regulator`` (str), ``target`` (str), ``sign``
(int8: +1 activation, -1 repression, 0 unknown / unsigned), plus ``score`` (float) when
the source has a score column and ``label`` (int8, 1 edge / 0 non-edge) when candidate
non-edges are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._errors import DataFormatError
from ._edges import EDGE_COLUMNS, canonical_column, parse_signs
from ._errors_io import reading

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["EDGE_COLUMNS", "read_beeline", "read_network"]


def _edge_frame(
    regulator: pd.Series,
    target: pd.Series,
    sign: np.ndarray | None = None,
    score: pd.Series | None = None,
    label: np.ndarray | None = None,
) -> pd.DataFrame:
    n = len(regulator)
    frame = pd.DataFrame(
        {
            "regulator": regulator.astype(str).str.strip().to_numpy(),
            "target": target.astype(str).str.strip().to_numpy(),
            "sign": (np.zeros(n, dtype=np.int8) if sign is None else sign.astype(np.int8)),
        }
    )
    if score is not None:
        frame["score"] = pd.to_numeric(score, errors="coerce").to_numpy(dtype=float)
    if label is not None:
        frame["label"] = label.astype(np.int8)
    return frame


def _parse_sign(values: pd.Series, path: Path) -> np.ndarray:
    return parse_signs(values, what=f"{path}: Type column", error=DataFormatError)


def read_network(path: str | Path, *, include_negatives: bool = False) -> pd.DataFrame:
    """Read a ground-truth edge list into the standard edge table.

    Understood layouts:

    * BEELINE ``refNetwork*.csv`` with a header ``Gene1,Gene2[,Type | combined_score]``
      (``Type`` ``+``/``-`` becomes ``sign`` +1/-1; a score column becomes ``score``);
    * DREAM4 gold standards: tab-separated ``G1  G2  1|0`` without header. Rows with 0
      are candidate non-edges and are dropped unless ``include_negatives``.

    Parameters
    ----------
    path
        The edge file.
    include_negatives
        DREAM4 gold standards: keep all listed pairs, with ``label`` 1 for edges and 0 for
        non-edges.

    Returns
    -------
    pandas.DataFrame
        Columns ``regulator``, ``target``, ``sign`` (+ ``score`` / ``label``), as
        described in the module documentation.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"no such network file: {path}")
    with reading(path, "an edge list"):
        with open(path) as fh:
            first = fh.readline()
        sep = "\t" if "\t" in first else ","
        cells = [c.strip().strip('"').lower() for c in first.rstrip("\r\n").split(sep)]
        has_header = bool(cells) and canonical_column(cells[0]) == "regulator"
        table = pd.read_csv(
            path, sep=sep, header=0 if has_header else None, dtype=str, keep_default_na=False
        )
    if table.shape[1] < 2:
        raise DataFormatError(f"{path}: an edge list needs at least two columns, found 1")
    if table.empty:
        return _edge_frame(pd.Series([], dtype=str), pd.Series([], dtype=str))
    regulator, target = table.iloc[:, 0], table.iloc[:, 1]
    if has_header:
        columns = {c.lower(): c for c in table.columns}
        sign_col = next((c for c in table.columns if canonical_column(c) == "sign"), None)
        sign = _parse_sign(table[sign_col], path) if sign_col is not None else None
        score_col = next(
            (columns[c] for c in ("combined_score", "score", "weight") if c in columns), None
        )
        score = table[score_col] if score_col else None
        return _edge_frame(regulator, target, sign, score)
    # headerless: DREAM4 gold standard (third column 1 / 0) or plain pairs
    if table.shape[1] >= 3:
        labels = pd.to_numeric(table.iloc[:, 2], errors="coerce")
        if labels.isna().any() or not labels.isin([0, 1]).all():
            bad = table.iloc[:, 2][labels.isna() | ~labels.isin([0, 1])].iloc[0]
            raise DataFormatError(f"{path}: third column must be 1 (edge) or 0, found {bad!r}")
        label = labels.to_numpy(dtype=np.int8)
        if include_negatives:
            return _edge_frame(regulator, target, label=label)
        keep = label == 1
        return _edge_frame(regulator[keep], target[keep])
    return _edge_frame(regulator, target)


def _pseudotime(path: Path, cells: pd.Index) -> pd.DataFrame:
    with reading(path, "a BEELINE PseudoTime.csv"):
        table = pd.read_csv(path, header=0, index_col=None)
    # Curated files omit the header label of the cell column (pandas then makes the first
    # column the index by itself); synthetic ones have an empty first header cell.
    if isinstance(table.index, pd.RangeIndex):
        first = str(table.columns[0])
        if first.startswith("Unnamed") or first.strip() == "" or first == "Cell ID":
            table = table.set_index(table.columns[0])
    table.index = table.index.astype(str)
    table.index.name = None
    missing = cells.difference(table.index)
    if len(missing) == len(cells):
        if len(table) == len(cells):  # same order, no usable cell names
            table.index = cells
        else:
            raise DataFormatError(f"{path}: none of its cell names match ExpressionData.csv")
    table = table.reindex(cells)
    text = table.astype(str).apply(lambda c: c.str.strip().str.lower())
    empty = table.isna() | text.isin(["", "nan", "na"])
    values = table.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & ~empty
    if bad.to_numpy().any():
        row, col = (int(i) for i in np.argwhere(bad.to_numpy())[0])
        raise DataFormatError(
            f"{path}: non-numeric pseudotime {table.iat[row, col]!r} for cell "
            f"{table.index[row]!r}, column {table.columns[col]!r}"
        )
    return values


def read_beeline(folder: str | Path, *, network: str = "refNetwork.csv") -> ad.AnnData:
    """Read a BEELINE input folder.

    Parameters
    ----------
    folder
        Folder with ``ExpressionData.csv`` and optionally ``PseudoTime.csv`` and a
        reference network.
    network
        File name of the reference network inside the folder (e.g.
        ``"refNetwork-string-700.csv"`` for the STRING-thresholded variant of real data).

    Returns
    -------
    AnnData
        Cells x genes (``ExpressionData.csv`` is transposed), ``X`` float64 as in the file.
        ``obs`` has the ``PseudoTime*`` / ``Time`` columns (float, NaN off-lineage, one
        column per lineage); ``uns["true_network"]`` the edge table (module docs);
        ``uns["beeline"]`` the folder name, network file and the other reference
        networks present.
    """
    from ._tables import read_table

    folder = Path(folder)
    expression = folder / "ExpressionData.csv"
    if not expression.is_file():
        raise DataFormatError(f"{folder} is not a BEELINE folder: no ExpressionData.csv")
    adata = read_table(expression, orientation="genes_x_cells", dtype="float64")
    pseudotime = folder / "PseudoTime.csv"
    if pseudotime.is_file():
        table = _pseudotime(pseudotime, adata.obs_names)
        for column in table.columns:
            adata.obs[str(column)] = table[column].to_numpy(dtype=float)
    net_path = folder / network
    if net_path.is_file():
        adata.uns["true_network"] = read_network(net_path)
    elif network != "refNetwork.csv":
        raise DataFormatError(f"{folder}: no network file {network!r}")
    variants = sorted(p.name for p in folder.glob("refNetwork*.csv"))
    adata.uns["beeline"] = {
        "dataset": folder.name,
        "network_file": network if net_path.is_file() else "",
        "networks_available": variants,
    }
    adata.uns["vc"] = {"source": {"path": str(folder), "format": "beeline"}}
    return adata
