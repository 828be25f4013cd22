"""One entry point, :func:`read`, for every file or folder a user may hold.

``read(path)`` detects the format (from the extension, the folder contents or the file's
first bytes; ``format=`` forces it) and returns AnnData (cells x genes) with
``uns["vc"]["source"]`` recording where it came from: ``{"path": ..., "format": ...}``.

Registry dataset *names* are resolved one layer up, by :func:`virtualcell.datasets.read`
(a path goes on to this function): the data layer never imports the dataset registry.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import pandas as pd

from .._errors import DataFormatError, VirtualCellError
from .._utils import doc_params
from ._errors_io import HDF5_SIGNATURE, check_hdf5, reading
from ._paths import check_input_path, looks_like_path
from ._tables import Orientation, read_table
from ._tenx import find_10x_mtx, read_10x_h5, read_10x_mtx

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = [
    "FORMATS",
    "Format",
    "detect_format",
    "looks_like_path",
    "read",
    "read_h5ad",
    "read_loom",
    "read_zarr",
]

Format = Literal[
    "h5ad", "10x_mtx", "10x_h5", "loom", "zarr", "table", "csv", "tsv", "beeline", "dream4",
    "visium", "xenium", "spatialdata",
]  # fmt: skip
#: Every reader name :func:`read` accepts as ``format=`` (the values of :data:`Format`).
FORMATS: tuple[str, ...] = get_args(Format)


def set_source(adata: ad.AnnData, **source: Any) -> ad.AnnData:
    """Record where the data came from in ``uns["vc"]["source"]``.

    Parameters
    ----------
    adata
        The AnnData to annotate (changed in place).
    **source
        What to record (e.g. ``path=``, ``format=``, ``name=``); ``None`` values are dropped.

    Returns
    -------
    AnnData
        ``adata``.
    """
    uns_vc = adata.uns.get("vc")
    uns_vc = dict(uns_vc) if isinstance(uns_vc, dict) else {}
    uns_vc["source"] = {k: v for k, v in source.items() if v is not None}
    adata.uns["vc"] = uns_vc
    return adata


@contextlib.contextmanager
def _names_checked_here() -> Iterator[None]:
    """anndata warns "Variable names are not unique" while it builds the object, before a
    caller can look; the package reports duplicate names itself, naming them
    (``vc.data.validate``; the task commands refuse such data), so the readers leave
    anndata's warning out (only while reading; a later copy still says it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"(Variable|Observation) names are not unique", category=UserWarning
        )
        yield


@doc_params
def read_h5ad(path: str | Path) -> ad.AnnData:
    """Read an ``.h5ad`` file; a truncated or corrupt file raises :class:`DataFormatError`."""
    import anndata as ad

    path = Path(path)
    check_hdf5(path, "h5ad")
    with reading(path, "h5ad"), _names_checked_here():
        adata = ad.read_h5ad(path)
    return set_source(adata, path=str(path), format="h5ad")


@doc_params
def read_loom(path: str | Path) -> ad.AnnData:
    """Read a ``.loom`` file (needs the optional ``loompy`` package)."""
    import anndata as ad

    path = Path(path)
    try:
        import loompy  # noqa: F401
    except ImportError as exc:
        raise VirtualCellError(
            "reading .loom files needs the optional package loompy: pip install 'virtualcell[io]'"
        ) from exc
    check_hdf5(path, "loom")
    with reading(path, "loom"), _names_checked_here():
        adata = ad.read_loom(path, sparse=True)
    # loom files written by anndata name their axes 'obs_names' / 'var_names' instead of
    # the loom convention 'CellID' / 'Gene'
    for frame, key in ((adata.obs, "obs_names"), (adata.var, "var_names")):
        if key in frame.columns:
            frame.index = pd.Index(frame.pop(key).astype(str), name=None)
    return set_source(adata, path=str(path), format="loom")


def require_zarr(what: str) -> None:
    """Raise :class:`VirtualCellError` naming the extra to install when zarr is absent."""
    try:
        import zarr  # noqa: F401
    except ImportError as exc:
        raise VirtualCellError(
            f"{what} needs the optional package zarr: pip install 'virtualcell[io]'"
        ) from exc


