"""SpatialData ``.zarr`` stores, read from their on-disk layout (the ``spatialdata``
package is not a dependency: installing it would change pinned versions): the table
under ``tables/<name>`` as AnnData, with coordinates from its own ``obsm["spatial"]`` or
the centroids of the shapes each row annotates (circles; polygons and multipolygons from
their WKB geometry, holes subtracted), moved into the chosen coordinate system. The unit
is that of the coordinate system (``global`` unless told).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import DataFormatError
from ._errors_io import reading
from ._io import require_zarr, set_source
from ._spatial_io import SPATIAL_KEY, _folder, _missing

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["is_spatialdata_store", "read_spatialdata"]

_SPATIALDATA_ELEMENTS = ("images", "labels", "points", "shapes", "tables", "table")


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
