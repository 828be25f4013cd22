"""Delimited text tables (csv / tsv, optionally gzipped) -> AnnData, with orientation.

Orientation rules (``orientation="auto"``), tried in this order; the first that decides
wins and is recorded in ``uns["vc"]["source"]["orientation_rule"]``:

1. ``ensembl``: the axis where at least half the labels look like Ensembl gene IDs
   (``ENSG00000141510``, ``ENSMUSG...``) is the gene axis.
2. ``barcode``: the axis where at least half the labels look like cell barcodes
   (a run of >= 8 ``ACGTN`` letters, optionally with a suffix such as ``-1``) is the
   cell axis.
3. ``numeric``: the axis whose labels are (>= 90 %) plain numbers is the cell axis (genes
   are never named by numbers; cells often are indexed).
4. ``stem``: cell identifiers usually share one stem once digits and separators are
   removed (``cell_1``, ``cell_2`` -> ``cell``; ``E12_3_045`` -> ``E``) while gene names do
   not; the axis where >= 80 % of labels share the most common stem, when the other axis
   has < 50 %, is the cell axis.
5. ``default``: undecided. :func:`read_table` then refuses to guess: it raises
   :class:`~virtualcell.DataFormatError` asking for ``orientation=`` (CLI:
   ``--orientation cells_x_genes|genes_x_cells``), because a transposed read would be
   silently wrong (a genes x cells table whose cells are named ``TcellA``, ``BcellB``
   has no pattern the rules can see).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._errors import DataFormatError
from ._errors_io import numeric_values, reading

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["Orientation", "detect_orientation", "read_table"]

Orientation = Literal["auto", "cells_x_genes", "genes_x_cells"]

_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
_BARCODE = re.compile(r"^([A-Za-z0-9]+[_:#-])?[ACGTN]{8,}([-_.][A-Za-z0-9]+)*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_STEM_STRIP = re.compile(r"[\d_.\-:#|/ ]+")


def _fraction(labels: list[str], pattern: re.Pattern[str]) -> float:
    if not labels:
        return 0.0
    return sum(bool(pattern.match(label)) for label in labels) / len(labels)


def _stem_fraction(labels: list[str]) -> float:
    if len(labels) < 3:
        return 0.0
    stems = Counter(_STEM_STRIP.sub("", label) for label in labels)
    return stems.most_common(1)[0][1] / len(labels)


def _sample(labels: pd.Index, n: int = 2000) -> list[str]:
    values = [str(v) for v in labels[:n]]
    return values


def detect_orientation(
    row_labels: pd.Index | list[str], col_labels: pd.Index | list[str]
) -> tuple[Literal["cells_x_genes", "genes_x_cells"], str]:
    """Guess whether a table is cells x genes or genes x cells from its labels.

    Parameters
    ----------
    row_labels, col_labels
        Row and column labels of the table.

    Returns
    -------
    (orientation, rule)
        ``rule`` names the rule that decided (see the module documentation).
    """
    rows, cols = _sample(pd.Index(row_labels)), _sample(pd.Index(col_labels))

    def decide(score_rows: float, score_cols: float, threshold: float, rows_are: str) -> str | None:
        if score_rows >= threshold and score_cols < threshold:
            return rows_are
        if score_cols >= threshold and score_rows < threshold:
            return "cells" if rows_are == "genes" else "genes"
        return None

    checks = (
        ("ensembl", _fraction(rows, _ENSEMBL), _fraction(cols, _ENSEMBL), 0.5, "genes"),
        ("barcode", _fraction(rows, _BARCODE), _fraction(cols, _BARCODE), 0.5, "cells"),
        ("numeric", _fraction(rows, _NUMBER), _fraction(cols, _NUMBER), 0.9, "cells"),
    )
    for rule, score_rows, score_cols, threshold, rows_are in checks:
        rows_kind = decide(score_rows, score_cols, threshold, rows_are)
        if rows_kind is not None:
            return ("cells_x_genes" if rows_kind == "cells" else "genes_x_cells"), rule
    stem_rows, stem_cols = _stem_fraction(rows), _stem_fraction(cols)
    if stem_rows >= 0.8 and stem_cols < 0.5:
        return "cells_x_genes", "stem"
    if stem_cols >= 0.8 and stem_rows < 0.5:
        return "genes_x_cells", "stem"
    return "cells_x_genes", "default"


def _first_labels(labels: pd.Index, n: int = 3) -> str:
    shown = ", ".join(str(v) for v in labels[:n])
    return shown + (", ..." if len(labels) > n else "")


def _guess_sep(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return ","
    if name.endswith((".tsv", ".tab")):
        return "\t"
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt") as fh:
        line = fh.readline()
    counts = {"\t": line.count("\t"), ",": line.count(",")}
    sep, n = max(counts.items(), key=lambda kv: kv[1])
    return sep if n else r"\s+"


def _read_header(path: Path, sep: str) -> list[str]:
    import csv
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        line = fh.readline()
    line = line.rstrip("\r\n")
    if sep == r"\s+":
        return line.split()
    return [field.strip() for field in next(csv.reader([line], delimiter=sep))]


def read_table(
    path: str | Path,
    *,
    orientation: Orientation = "auto",
    sep: str | None = None,
    dtype: str | np.dtype = "float32",
) -> ad.AnnData:
    """Read a delimited expression table (``.csv``, ``.tsv``, ``.txt``, optionally ``.gz``).

    The first row is the header (column labels); the first column holds row labels when
    it is not numeric (an empty top-left cell is fine). All other cells must be numbers
    (empty cells become NaN).

    Parameters
    ----------
    path
        The table file.
    orientation
        ``"cells_x_genes"`` (rows are cells), ``"genes_x_cells"`` (rows are genes, as in
        BEELINE's ``ExpressionData.csv``), or ``"auto"`` to detect it from the labels
        (rules in :func:`detect_orientation`); when no rule decides, ``"auto"`` is an
        error asking for the orientation.
    sep
        Field separator; default from the extension (``,`` for csv, tab for tsv), else
        sniffed from the first line.
    dtype
        Numeric type of ``X``.

    Returns
    -------
    AnnData
        Cells x genes; ``uns["vc"]["source"]`` records ``orientation`` and
        ``orientation_rule`` (``"stated"`` when given).
    """
    import anndata as ad

    from ._paths import check_input_path, check_regular_file

    path = check_regular_file(check_input_path(path), folder_ok=False)
    if orientation not in ("auto", "cells_x_genes", "genes_x_cells"):
        raise DataFormatError(
            f"orientation must be 'auto', 'cells_x_genes' or 'genes_x_cells', not {orientation!r}"
        )
    with reading(path, "a delimited table"):
        if sep is None:
            sep = _guess_sep(path)
        header = _read_header(path, sep)
        df = pd.read_csv(path, sep=sep, header=None, skiprows=1, index_col=None, low_memory=False)
    if df.shape[1] == 0 or df.shape[0] == 0 or not header:
        raise DataFormatError(f"cannot read {path} as a table: it has no data rows or columns")
    n_columns = df.shape[1]
    if len(header) == n_columns - 1:  # header without a label for the row-name column
        header = ["", *header]
    if len(header) != n_columns:
        raise DataFormatError(
            f"cannot read {path} as a table: the header has {len(header)} fields but the "
            f"data rows have {n_columns}"
        )
    df.columns = pd.RangeIndex(n_columns)
    if header[0].strip() == "" or not pd.api.types.is_numeric_dtype(df[0]):
        df = df.set_index(0)
        df.index.name = None
        header = header[1:]
    df.columns = pd.RangeIndex(len(header))
    values = numeric_values(df, path, dtype=np.dtype(dtype), columns=header)
    row_labels = df.index.astype(str)
    col_labels = pd.Index(header, dtype=str)
    if orientation == "auto":
        chosen, rule = detect_orientation(row_labels, col_labels)
        if rule == "default":
            raise DataFormatError(
                f"cannot tell whether {path} is cells x genes or genes x cells from its "
                f"labels (rows {_first_labels(row_labels)}; columns "
                f"{_first_labels(col_labels)}); state it with orientation='cells_x_genes' "
                "or 'genes_x_cells' (vcell: --orientation)"
            )
    else:
        chosen, rule = orientation, "stated"
        found, evidence = detect_orientation(row_labels, col_labels)
        if evidence in ("ensembl", "barcode") and found != chosen:  # unmistakable labels
            what = {"ensembl": "Ensembl gene ids", "barcode": "cell barcodes"}[evidence]
            where = "rows" if (evidence == "ensembl") == (found == "genes_x_cells") else "columns"
            raise DataFormatError(
                f"{path} was stated to be {chosen.replace('_x_', ' x ').replace('_', ' ')}, "
                f"but its {where} are {what} ({_first_labels(row_labels if where == 'rows' else col_labels)}): "
                f"it is {found.replace('_x_', ' x ').replace('_', ' ')}; give "
                f"--orientation {found} (or auto)"
            )
    if chosen == "genes_x_cells":
        values = values.T
        obs_names, var_names = col_labels, row_labels
    else:
        obs_names, var_names = row_labels, col_labels
    adata = ad.AnnData(
        X=np.ascontiguousarray(values),
        obs=pd.DataFrame(index=pd.Index(obs_names, dtype=str)),
        var=pd.DataFrame(index=pd.Index(var_names, dtype=str)),
    )
    adata.uns["vc"] = {
        "source": {
            "path": str(path),
            "format": "table",
            "orientation": chosen,
            "orientation_rule": rule,
        }
    }
    return adata