@doc_params
def read_zarr(path: str | Path) -> ad.AnnData:
    """Read an AnnData ``.zarr`` store (needs the optional ``zarr`` package)."""
    import anndata as ad

    path = check_input_path(path)
    require_zarr("reading .zarr stores")
    with reading(path, "zarr"), _names_checked_here():
        adata = ad.read_zarr(path)
    return set_source(adata, path=str(path), format="zarr")


def _is_dream4_folder(folder: Path) -> bool:
    names = [p.name.lower() for p in folder.iterdir() if p.is_file()]
    return any(n.endswith(("_knockouts.tsv", "_wildtype.tsv", "_knockdowns.tsv")) for n in names)


def _sniff_file(path: Path) -> str | None:
    with reading(path, "a data file"), open(path, "rb") as fh:
        head = fh.read(8)
    if head == HDF5_SIGNATURE:
        import h5py

        with reading(path, "an HDF5 file"), h5py.File(path, "r") as f:
            if "matrix" in f or ("obs" not in f and "X" not in f and "row_attrs" not in f):
                return "10x_h5"
            return "loom" if "row_attrs" in f else "h5ad"
    if head[:2] == b"\x1f\x8b":
        return "table"
    return None


def detect_format(path: str | Path) -> str:
    """Name of the reader for ``path``: one of the :data:`Format` values.

    Folders: a SpatialData store (a zarr group with ``tables/`` / ``shapes/`` ... or the
    ``spatialdata_attrs`` root attribute) -> ``spatialdata``; another zarr group
    (``.zgroup`` / ``zarr.json``) or a ``.zarr`` name -> ``zarr``; a ``spatial/`` folder
    with the spot positions -> ``visium`` (Space Ranger); ``experiment.xenium`` or
    ``cell_feature_matrix.h5`` beside ``cells.parquet`` / ``cells.csv.gz`` -> ``xenium``;
    a ``matrix.mtx[.gz]`` inside -> ``10x_mtx``; ``ExpressionData.csv`` ->
    ``beeline``; ``*_knockouts.tsv`` / ``*_wildtype.tsv`` -> ``dream4``. Files: by extension
    (``.h5ad``, ``.h5``, ``.loom``, ``.csv[.gz]``, ``.tsv[.gz]``, ``.txt[.gz]``, ``.mtx``),
    else by their first bytes (HDF5 layout, gzip).

    Parameters
    ----------
    path
        A file or folder.
    """
    path = check_input_path(path)
    if path.is_dir():
        from ._spatial_io import is_visium_folder, is_xenium_folder
        from ._spatialdata import is_spatialdata_store

        if is_spatialdata_store(path):
            return "spatialdata"
        if path.suffix.lower() == ".zarr" or (path / ".zgroup").exists():
            return "zarr"
        if (path / "zarr.json").exists():
            return "zarr"
        if is_visium_folder(path):
            return "visium"
        if is_xenium_folder(path):
            return "xenium"
        if find_10x_mtx(path) is not None:
            return "10x_mtx"
        if (path / "ExpressionData.csv").exists():
            return "beeline"
        if _is_dream4_folder(path):
            return "dream4"
        listing = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "(empty)"
        raise DataFormatError(
            f"cannot tell the format of folder {path}: expected a 10x folder (matrix.mtx), a "
            f"Visium folder (spatial/tissue_positions.csv), a Xenium folder (cells.parquet), "
            f"a BEELINE folder (ExpressionData.csv), a DREAM4 folder (*_knockouts.tsv) or a "
            f".zarr store; it holds: {listing}"
        )
    name = path.name.lower()
    stem = name.removesuffix(".gz")
    if name.endswith(".h5ad"):
        return "h5ad"
    if name.endswith(".h5mu"):  # several modalities: not one AnnData
        raise DataFormatError(f"{path} is a MuData file: read it with vc.data.read_h5mu")
    if name.endswith(".loom"):
        return "loom"
    if name.endswith((".zarr", ".zarr.zip")):
        return "zarr"
    if stem.endswith(".mtx"):
        return "10x_mtx"
    if stem.endswith(".csv"):
        return "csv"
    if stem.endswith((".tsv", ".tab")):
        return "tsv"
    if stem.endswith(".txt"):
        return "table"
    if name.endswith((".h5", ".hdf5")):
        if path.stat().st_size >= 8:
            sniffed = _sniff_file(path)
            if sniffed is not None:
                return sniffed
        return "10x_h5"
    sniffed = _sniff_file(path)
    if sniffed is None:
        raise DataFormatError(
            f"cannot tell the format of {path}: unknown extension and contents; pass "
            f"format= one of {', '.join(FORMATS)}"
        )
    return sniffed


