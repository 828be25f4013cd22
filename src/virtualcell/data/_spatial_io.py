"""Spatial output folders a user brings: 10x Visium and 10x Xenium (SpatialData ``.zarr``
stores: :mod:`._spatialdata`).

Each reader returns AnnData with counts in ``X`` (cells or spots x genes, CSR float32),
gene symbols as ``var_names`` and IDs in ``var["gene_id"]`` (as the 10x readers), and the
coordinates in ``obsm["spatial"]`` as a float ``(n, 2)`` array of ``(x, y)`` (the squidpy
and SpatialData convention). The unit depends on the technology and is recorded in
``uns["vc"]["source"]["spatial_unit"]``:

- Visium: pixels of the full-resolution tissue image (``x`` = ``pxl_col_in_fullres``,
  ``y`` = ``pxl_row_in_fullres``); ``uns["spatial"][library_id]["scalefactors"]`` converts
  them to the hires/lowres images, as scanpy and squidpy store them.
- Xenium: micrometres (the cell centroids of ``cells.parquet`` / ``cells.csv.gz``).
- SpatialData: the units of the store's coordinate system (``global`` unless told).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._errors import DataFormatError
from ._errors_io import reading
from ._io import set_source
from ._paths import check_input_path
from ._tenx import find_10x_mtx, read_10x_h5, read_10x_mtx

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["is_visium_folder", "is_xenium_folder", "read_visium", "read_xenium"]

#: Where every reader puts the coordinates (squidpy / SpatialData convention).
SPATIAL_KEY = "spatial"

_VISIUM_POSITIONS = (
    "spatial/tissue_positions.csv",  # Space Ranger >= 2.0: with a header line
    "spatial/tissue_positions_list.csv",  # Space Ranger 1.x: no header
    "spatial/tissue_positions.parquet",  # Visium HD bins
)
_VISIUM_COLUMNS = (
    "barcode",
    "in_tissue",
    "array_row",
    "array_col",
    "pxl_row_in_fullres",
    "pxl_col_in_fullres",
)
_VISIUM_SCALEFACTORS = "spatial/scalefactors_json.json"
_VISIUM_IMAGES = {
    "hires": "spatial/tissue_hires_image.png",
    "lowres": "spatial/tissue_lowres_image.png",
}

_XENIUM_MATRIX = "cell_feature_matrix.h5"
_XENIUM_CELLS = ("cells.parquet", "cells.csv.gz", "cells.csv")
_XENIUM_COORDS = ("x_centroid", "y_centroid")
_GENE_EXPRESSION = "Gene Expression"


def _folder(path: str | Path, what: str, hint: str) -> Path:
    folder = check_input_path(path)
    if not folder.is_dir():
        raise DataFormatError(f"{what} reads a folder ({hint}); {folder} is a file")
    return folder


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _missing(folder: Path, names: tuple[str, ...]) -> DataFormatError:
    first, *others = names
    alternatives = f" (nor {' / '.join(others)})" if others else ""
    return DataFormatError(f"{first} not found in {folder}{alternatives}")


def _check_barcodes(
    counts: pd.Index, table: pd.Index, folder: Path, counts_name: str, table_name: str
) -> None:
    """Every row of the count matrix must have a row in the coordinates table."""
    if not table.is_unique:
        dup = table[table.duplicated()][0]
        raise DataFormatError(f"{folder}: {table_name} lists barcode {dup!r} more than once")
    absent = counts[~counts.isin(table)]
    if len(absent):
        raise DataFormatError(
            f"{folder}: {len(absent)} of {len(counts)} barcodes of {counts_name} are not in "
            f"{table_name} (first: {absent[0]!r}); are the files from different runs?"
        )


# --------------------------------------------------------------------------- Visium


def is_visium_folder(folder: Path) -> bool:
    """Whether ``folder`` looks like Space Ranger output: a ``spatial/`` folder with the
    spot positions or the scale factors in it, or beside a ``*_feature_bc_matrix.h5``
    (then :func:`read_visium` names the missing file).

    Parameters
    ----------
    folder
        The folder to look at.
    """
    spatial = folder / "spatial"
    if not spatial.is_dir():
        return False
    matrices = ("filtered_feature_bc_matrix.h5", "raw_feature_bc_matrix.h5")
    return any(
        (folder / n).is_file() for n in (*_VISIUM_POSITIONS, _VISIUM_SCALEFACTORS, *matrices)
    )


def _read_visium_positions(file: Path, folder: Path) -> pd.DataFrame:
    name = file.relative_to(folder).as_posix()
    with reading(file, "a Visium positions table"):
        if file.suffix == ".parquet":
            table = pd.read_parquet(file)
        else:
            with open(file, encoding="utf-8") as fh:
                first = fh.readline().split(",")[0].strip().strip('"')
            header = 0 if first == "barcode" else None
            table = pd.read_csv(file, header=header, dtype={0: str} if header is None else None)
            if header is None:
                if table.shape[1] != len(_VISIUM_COLUMNS):
                    raise DataFormatError(
                        f"{folder}: {name} has {table.shape[1]} columns and no header; "
                        f"expected {len(_VISIUM_COLUMNS)} ({', '.join(_VISIUM_COLUMNS)})"
                    )
                table.columns = list(_VISIUM_COLUMNS)
    absent = [c for c in _VISIUM_COLUMNS if c not in table.columns]
    if absent:
        raise DataFormatError(f"{folder}: {name} has no column {', '.join(absent)}")
    table = table.set_index(table["barcode"].astype(str)).drop(columns="barcode")
    table.index.name = None
    for column in ("pxl_row_in_fullres", "pxl_col_in_fullres"):
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            raise DataFormatError(f"{folder}: {name} column {column} is not numeric")
        table[column] = values.astype(np.float64)
    return table


def _visium_library_id(count_file: Path, folder: Path) -> str:
    if count_file.suffix == ".h5":
        import h5py

        with reading(count_file, "a 10x h5 file"), h5py.File(count_file, "r") as f:
            ids = f.attrs.get("library_ids")
        if ids is not None and len(np.atleast_1d(ids)):
            value = np.atleast_1d(ids)[0]
            return value.decode() if isinstance(value, bytes) else str(value)
    return folder.parent.name if folder.name == "outs" and folder.parent.name else folder.name


def _h5_metadata(count_file: Path) -> dict[str, str]:
    if count_file.suffix != ".h5":
        return {}
    import h5py

    with reading(count_file, "a 10x h5 file"), h5py.File(count_file, "r") as f:
        attrs = dict(f.attrs)
    out = {}
    for key in ("chemistry_description", "software_version"):
        if key in attrs:
            value = attrs[key]
            out[key] = value.decode() if isinstance(value, bytes) else str(value)
    return out


def read_visium(
    path: str | Path,
    *,
    count_file: str = "filtered_feature_bc_matrix.h5",
    library_id: str | None = None,
    in_tissue_only: bool = True,
    load_images: bool = True,
    make_unique: bool = True,
    gex_only: bool = True,
) -> ad.AnnData:
    """Read a 10x Visium (Space Ranger) output folder.

    The folder holds the count matrix (``filtered_feature_bc_matrix.h5``, or the
    ``filtered_feature_bc_matrix/`` mtx folder) and ``spatial/`` with the spot positions
    (``tissue_positions.csv`` with a header line, Space Ranger >= 2.0;
    ``tissue_positions_list.csv`` without one, Space Ranger 1.x; or Visium HD's
    ``tissue_positions.parquet`` in a ``binned_outputs/square_*um`` folder) and
    ``scalefactors_json.json``. The tissue images are optional.

    Parameters
    ----------
    path
        The Space Ranger ``outs`` folder (the one holding ``spatial/``).
    count_file
        The count matrix in it: ``filtered_feature_bc_matrix.h5`` or
        ``raw_feature_bc_matrix.h5`` (or, when that file is absent, the mtx folder of the
        same name without ``.h5``).
    library_id
        The key under ``uns["spatial"]``; default the ``library_ids`` attribute of the
        ``.h5`` file, else the folder name (its parent's for an ``outs`` folder).
    in_tissue_only
        Keep only spots with ``in_tissue == 1`` (a raw matrix also holds the others).
    load_images
        Read ``tissue_hires_image.png`` / ``tissue_lowres_image.png`` into
        ``uns["spatial"][library_id]["images"]`` when they exist (missing ones are skipped).
    make_unique, gex_only
        As in :func:`~virtualcell.data.read_10x_h5`.

    Returns
    -------
    AnnData
        Spots x genes, ``X`` the counts (CSR float32); ``obs`` has ``in_tissue``,
        ``array_row``, ``array_col``; ``obsm["spatial"]`` the ``(x, y)`` = (``pxl_col_in_fullres``,
        ``pxl_row_in_fullres``) pixel coordinates in the full-resolution image (as scanpy
        and squidpy); ``uns["spatial"][library_id]`` has ``scalefactors``, ``metadata``
        and (when read) ``images``.

    Raises
    ------
    DataFormatError
        A required file is missing (the message names it), the positions table is
        malformed, or a barcode of the count matrix has no position.
    """
    folder = _folder(path, "read_visium", "a Space Ranger output folder holding spatial/")
    matrix = folder / count_file
    mtx = folder / count_file.removesuffix(".h5")
    if matrix.is_file():
        adata = read_10x_h5(matrix, make_unique=make_unique, gex_only=gex_only)
    elif find_10x_mtx(mtx) is not None:
        matrix = mtx
        adata = read_10x_mtx(matrix, make_unique=make_unique, gex_only=gex_only)
    else:
        error = _missing(folder, (count_file, f"{mtx.name}/"))
        bins = sorted(p.name for p in (folder / "binned_outputs").glob("square_*um") if p.is_dir())
        if bins:  # the top folder of Visium HD output: the bins are read one size at a time
            error = DataFormatError(f"{error}; Visium HD: read one bin size, e.g. "
                                    f"{folder / 'binned_outputs' / bins[-1]}")  # fmt: skip
        raise error
    positions_file = _first(folder, _VISIUM_POSITIONS)
    if positions_file is None:
        raise _missing(folder, _VISIUM_POSITIONS)
    scale_file = folder / _VISIUM_SCALEFACTORS
    if not scale_file.is_file():
        raise _missing(folder, (_VISIUM_SCALEFACTORS,))
    positions = _read_visium_positions(positions_file, folder)
    positions_name = positions_file.relative_to(folder).as_posix()
    matrix_name = matrix.name + ("/" if matrix.is_dir() else "")
    _check_barcodes(adata.obs_names, positions.index, folder, matrix_name, positions_name)
    positions = positions.loc[adata.obs_names]
    if in_tissue_only:
        keep = positions["in_tissue"].to_numpy() == 1
        if not keep.any():
            raise DataFormatError(
                f"{folder}: no spot of {matrix_name} is in the tissue (in_tissue == 1 in "
                f"{positions_name}); pass in_tissue_only=False to keep them all"
            )
        if not keep.all():
            adata = adata[keep].copy()
            positions = positions.loc[keep]
    with reading(scale_file, "a JSON file"):
        scalefactors = json.loads(scale_file.read_text(encoding="utf-8"))
    if not isinstance(scalefactors, dict):
        raise DataFormatError(f"{folder}: {_VISIUM_SCALEFACTORS} is not a JSON object")
    for column in ("in_tissue", "array_row", "array_col"):
        adata.obs[column] = positions[column].to_numpy()
    adata.obsm[SPATIAL_KEY] = positions[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(
        dtype=np.float64
    )
    library = library_id or _visium_library_id(matrix, folder)
    entry: dict[str, Any] = {"scalefactors": scalefactors, "metadata": _h5_metadata(matrix)}
    if load_images:
        images = {}
        for resolution, name in _VISIUM_IMAGES.items():
            if (folder / name).is_file():
                from matplotlib.image import imread

                with reading(folder / name, "a PNG image"):
                    images[resolution] = imread(folder / name)
        if images:
            entry["images"] = images
    adata.uns[SPATIAL_KEY] = {library: entry}
    return set_source(
        adata, path=str(folder), format="visium", spatial_unit="pixel (full-resolution image)"
    )


# --------------------------------------------------------------------------- Xenium


def is_xenium_folder(folder: Path) -> bool:
    """Whether ``folder`` looks like Xenium output: ``experiment.xenium`` or
    ``cell_feature_matrix.h5`` beside a ``cells.parquet`` / ``cells.csv.gz`` table.

    Parameters
    ----------
    folder
        The folder to look at.
    """
    if (folder / "experiment.xenium").is_file():
        return True
    has_matrix = (folder / _XENIUM_MATRIX).is_file() or (folder / "cell_feature_matrix").is_dir()
    return has_matrix and _first(folder, _XENIUM_CELLS) is not None


def _read_xenium_cells(file: Path, folder: Path) -> pd.DataFrame:
    with reading(file, "a Xenium cells table"):
        table = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)
    absent = [c for c in ("cell_id", *_XENIUM_COORDS) if c not in table.columns]
    if absent:
        raise DataFormatError(f"{folder}: {file.name} has no column {', '.join(absent)}")
    ids = table["cell_id"].map(lambda v: v.decode() if isinstance(v, bytes) else str(v))
    table = table.drop(columns="cell_id").set_index(pd.Index(ids.to_numpy(), dtype=str))
    for column in _XENIUM_COORDS:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            raise DataFormatError(f"{folder}: {file.name} column {column} is not numeric")
        table[column] = values.astype(np.float64)
    return table


def read_xenium(
    path: str | Path,
    *,
    controls: Literal["obsm", "keep", "drop"] = "obsm",
    make_unique: bool = True,
) -> ad.AnnData:
    """Read a 10x Xenium output folder (cells, not transcripts).

    The folder holds ``cell_feature_matrix.h5`` (or the ``cell_feature_matrix/`` mtx
    folder) and ``cells.parquet`` (or ``cells.csv.gz`` / ``cells.csv``) with ``cell_id``,
    ``x_centroid``, ``y_centroid`` (micrometres) and per-cell QC columns.
    ``experiment.xenium`` is read when present; images, boundaries and transcripts are not.

    Parameters
    ----------
    path
        The Xenium output folder.
    controls
        The control features (every ``feature_type`` other than ``Gene Expression``:
        negative control probes and codewords, unassigned / deprecated codewords, genomic
        controls). ``"obsm"``: left out of ``X`` (as ``scanpy.read_10x_h5`` does) and
        their counts summed per feature type into the DataFrame ``obsm["control_counts"]``
        (one column per type); ``"keep"``: kept in ``X`` with ``var["control"]`` True;
        ``"drop"``: left out.
    make_unique
        As in :func:`~virtualcell.data.read_10x_h5`.

    Returns
    -------
    AnnData
        Cells x genes, ``X`` the counts (CSR float32); ``obs`` the other columns of the
        cells table (``transcript_counts``, ``cell_area``, ...); ``obsm["spatial"]`` the
        ``(x_centroid, y_centroid)`` in micrometres; ``uns["xenium"]`` the scalar fields of
        ``experiment.xenium`` (``pixel_size``, ``panel_name``, ...) when present.

    Raises
    ------
    DataFormatError
        A required file is missing (the message names it), the cells table lacks a
        column, or a cell of the matrix is not in the cells table.
    """
    if controls not in ("obsm", "keep", "drop"):
        raise DataFormatError(f"controls must be 'obsm', 'keep' or 'drop', not {controls!r}")
    folder = _folder(path, "read_xenium", "a Xenium output folder")
    if (folder / _XENIUM_MATRIX).is_file():
        matrix_name = _XENIUM_MATRIX
        adata = read_10x_h5(folder / matrix_name, make_unique=make_unique, gex_only=False)
    elif find_10x_mtx(folder / "cell_feature_matrix") is not None:
        matrix_name = "cell_feature_matrix/"
        adata = read_10x_mtx(
            folder / "cell_feature_matrix", make_unique=make_unique, gex_only=False
        )
    else:
        raise _missing(folder, (_XENIUM_MATRIX, "cell_feature_matrix/"))
    cells_file = _first(folder, _XENIUM_CELLS)
    if cells_file is None:
        raise _missing(folder, _XENIUM_CELLS)
    cells = _read_xenium_cells(cells_file, folder)
    _check_barcodes(adata.obs_names, cells.index, folder, matrix_name, cells_file.name)
    cells = cells.loc[adata.obs_names]
    adata.obsm[SPATIAL_KEY] = cells[list(_XENIUM_COORDS)].to_numpy(dtype=np.float64)
    adata.obs = cells.drop(columns=list(_XENIUM_COORDS))

    types = adata.var["feature_type"].astype(str) if "feature_type" in adata.var else None
    is_control = (
        np.zeros(adata.n_vars, dtype=bool) if types is None else (types != _GENE_EXPRESSION)
    )
    is_control = np.asarray(is_control)
    if controls == "keep":
        adata.var["control"] = is_control
    elif is_control.any():
        if controls == "obsm":
            sums = {}
            for kind in pd.unique(types[is_control]):
                cols = np.flatnonzero(np.asarray(types == kind))
                sums[kind] = np.asarray(adata.X[:, cols].sum(axis=1)).ravel().astype(np.float32)
            adata.obsm["control_counts"] = pd.DataFrame(sums, index=adata.obs_names)
        adata = adata[:, ~is_control].copy()

    specs_file = folder / "experiment.xenium"
    if specs_file.is_file():
        with reading(specs_file, "a JSON file"):
            specs = json.loads(specs_file.read_text(encoding="utf-8"))
        if isinstance(specs, dict):
            adata.uns["xenium"] = {
                k: v for k, v in specs.items() if isinstance(v, str | int | float | bool)
            }
    return set_source(adata, path=str(folder), format="xenium", spatial_unit="micrometre")


# --------------------------------------------------------------------------- SpatialData
