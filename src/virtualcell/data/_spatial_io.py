"""Spatial output folders a user brings: 10x Visium, 10x Xenium and SpatialData ``.zarr``.

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
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._errors import DataFormatError
from ._errors_io import reading
from ._io import require_zarr, set_source
from ._paths import check_input_path
from ._tenx import find_10x_mtx, read_10x_h5, read_10x_mtx

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = [
    "is_spatialdata_store",
    "is_visium_folder",
    "is_xenium_folder",
    "read_spatialdata",
    "read_visium",
    "read_xenium",
]

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

_SPATIALDATA_ELEMENTS = ("images", "labels", "points", "shapes", "tables", "table")


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


def _zarr_attrs(group: Path) -> dict[str, Any] | None:
    """The attributes of a zarr group folder (v3 ``zarr.json`` or v2 ``.zattrs``), or
    ``None`` when it is no zarr group."""
    v3, v2 = group / "zarr.json", group / ".zattrs"
    if v3.is_file():
        with reading(v3, "zarr metadata (JSON)"):
            meta = json.loads(v3.read_text(encoding="utf-8"))
        return dict(meta.get("attributes") or {}) if isinstance(meta, dict) else {}
    if v2.is_file():
        with reading(v2, "zarr attributes (JSON)"):
            attrs = json.loads(v2.read_text(encoding="utf-8"))
        return dict(attrs) if isinstance(attrs, dict) else {}
    if (group / ".zgroup").is_file():
        return {}
    return None


def is_spatialdata_store(folder: Path) -> bool:
    """Whether ``folder`` is a SpatialData zarr store (root attribute ``spatialdata_attrs``,
    or element groups ``tables`` / ``shapes`` / ``points`` / ``images`` / ``labels`` and no
    AnnData ``obs`` / ``X`` at the root).

    Parameters
    ----------
    folder
        The folder to look at.
    """
    attrs = _zarr_attrs(folder)
    if attrs is None:
        return False
    if "spatialdata_attrs" in attrs:
        return True
    if (folder / "obs").exists() or (folder / "X").exists():
        return False
    return any((folder / name).is_dir() for name in _SPATIALDATA_ELEMENTS)


def _wkb_centroids(blobs: Any) -> np.ndarray:
    """``(n, 2)`` centroids of WKB geometries (Point, Polygon, MultiPolygon; 2-D, or the
    first two coordinates of 3-D ones), as shapely's ``centroid`` computes them:
    area-weighted over the rings, holes subtracted.

    Little-endian 2-D points and one-ring polygons (segmented cells: nearly all of them)
    are computed together with numpy; the others one by one.
    """
    blobs = [bytes(b) for b in blobs]
    n = len(blobs)
    out = np.empty((n, 2), dtype=np.float64)
    if not n:
        return out
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
    head = np.frombuffer(b"".join(b[:13].ljust(13, b"\0") for b in blobs), dtype=np.uint8)
    head = head.reshape(n, 13)

    def u32(a: int) -> np.ndarray:
        return np.ascontiguousarray(head[:, a : a + 4]).view("<u4").ravel().astype(np.int64)

    little, kind, rings, count = head[:, 0] == 1, u32(1), u32(5), u32(9)
    point = little & (kind == 1) & (lengths == 21)
    ring = little & (kind == 3) & (rings == 1) & (count >= 3) & (lengths == 13 + 16 * count)
    if point.any():
        xy = np.frombuffer(b"".join(blobs[i][5:21] for i in np.flatnonzero(point)), "<f8")
        out[point] = xy.reshape(-1, 2)
    if ring.any():
        rows = np.flatnonzero(ring)
        xy = np.frombuffer(b"".join(blobs[i][13:] for i in rows), "<f8").reshape(-1, 2)
        sizes = count[rows]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        following = np.arange(len(xy)) + 1
        following[starts + sizes - 1] = starts  # each ring closes on its first vertex
        origin = np.repeat(xy[starts], sizes, axis=0)  # each ring about its first vertex:
        x, y = (xy - origin).T  # no cancellation between large coordinates
        x1, y1 = x[following], y[following]
        cross = x * y1 - x1 * y
        area = np.add.reduceat(cross, starts) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            cx = np.add.reduceat((x + x1) * cross, starts) / (6.0 * area)
            cy = np.add.reduceat((y + y1) * cross, starts) / (6.0 * area)
        flat = area == 0.0  # a degenerate ring: the mean of its vertices
        if flat.any():
            cx[flat] = np.add.reduceat(x, starts)[flat] / sizes[flat]
            cy[flat] = np.add.reduceat(y, starts)[flat] / sizes[flat]
        out[rows, 0], out[rows, 1] = cx + xy[starts, 0], cy + xy[starts, 1]
    for i in np.flatnonzero(~(point | ring)):
        out[i] = _wkb_centroid(memoryview(blobs[i]))
    return out


def _wkb_geometry(buf: memoryview, pos: int) -> tuple[int, int, int, str]:
    order = "<" if buf[pos] == 1 else ">"
    (kind,) = struct.unpack_from(order + "I", buf, pos + 1)
    pos += 5
    if kind & 0x20000000:  # EWKB with an SRID
        pos += 4
    iso = (kind & 0x0FFFFFFF) // 1000  # ISO WKB: 1000 + type (Z), 2000 (M), 3000 (ZM)
    has_z = bool(kind & 0x80000000) or iso in (1, 3)
    has_m = bool(kind & 0x40000000) or iso in (2, 3)
    dims = 2 + int(has_z) + int(has_m)
    return (kind & 0x0FFFFFFF) % 1000, dims, pos, order


def _ring_moments(
    buf: memoryview, pos: int, dims: int, order: str
) -> tuple[float, float, float, int]:
    (n,) = struct.unpack_from(order + "I", buf, pos)
    pos += 4
    xy = np.frombuffer(buf, dtype=np.dtype(np.float64).newbyteorder(order), count=n * dims,
                       offset=pos).reshape(n, dims)[:, :2]  # fmt: skip
    pos += 8 * n * dims
    if not n:
        return 0.0, np.nan, np.nan, pos
    x, y = (xy - xy[0]).T  # about the first vertex: no cancellation between large values
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2.0
    if area == 0.0:
        return 0.0, float(xy[:, 0].mean()), float(xy[:, 1].mean()), pos
    cx = ((x + x1) * cross).sum() / (6.0 * area) + xy[0, 0]
    cy = ((y + y1) * cross).sum() / (6.0 * area) + xy[0, 1]
    return abs(area), float(cx), float(cy), pos


def _polygon_moments(buf: memoryview, pos: int, dims: int, order: str):
    (rings,) = struct.unpack_from(order + "I", buf, pos)
    pos += 4
    total, mx, my, first = 0.0, 0.0, 0.0, None
    for r in range(rings):
        area, cx, cy, pos = _ring_moments(buf, pos, dims, order)
        if first is None:
            first = (cx, cy)
        sign = 1.0 if r == 0 else -1.0
        total += sign * area
        mx += sign * area * cx
        my += sign * area * cy
    return total, mx, my, first, pos


def _wkb_centroid(buf: memoryview) -> tuple[float, float]:
    if len(buf) < 5:
        raise DataFormatError(f"a geometry of {len(buf)} bytes (empty or truncated WKB)")
    kind, dims, pos, order = _wkb_geometry(buf, 0)
    if kind == 1:
        x, y = struct.unpack_from(order + "dd", buf, pos)
        return x, y
    if kind == 3:
        total, mx, my, first, _ = _polygon_moments(buf, pos, dims, order)
        return (mx / total, my / total) if total else (first or (np.nan, np.nan))
    if kind == 6:
        (parts,) = struct.unpack_from(order + "I", buf, pos)
        pos += 4
        total, mx, my, first = 0.0, 0.0, 0.0, None
        for _ in range(parts):
            _, dims, pos, order = _wkb_geometry(buf, pos)
            area, px, py, ring0, pos = _polygon_moments(buf, pos, dims, order)
            total, mx, my = total + area, mx + px, my + py
            first = first or ring0
        return (mx / total, my / total) if total else (first or (np.nan, np.nan))
    raise DataFormatError(
        f"unsupported geometry type {kind} (points, polygons and multipolygons are read)"
    )


def _transform(step: dict[str, Any], xy: np.ndarray, where: str) -> np.ndarray:
    kind = step.get("type")
    if kind == "identity":
        return xy
    if kind in ("scale", "translation"):
        vector = np.asarray(step[kind], dtype=np.float64)
        if vector.ndim != 1 or len(vector) < 2:
            raise DataFormatError(f"{where}: a {kind} of {vector.tolist()}; (x, y) is needed")
        return xy * vector[-2:] if kind == "scale" else xy + vector[-2:]
    if kind == "affine":
        matrix = np.asarray(step["affine"], dtype=np.float64)
        if matrix.shape not in ((2, 3), (3, 3)):  # NGFF stores it without the last row
            raise DataFormatError(
                f"{where}: an affine matrix of shape {matrix.shape}; a 2-D (x, y) one is read"
            )
        return xy @ matrix[:2, :2].T + matrix[:2, 2]
    if kind == "sequence":
        for inner in step.get("transformations", []):
            xy = _transform(inner, xy, where)
        return xy
    raise DataFormatError(f"{where}: coordinate transformation {kind!r} is not supported")


def _region_coordinates(
    store: Path, region: str, coordinate_system: str
) -> tuple[pd.Index, np.ndarray, str]:
    """Instance ids, ``(x, y)`` centroids in ``coordinate_system`` and the unit of one
    shapes element (its circles' centres or its polygons' centroids)."""
    element = store / "shapes" / region
    if not element.is_dir():
        kinds = [k for k in ("labels", "points", "images") if (store / k / region).is_dir()]
        if kinds:
            raise DataFormatError(
                f"{store}: the table annotates {kinds[0]}/{region}; coordinates are read from "
                f"shapes elements only (or from the table's obsm['spatial'])"
            )
        raise DataFormatError(f"shapes/{region} not found in {store} (the table's region)")
    parquet = element / "shapes.parquet"
    if not parquet.exists():
        raise _missing(store, (f"shapes/{region}/shapes.parquet",))
    with reading(parquet, "a GeoParquet file"):
        frame = pd.read_parquet(parquet)
        try:
            centroids = _wkb_centroids(frame["geometry"].to_numpy())
        except DataFormatError as exc:  # name the file
            raise DataFormatError(f"{parquet}: {exc}") from None
    attrs = _zarr_attrs(element) or {}
    where = f"{store}: shapes/{region}"
    with reading(element, "a shapes element (its coordinate transformations)"):
        steps = [t for t in attrs.get("coordinateTransformations") or [] if isinstance(t, dict)]
        names = [str((t.get("output") or {}).get("name")) for t in steps]
        if coordinate_system in names:
            step = steps[names.index(coordinate_system)]
        elif not steps:
            step = {"type": "identity"}
        elif len(steps) == 1 and coordinate_system == "global":  # the default: its only one
            step = steps[0]
        else:
            raise DataFormatError(
                f"{where} has no coordinate system {coordinate_system!r} (it has "
                f"{', '.join(names)}); pass coordinate_system="
            )
        axes = (step.get("output") or {}).get("axes") or []
        units = {str(a.get("unit")) for a in axes if isinstance(a, dict) and a.get("unit")}
        unit = units.pop() if len(units) == 1 else "unit"
        xy = _transform(step, centroids, where)
    index = pd.Index(frame.index.astype(str), dtype=str)
    return index, xy, unit


def _find_tables(store: Path) -> dict[str, Path]:
    tables = {}
    for group in ("tables", "table"):  # "table": stores written before spatialdata 0.1
        if (store / group).is_dir():
            for child in sorted((store / group).iterdir()):
                if child.is_dir() and _zarr_attrs(child) is not None:
                    tables.setdefault(child.name, child)
    return tables


def read_spatialdata(
    path: str | Path, *, table: str | None = None, coordinate_system: str = "global"
) -> ad.AnnData:
    """Read the table of a SpatialData ``.zarr`` store, with the centroids of the cells or
    spots it annotates.

    The store is read directly from its on-disk layout (the ``spatialdata`` package is not
    needed): the table is the AnnData under ``tables/<name>``; its
    ``uns["spatialdata_attrs"]`` names the region elements, the ``region_key`` column (which
    element a row annotates) and the ``instance_key`` column (which shape). Coordinates are
    the table's own ``obsm["spatial"]`` when it has one, else the centres of the region's
    circles or the centroids of its polygons (``shapes/<region>/shapes.parquet``), carried
    into ``coordinate_system`` by the element's transformation (identity, scale,
    translation, affine or a sequence of them). Images, labels and points are not read.

    Parameters
    ----------
    path
        The ``.zarr`` store.
    table
        The table to read; needed only when the store holds more than one.
    coordinate_system
        The coordinate system of ``obsm["spatial"]``. With the default ``"global"``, a
        shapes element with a single transformation is carried by it whatever its name.

    Returns
    -------
    AnnData
        The table (``X`` as stored: counts for the readers of ``spatialdata-io``) with
        ``obsm["spatial"]`` the ``(x, y)`` coordinates.

    Raises
    ------
    DataFormatError
        No table, an unknown table name, a row whose instance is not in its region, a
        region that is not a shapes element, or an unsupported geometry/transformation.
    """
    import anndata as ad

    store = _folder(path, "read_spatialdata", "a SpatialData .zarr store")
    tables = _find_tables(store)
    if not tables:
        raise DataFormatError(f"tables/ not found in {store} (the store holds no table)")
    if table is None:
        if len(tables) > 1:
            raise DataFormatError(
                f"{store} holds {len(tables)} tables ({', '.join(tables)}); pass table="
            )
        table = next(iter(tables))
    if table not in tables:
        raise DataFormatError(f"{store} has no table {table!r}; it has {', '.join(tables)}")
    location = tables[table]
    require_zarr("reading SpatialData stores")
    with reading(location, "an AnnData zarr group"):
        adata = ad.read_zarr(location)
    unit = "unit"
    if SPATIAL_KEY not in adata.obsm:
        attrs = dict(adata.uns.get("spatialdata_attrs") or {})
        region_key, instance_key = attrs.get("region_key"), attrs.get("instance_key")
        regions = attrs.get("region")
        if regions is None or instance_key is None:
            raise DataFormatError(
                f"{store}: table {table!r} has no obsm['spatial'] and annotates no region "
                "(uns['spatialdata_attrs'] lacks region / instance_key)"
            )
        regions = [str(r) for r in np.atleast_1d(regions)]
        if instance_key not in adata.obs:
            raise DataFormatError(f"{store}: table {table!r} has no obs column {instance_key!r}")
        if len(regions) > 1 and (region_key is None or region_key not in adata.obs):
            raise DataFormatError(f"{store}: table {table!r} has no obs column {region_key!r}")
        coords = np.full((adata.n_obs, 2), np.nan)
        instances = adata.obs[instance_key].astype(str).to_numpy()
        units = set()
        for region in regions:
            rows = (
                np.ones(adata.n_obs, dtype=bool)
                if len(regions) == 1
                else (adata.obs[region_key].astype(str).to_numpy() == region)
            )
            index, xy, unit = _region_coordinates(store, region, coordinate_system)
            units.add(unit)
            position = index.get_indexer(instances[rows])
            if (position < 0).any():
                first = instances[rows][position < 0][0]
                raise DataFormatError(
                    f"{store}: {(position < 0).sum()} rows of table {table!r} annotate "
                    f"instances not in shapes/{region} (first: {first!r})"
                )
            coords[rows] = xy[position]
        if np.isnan(coords).any():
            raise DataFormatError(
                f"{store}: {np.isnan(coords).any(axis=1).sum()} rows of table {table!r} "
                f"annotate none of its regions ({', '.join(regions)})"
            )
        adata.obsm[SPATIAL_KEY] = coords
        unit = units.pop() if len(units) == 1 else "unit"
    else:
        adata.obsm[SPATIAL_KEY] = np.asarray(adata.obsm[SPATIAL_KEY], dtype=np.float64)[:, :2]
    return set_source(adata, path=str(store), format="spatialdata", table=table, spatial_unit=unit)