def read(
    source: str | Path,
    *,
    format: Format | None = None,
    orientation: Orientation = "auto",
    **kwargs: Any,
) -> ad.AnnData:
    """Read any supported input into AnnData (cells x genes).

    Parameters
    ----------
    source
        A file or a folder. Registry dataset names (``"pbmc68k_reduced"``) are read with
        :func:`virtualcell.datasets.read`, which accepts both.
    format
        Force a reader instead of detecting it: ``"h5ad"``, ``"10x_mtx"``, ``"10x_h5"``,
        ``"loom"``, ``"zarr"``, ``"table"`` / ``"csv"`` / ``"tsv"``, ``"beeline"``,
        ``"dream4"``, ``"visium"``, ``"xenium"``, ``"spatialdata"`` (the spatial readers
        put coordinates in ``obsm["spatial"]``; see :func:`~virtualcell.data.read_visium`).
    orientation
        For tables only: ``"auto"`` (detected, see :func:`~virtualcell.data.read_table`),
        ``"cells_x_genes"`` or ``"genes_x_cells"``.
    **kwargs
        Passed to the specific reader (e.g. ``network=`` for BEELINE, ``experiments=`` for
        DREAM4, ``make_unique=`` for 10x, ``table=`` for SpatialData).

    Returns
    -------
    AnnData
        With ``uns["vc"]["source"]`` = ``{"path": ..., "format": ...}`` (or ``"name"``).

    Raises
    ------
    DataFormatError
        Unknown, corrupt, truncated or non-regular input (a FIFO, a device); the message
        names the file and what failed.
    DatasetNotAvailableError
        ``source`` is no existing path and looks like a dataset name (the message points
        to :func:`virtualcell.datasets.read`).
    """
    if format is not None and format not in FORMATS:
        raise DataFormatError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    path = check_input_path(source)
    fmt = format or detect_format(path)
    if fmt == "h5ad":
        adata = read_h5ad(path)
    elif fmt == "10x_mtx":
        adata = read_10x_mtx(path, **kwargs)
    elif fmt == "10x_h5":
        adata = read_10x_h5(path, **kwargs)
    elif fmt == "loom":
        adata = read_loom(path)
    elif fmt == "zarr":
        adata = read_zarr(path)
    elif fmt in ("table", "csv", "tsv"):
        sep = {"csv": ",", "tsv": "\t"}.get(fmt)
        adata = read_table(path, orientation=orientation, sep=kwargs.pop("sep", sep), **kwargs)
    elif fmt == "beeline":
        from ._beeline import read_beeline

        adata = read_beeline(path, **kwargs)
    elif fmt == "visium":
        from ._spatial_io import read_visium

        adata = read_visium(path, **kwargs)
    elif fmt == "xenium":
        from ._spatial_io import read_xenium

        adata = read_xenium(path, **kwargs)
    elif fmt == "spatialdata":
        from ._spatialdata import read_spatialdata

        adata = read_spatialdata(path, **kwargs)
    else:
        from ._dream4 import read_dream4

        adata = read_dream4(path, **kwargs)
    source_info = dict(adata.uns["vc"]["source"])
    source_info.update(path=str(path), format=fmt)
    return set_source(adata, **source_info)
