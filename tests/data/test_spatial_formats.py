"""Spatial readers (10x Visium / Xenium folders, SpatialData zarr) on layouts built in tmp_path.

Every layout is written here from its public description: the 10x ``.h5`` with h5py in the
CellRanger v3 schema, the positions / cells tables with pandas, the SpatialData store as
its on-disk groups (a root ``zarr.json``, ``tables/<name>`` written by anndata,
``shapes/<name>/shapes.parquet`` with WKB geometries encoded by :func:`_wkb` below).
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import virtualcell as vc
from virtualcell._errors import DataFormatError
from virtualcell.cli import main
from virtualcell.data import detect_format, read

GENES = ["CD3E", "MS4A1", "LYZ"]


def _write_10x_h5(
    path: Path,
    counts: np.ndarray,
    barcodes: list[str],
    names: list[str],
    types: list[str] | None = None,
    attrs: dict[str, str] | None = None,
) -> Path:
    """A CellRanger v3 ``.h5``: ``/matrix`` with a genes x cells CSC matrix."""
    import h5py

    types = types or ["Gene Expression"] * len(names)
    csc = sparse.csc_matrix(np.asarray(counts, dtype=np.int32).T)
    with h5py.File(path, "w") as f:
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        g = f.create_group("matrix")
        feats = g.create_group("features")
        feats["id"] = np.array([f"ENSG{i:05d}" for i in range(len(names))], dtype="S")
        feats["name"] = np.array(names, dtype="S")
        feats["feature_type"] = np.array(types, dtype="S")
        feats["genome"] = np.array(["GRCh38"] * len(names), dtype="S")
        g["barcodes"] = np.array(barcodes, dtype="S")
        g["data"], g["indices"], g["indptr"] = csc.data, csc.indices, csc.indptr
        g["shape"] = np.array(csc.shape, dtype=np.int32)
    return path


# --------------------------------------------------------------------------- Visium

# Space Ranger lists every spot of the slide; the (raw) matrix holds four of them, one of
# which (D) is outside the tissue. Rows: barcode, in_tissue, array_row, array_col,
# pxl_row_in_fullres, pxl_col_in_fullres.
SPOTS = [
    ("E-1", 0, 0, 8, 100.0, 900.0),
    ("B-1", 1, 1, 1, 220.0, 340.0),
    ("A-1", 1, 0, 0, 110.0, 120.0),
    ("D-1", 0, 3, 3, 440.0, 560.0),
    ("C-1", 1, 2, 2, 330.0, 450.0),
]
VISIUM_BARCODES = ["A-1", "B-1", "C-1", "D-1"]
VISIUM_COUNTS = np.array([[1, 0, 2, 9], [0, 3, 0, 9], [4, 0, 1, 9], [5, 5, 5, 9]])
SCALEFACTORS = {
    "spot_diameter_fullres": 89.4,
    "tissue_hires_scalef": 0.17,
    "fiducial_diameter_fullres": 144.4,
    "tissue_lowres_scalef": 0.05,
}


def _visium(
    folder: Path,
    *,
    positions: str = "new",
    images: bool = False,
) -> Path:
    (folder / "spatial").mkdir(parents=True)
    attrs = {"library_ids": np.array([b"slide1"]), "software_version": "spaceranger-2.1.0"}
    _write_10x_h5(
        folder / "filtered_feature_bc_matrix.h5",
        VISIUM_COUNTS,
        VISIUM_BARCODES,
        [*GENES, "CD4_TotalSeqB"],
        ["Gene Expression"] * 3 + ["Antibody Capture"],
        attrs=attrs,
    )
    table = pd.DataFrame(
        SPOTS,
        columns=[
            "barcode",
            "in_tissue",
            "array_row",
            "array_col",
            "pxl_row_in_fullres",
            "pxl_col_in_fullres",
        ],
    )
    if positions == "new":
        table.to_csv(folder / "spatial/tissue_positions.csv", index=False)
    elif positions == "old":
        table.to_csv(folder / "spatial/tissue_positions_list.csv", index=False, header=False)
    elif positions == "parquet":
        table.to_parquet(folder / "spatial/tissue_positions.parquet", index=False)
    (folder / "spatial/scalefactors_json.json").write_text(json.dumps(SCALEFACTORS))
    if images:
        from matplotlib.image import imsave

        imsave(folder / "spatial/tissue_lowres_image.png", np.zeros((6, 5, 3)))
    return folder


def _dense(adata: ad.AnnData) -> np.ndarray:
    return adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)


@pytest.mark.parametrize("positions", ["new", "old", "parquet"])
def test_visium_positions_files_and_in_tissue_spots(tmp_path, positions):
    folder = _visium(tmp_path / "outs", positions=positions)
    assert detect_format(folder) == "visium"
    adata = read(folder)
    # D-1 is outside the tissue; the others keep the matrix's order
    assert list(adata.obs_names) == ["A-1", "B-1", "C-1"]
    assert list(adata.var_names) == GENES  # the antibody feature is not gene expression
    np.testing.assert_array_equal(_dense(adata), VISIUM_COUNTS[:3, :3])
    # x = pxl_col_in_fullres, y = pxl_row_in_fullres (scanpy / squidpy)
    np.testing.assert_array_equal(
        adata.obsm["spatial"], [[120.0, 110.0], [340.0, 220.0], [450.0, 330.0]]
    )
    assert adata.obsm["spatial"].dtype == np.float64
    assert adata.obs["array_row"].tolist() == [0, 1, 2]
    assert adata.obs["in_tissue"].tolist() == [1, 1, 1]
    assert list(adata.uns["spatial"]) == ["slide1"]
    entry = adata.uns["spatial"]["slide1"]
    assert entry["scalefactors"] == SCALEFACTORS
    assert entry["metadata"] == {"software_version": "spaceranger-2.1.0"}
    assert "images" not in entry
    source = adata.uns["vc"]["source"]
    assert source["format"] == "visium" and source["path"] == str(folder)
    assert source["spatial_unit"].startswith("pixel")


def test_visium_all_spots_images_and_library_id(tmp_path):
    folder = _visium(tmp_path / "sample7" / "outs", images=True)
    adata = vc.data.read_visium(folder, in_tissue_only=False, library_id="mine")
    assert list(adata.obs_names) == VISIUM_BARCODES
    assert adata.obs["in_tissue"].tolist() == [1, 1, 1, 0]
    assert adata.uns["spatial"]["mine"]["images"]["lowres"].shape[:2] == (6, 5)
    assert "hires" not in adata.uns["spatial"]["mine"]["images"]


def test_visium_library_id_falls_back_to_the_sample_folder(tmp_path):
    folder = _visium(tmp_path / "sample7" / "outs")
    import h5py

    with h5py.File(folder / "filtered_feature_bc_matrix.h5", "a") as f:
        del f.attrs["library_ids"]
    assert list(read(folder).uns["spatial"]) == ["sample7"]


def test_visium_mtx_count_folder(tmp_path):
    from scipy import io as sio

    folder = _visium(tmp_path / "visium_run")
    (folder / "filtered_feature_bc_matrix.h5").unlink()
    mtx = folder / "filtered_feature_bc_matrix"
    mtx.mkdir()
    sio.mmwrite(str(mtx / "matrix.mtx"), sparse.coo_matrix(VISIUM_COUNTS[:, :3].T))
    (mtx / "barcodes.tsv").write_text("\n".join(VISIUM_BARCODES) + "\n")
    (mtx / "features.tsv").write_text("".join(f"ID{i}\t{g}\tGene Expression\n" for i, g in
                                              enumerate(GENES)))  # fmt: skip
    adata = read(folder)
    assert list(adata.obs_names) == ["A-1", "B-1", "C-1"]
    np.testing.assert_array_equal(_dense(adata), VISIUM_COUNTS[:3, :3])
    assert list(adata.uns["spatial"]) == ["visium_run"]  # no .h5 attributes: the folder


def _drop(folder: Path, name: str) -> Path:
    (folder / name).unlink()
    return folder


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda f: _drop(f, "spatial/tissue_positions.csv"),
            r"spatial/tissue_positions\.csv not found in .*outs \(nor "
            r"spatial/tissue_positions_list\.csv",
        ),
        (
            lambda f: _drop(f, "spatial/scalefactors_json.json"),
            r"spatial/scalefactors_json\.json not found in .*outs$",
        ),
        (
            lambda f: _drop(f, "filtered_feature_bc_matrix.h5"),
            r"filtered_feature_bc_matrix\.h5 not found in .*outs \(nor "
            r"filtered_feature_bc_matrix/\)$",
        ),
    ],
)
def test_visium_missing_file_is_named(tmp_path, damage, message):
    folder = damage(_visium(tmp_path / "outs"))
    with pytest.raises(DataFormatError, match=message):
        read(folder)


def test_visium_hd_bins(tmp_path):
    """Visium HD: each binned_outputs/square_*um folder is a Visium folder with parquet
    positions; the top folder says so."""
    top = tmp_path / "hd_outs"
    bins = _visium(top / "binned_outputs" / "square_008um", positions="parquet")
    _visium(top / "binned_outputs" / "square_002um", positions="parquet")
    (top / "spatial").mkdir()
    (top / "spatial" / "scalefactors_json.json").write_text(json.dumps(SCALEFACTORS))
    assert read(bins).n_obs == 3
    with pytest.raises(
        DataFormatError,
        match=r"filtered_feature_bc_matrix\.h5 not found in .*hd_outs .*; Visium HD: read one "
        r"bin size, e.g. .*binned_outputs/square_008um$",
    ):
        read(top)


def test_visium_folder_without_positions_nor_scalefactors_is_still_named(tmp_path):
    folder = _drop(_visium(tmp_path / "outs"), "spatial/scalefactors_json.json")
    _drop(folder, "spatial/tissue_positions.csv")
    assert detect_format(folder) == "visium"  # spatial/ beside the count matrix
    with pytest.raises(DataFormatError, match=r"spatial/tissue_positions\.csv not found"):
        read(folder)


def test_visium_mismatched_barcodes(tmp_path):
    folder = _visium(tmp_path / "outs")
    table = pd.read_csv(folder / "spatial/tissue_positions.csv")
    table[table["barcode"] != "C-1"].to_csv(folder / "spatial/tissue_positions.csv", index=False)
    with pytest.raises(
        DataFormatError,
        match=r"1 of 4 barcodes of filtered_feature_bc_matrix\.h5 are not in "
        r"spatial/tissue_positions\.csv \(first: 'C-1'\)",
    ):
        read(folder)


def test_visium_malformed_positions(tmp_path):
    folder = _visium(tmp_path / "outs", positions="old")
    path = folder / "spatial/tissue_positions_list.csv"
    path.write_text("\n".join(",".join(map(str, spot[:4])) for spot in SPOTS) + "\n")
    with pytest.raises(DataFormatError, match=r"4 columns and no header; expected 6"):
        read(folder)
    bad = pd.DataFrame(SPOTS, columns=["barcode", "in_tissue", "r", "c", "y", "x"])
    _drop(folder, "spatial/tissue_positions_list.csv")
    bad.to_csv(folder / "spatial/tissue_positions.csv", index=False)
    with pytest.raises(DataFormatError, match=r"has no column array_row, array_col, pxl_row"):
        read(folder)


def test_visium_without_tissue_spots(tmp_path):
    folder = _visium(tmp_path / "outs")
    table = pd.read_csv(folder / "spatial/tissue_positions.csv")
    table.assign(in_tissue=0).to_csv(folder / "spatial/tissue_positions.csv", index=False)
    with pytest.raises(DataFormatError, match=r"no spot of .* is in the tissue"):
        read(folder)
    assert read(folder, in_tissue_only=False).n_obs == 4


# --------------------------------------------------------------------------- Xenium

XENIUM_CELLS = ["aaab-1", "aaac-1", "aaad-1"]
XENIUM_FEATURES = [
    ("CD3E", "Gene Expression"),
    ("NegControlProbe_00042", "Negative Control Probe"),
    ("MS4A1", "Gene Expression"),
    ("NegControlCodeword_0500", "Negative Control Codeword"),
    ("UnassignedCodeword_0007", "Unassigned Codeword"),
    ("NegControlProbe_00041", "Negative Control Probe"),
    ("LYZ", "Gene Expression"),
]
XENIUM_COUNTS = np.array(
    [
        [3, 1, 0, 0, 2, 1, 7],
        [0, 0, 5, 1, 0, 2, 0],
        [1, 0, 1, 0, 0, 0, 4],
    ]
)


def _xenium(folder: Path, *, cells: str = "parquet", specs: bool = True) -> Path:
    folder.mkdir(parents=True)
    names, types = zip(*XENIUM_FEATURES, strict=True)
    _write_10x_h5(
        folder / "cell_feature_matrix.h5", XENIUM_COUNTS, XENIUM_CELLS, list(names), list(types)
    )
    # the cells table in another order than the matrix, with Xenium's QC columns
    table = pd.DataFrame(
        {
            "cell_id": ["aaad-1", "aaab-1", "aaac-1"],
            "x_centroid": [30.5, 10.25, 20.0],
            "y_centroid": [300.0, 100.5, 200.75],
            "transcript_counts": [6, 10, 5],
            "control_probe_counts": [0, 2, 2],
            "cell_area": [40.0, 55.5, 61.0],
        }
    )
    if cells == "parquet":
        table.to_parquet(folder / "cells.parquet", index=False)
    else:
        with gzip.open(folder / "cells.csv.gz", "wt") as fh:
            table.to_csv(fh, index=False)
    if specs:
        (folder / "experiment.xenium").write_text(
            json.dumps({"pixel_size": 0.2125, "panel_name": "tiny panel", "images": {"a": 1}})
        )
    return folder


@pytest.mark.parametrize("cells", ["parquet", "csv.gz"])
def test_xenium_cells_table_and_control_counts(tmp_path, cells):
    folder = _xenium(tmp_path / "run", cells=cells)
    assert detect_format(folder) == "xenium"
    adata = read(folder)
    assert list(adata.obs_names) == XENIUM_CELLS
    assert list(adata.var_names) == GENES
    np.testing.assert_array_equal(_dense(adata), XENIUM_COUNTS[:, [0, 2, 6]])
    np.testing.assert_array_equal(
        adata.obsm["spatial"], [[10.25, 100.5], [20.0, 200.75], [30.5, 300.0]]
    )
    assert adata.obs["transcript_counts"].tolist() == [10, 5, 6]
    assert adata.obs["cell_area"].tolist() == [55.5, 61.0, 40.0]
    controls = adata.obsm["control_counts"]
    assert list(controls.index) == XENIUM_CELLS
    assert controls["Negative Control Probe"].tolist() == [2, 2, 0]  # two probes summed
    assert controls["Negative Control Codeword"].tolist() == [0, 1, 0]
    assert controls["Unassigned Codeword"].tolist() == [2, 0, 0]
    # the per-probe sums agree with Xenium's own per-cell control_probe_counts
    assert controls["Negative Control Probe"].tolist() == adata.obs["control_probe_counts"].tolist()
    assert adata.uns["xenium"] == {"pixel_size": 0.2125, "panel_name": "tiny panel"}
    assert adata.uns["vc"]["source"]["spatial_unit"] == "micrometre"


def test_xenium_controls_keep_and_drop(tmp_path):
    folder = _xenium(tmp_path / "run", specs=False)
    kept = vc.data.read_xenium(folder, controls="keep")
    assert list(kept.var_names) == [name for name, _ in XENIUM_FEATURES]
    assert kept.var["control"].tolist() == [False, True, False, True, True, True, False]
    np.testing.assert_array_equal(_dense(kept), XENIUM_COUNTS)
    dropped = vc.data.read_xenium(folder, controls="drop")
    assert list(dropped.var_names) == GENES and "control_counts" not in dropped.obsm
    assert "xenium" not in dropped.uns
    with pytest.raises(DataFormatError, match="controls must be"):
        vc.data.read_xenium(folder, controls="hide")


def test_xenium_errors(tmp_path):
    folder = _xenium(tmp_path / "run")
    table = pd.read_parquet(folder / "cells.parquet")
    table[table["cell_id"] != "aaac-1"].to_parquet(folder / "cells.parquet", index=False)
    with pytest.raises(
        DataFormatError,
        match=r"1 of 3 barcodes of cell_feature_matrix\.h5 are not in cells\.parquet "
        r"\(first: 'aaac-1'\)",
    ):
        read(folder)
    table.drop(columns="y_centroid").to_parquet(folder / "cells.parquet", index=False)
    with pytest.raises(DataFormatError, match=r"cells\.parquet has no column y_centroid"):
        read(folder)
    (folder / "cells.parquet").unlink()
    with pytest.raises(
        DataFormatError, match=r"cells\.parquet not found in .*run \(nor cells\.csv"
    ):
        read(folder)  # still detected as Xenium through experiment.xenium
    (folder / "cell_feature_matrix.h5").unlink()
    with pytest.raises(DataFormatError, match=r"cell_feature_matrix\.h5 not found in .*run"):
        vc.data.read_xenium(folder)


# --------------------------------------------------------------------------- SpatialData


def _wkb(kind: str, coords) -> bytes:
    """Little-endian 2-D WKB: a point ``(x, y)``, a polygon (list of rings), or a
    multipolygon (list of polygons)."""

    def ring(points) -> bytes:
        return struct.pack("<I", len(points)) + b"".join(struct.pack("<dd", *p) for p in points)

    def polygon(rings) -> bytes:
        return struct.pack("<BII", 1, 3, len(rings)) + b"".join(ring(r) for r in rings)

    if kind == "point":
        return struct.pack("<BIdd", 1, 1, *coords)
    if kind == "polygon":
        return polygon(coords)
    return struct.pack("<BII", 1, 6, len(coords)) + b"".join(polygon(p) for p in coords)


def _transformation(step: dict) -> list[dict]:
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in ("x", "y")]
    return [{**step, "input": {"name": "xy", "axes": axes}, "output": {"name": "global",
                                                                      "axes": axes}}]  # fmt: skip


def _zarr_group(folder: Path, attributes: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"zarr_format": 3, "node_type": "group", "attributes": attributes or {}}
    (folder / "zarr.json").write_text(json.dumps(meta))
    return folder


def _shapes(store: Path, name: str, geometries: list[bytes], index: list, step: dict, **cols):
    element = _zarr_group(
        store / "shapes" / name,
        {"encoding-type": "ngff:shapes", "axes": ["x", "y"],
         "coordinateTransformations": _transformation(step)},
    )  # fmt: skip
    frame = pd.DataFrame({"geometry": geometries, **cols}, index=pd.Index(index))
    frame.to_parquet(element / "shapes.parquet")


def _write_zarr(adata: ad.AnnData, path: Path, version: int = 3) -> None:
    """zarr v3 as spatialdata >= 0.4 writes it (v2: the layout of older stores)."""
    import warnings

    with ad.settings.override(zarr_write_format=version), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="(Writing zarr v2|Consolidated metadata|zarr v3 autosharding)"
        )
        adata.write_zarr(path)


def _spatialdata(path: Path, *, two_tables: bool = False) -> Path:
    """A store as spatialdata >= 0.2 writes it: circles (spots) and polygons (cells)."""
    store = _zarr_group(path, {"spatialdata_attrs": {"version": "0.2"}})
    _zarr_group(store / "shapes")
    _zarr_group(store / "tables")
    spots = [_wkb("point", (float(i), 2.0 * i)) for i in range(3)]
    _shapes(store, "spots", spots, ["s0", "s1", "s2"], {"type": "scale", "scale": [2.0, 0.5]},
            radius=np.ones(3))  # fmt: skip
    square = [[(0, 0), (4, 0), (4, 4), (0, 4), (0, 0)]]
    holed = [[(0, 0), (6, 0), (6, 6), (0, 6), (0, 0)], [(0, 0), (3, 0), (3, 3), (0, 3), (0, 0)]]
    two = [square, [[(10, 10), (14, 10), (14, 14), (10, 14), (10, 10)]]]
    cells = [_wkb("polygon", square), _wkb("polygon", holed), _wkb("multipolygon", two)]
    _shapes(
        store,
        "cells",
        cells,
        [7, 8, 9],
        {
            "type": "sequence",
            "transformations": [
                {"type": "identity"},
                {"type": "affine", "affine": [[1.0, 0, 100.0], [0, 1.0, 0]]},
            ],
        },
    )
    obs = pd.DataFrame(
        {
            "region": pd.Categorical(["cells", "spots", "cells", "spots"]),
            "instance_id": ["9", "s2", "7", "s0"],
        },
        index=["r0", "r1", "r2", "r3"],
    )
    table = ad.AnnData(
        X=sparse.csr_matrix(np.arange(12, dtype=np.float32).reshape(4, 3)),
        obs=obs,
        var=pd.DataFrame(index=GENES),
        uns={"spatialdata_attrs": {"region": ["cells", "spots"], "region_key": "region",
                                   "instance_key": "instance_id"}},
    )  # fmt: skip
    _write_zarr(table, store / "tables" / "table")
    if two_tables:
        other = table.copy()
        other.obsm["spatial"] = np.arange(8.0).reshape(4, 2)
        _write_zarr(other, store / "tables" / "with_coords", version=2)
    return store


def test_spatialdata_centroids_from_circles_and_polygons(tmp_path):
    store = _spatialdata(tmp_path / "sample.zarr")
    assert detect_format(store) == "spatialdata"
    adata = read(store)
    assert list(adata.obs_names) == ["r0", "r1", "r2", "r3"]
    assert list(adata.var_names) == GENES
    np.testing.assert_array_equal(_dense(adata), np.arange(12).reshape(4, 3))
    # cells are moved by +100 in x (an affine 2 x 3 in a sequence), circles scaled by (2, 0.5); centroids: the
    # multipolygon of two equal squares -> (7, 7), the 4x4 square -> (2, 2)
    expected = [[107.0, 7.0], [4.0, 2.0], [102.0, 2.0], [0.0, 0.0]]
    np.testing.assert_allclose(adata.obsm["spatial"], expected)
    source = adata.uns["vc"]["source"]
    assert source["format"] == "spatialdata" and source["table"] == "table"
    assert source["spatial_unit"] == "micrometer"


def test_spatialdata_polygon_with_hole(tmp_path):
    store = _spatialdata(tmp_path / "sample.zarr")
    table = ad.read_zarr(store / "tables" / "table")
    table.obs["instance_id"] = ["8", "s1", "8", "s1"]
    import shutil

    shutil.rmtree(store / "tables" / "table")
    _write_zarr(table, store / "tables" / "table")
    adata = vc.data.read_spatialdata(store)
    np.testing.assert_allclose(adata.obsm["spatial"][0], [103.5, 3.5])  # 6x6 less a 3x3 corner
    np.testing.assert_allclose(adata.obsm["spatial"][1], [2.0, 1.0])


def _fan_centroid(ring: np.ndarray) -> np.ndarray:
    """Centroid of a simple polygon as the signed-area-weighted mean of the centroids of
    the triangles (v0, vi, vi+1): another route than the reader's shoelace sums."""
    v0, a, b = ring[0], ring[1:-1], ring[2:]
    d1, d2 = a - v0, b - v0
    areas = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / 2.0
    return (areas[:, None] * (v0 + a + b) / 3.0).sum(axis=0) / areas.sum()


def test_spatialdata_many_polygons(tmp_path):
    """Segmented cells: many one-ring polygons (computed together), one big-endian
    polygon and one point (computed one by one)."""
    rng = np.random.default_rng(3)
    rings, blobs = [], []
    for _ in range(60):
        k = int(rng.integers(4, 20))
        angle = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = rng.uniform(2, 9, k)
        ring = rng.uniform(0, 1000, 2) + np.c_[radius * np.cos(angle), radius * np.sin(angle)]
        ring = np.vstack([ring, ring[:1]])
        rings.append(ring)
        blobs.append(_wkb("polygon", [[tuple(p) for p in ring]]))
    big = rings[0] + 50.0
    blobs.append(
        struct.pack(">BII", 0, 3, 1) + struct.pack(">I", len(big)) + big.astype(">f8").tobytes()
    )
    blobs.append(_wkb("point", (3.0, 4.0)))
    store = _zarr_group(tmp_path / "cells.zarr", {"spatialdata_attrs": {"version": "0.2"}})
    ids = [f"cell{i}" for i in range(len(blobs))]
    _shapes(store, "cells", blobs, ids, {"type": "identity"})
    order = rng.permutation(len(ids))
    table = ad.AnnData(
        X=np.ones((len(ids), 1), dtype=np.float32),
        obs=pd.DataFrame({"cell": [ids[i] for i in order]}, index=[f"r{i}" for i in order]),
        uns={"spatialdata_attrs": {"region": "cells", "instance_key": "cell"}},
    )
    _write_zarr(table, store / "tables" / "table")
    expected = np.array([*map(_fan_centroid, rings), _fan_centroid(big), [3.0, 4.0]])
    np.testing.assert_allclose(read(store).obsm["spatial"], expected[order], rtol=0, atol=1e-10)


def test_spatialdata_table_choice_and_errors(tmp_path):
    store = _spatialdata(tmp_path / "sample.zarr", two_tables=True)
    with pytest.raises(
        DataFormatError, match=r"holds 2 tables \(table, with_coords\); pass table="
    ):
        read(store)
    own = read(store, table="with_coords")  # the table's own obsm['spatial'] wins
    np.testing.assert_array_equal(own.obsm["spatial"], np.arange(8.0).reshape(4, 2))
    with pytest.raises(DataFormatError, match=r"has no table 'nope'; it has table, with_coords"):
        vc.data.read_spatialdata(store, table="nope")
    with pytest.raises(DataFormatError, match=r"shapes/cells has no coordinate system 'aligned'"):
        vc.data.read_spatialdata(store, table="table", coordinate_system="aligned")

    table = ad.read_zarr(store / "tables" / "table")
    table.obs["instance_id"] = ["9", "s5", "7", "s0"]
    import shutil

    shutil.rmtree(store / "tables" / "table")
    _write_zarr(table, store / "tables" / "table")
    with pytest.raises(
        DataFormatError, match=r"1 rows of table 'table' annotate instances not in shapes/spots"
    ):
        vc.data.read_spatialdata(store, table="table")


def test_spatialdata_without_tables(tmp_path):
    store = _zarr_group(tmp_path / "empty.zarr", {"spatialdata_attrs": {"version": "0.2"}})
    _zarr_group(store / "images")
    assert detect_format(store) == "spatialdata"
    with pytest.raises(DataFormatError, match=r"tables/ not found in .*empty\.zarr"):
        read(store)


# --------------------------------------------------------------------------- detection, CLI


def test_plain_anndata_zarr_is_still_zarr(tmp_path):
    path = tmp_path / "cells.zarr"
    _write_zarr(ad.AnnData(X=np.ones((2, 3), dtype=np.float32)), path)
    assert detect_format(path) == "zarr"


def test_cli_reads_spatial_folders(tmp_path, capsys):
    for folder in (_visium(tmp_path / "outs"), _xenium(tmp_path / "run"),
                   _spatialdata(tmp_path / "sample.zarr")):  # fmt: skip
        code = main(["data", "info", str(folder), "--json"])
        out = capsys.readouterr().out
        assert code == 0, out
        info = json.loads(out)
        assert "spatial" in info["obsm"]
    assert main(["data", "validate", str(tmp_path / "outs")]) == 0
    assert capsys.readouterr().out.startswith(f"valid: {tmp_path / 'outs'}: 3 cells x 3 genes")
    code = main(["data", "info", str(_drop(tmp_path / "outs", "spatial/scalefactors_json.json"))])
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    errors = [line for line in lines if line.lower().startswith("error:")]
    assert code == 2 and len(errors) == 1, lines
    assert "spatial/scalefactors_json.json not found in" in errors[0]
    assert not any("Traceback" in line for line in lines)


def test_cell_source_reads_spatial_folders_whole(tmp_path):
    """The streaming reader (pretraining, embedding) takes these folders too: they have no
    row-chunked layout, so they are read whole, not opened as an AnnData zarr store."""
    source = vc.data.CellSource.open(_spatialdata(tmp_path / "sample.zarr"))
    assert source.n_obs == 4 and list(source.var_names) == GENES
    source = vc.data.CellSource.open(_xenium(tmp_path / "run"))
    assert source.n_obs == 3 and list(source.var_names) == GENES


# --------------------------------------------------------------------------- fuzz


def _only_package_errors(call) -> None:
    try:
        call()
    except vc.VirtualCellError:
        pass


def test_fuzz_positions_cells_and_geometries(tmp_path):
    """Whatever the positions table, cells table, WKB bytes or transformation, the
    readers succeed or raise a package error (one line), never another exception."""
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    fuzz = settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    visium = _visium(tmp_path / "outs")
    xenium = _xenium(tmp_path / "run")
    store = _spatialdata(tmp_path / "sample.zarr")
    cell = st.one_of(
        st.sampled_from(["A-1", "B-1", "C-1", "D-1", "barcode", "", "1", "x", "nan", "1e400"]),
        st.text(alphabet='ABC-1,."x\n ', max_size=6),
    )
    table = st.lists(st.lists(cell, min_size=0, max_size=7), min_size=0, max_size=6).map(
        lambda rows: "\n".join(",".join(row) for row in rows)
    )

    @fuzz
    @given(text=table)
    def positions(text):
        (visium / "spatial/tissue_positions.csv").write_text(text)
        _only_package_errors(lambda: read(visium))

    @fuzz
    @given(text=table)
    def cells(text):
        for stale in ("cells.parquet", "cells.csv.gz"):
            (xenium / stale).unlink(missing_ok=True)
        with gzip.open(xenium / "cells.csv.gz", "wt") as fh:
            fh.write("cell_id,x_centroid,y_centroid\n" + text)
        _only_package_errors(lambda: read(xenium))

    point = _wkb("point", (1.0, 2.0))
    square = _wkb("polygon", [[(0, 0), (4, 0), (4, 4), (0, 4), (0, 0)]])
    blob = st.one_of(
        st.binary(max_size=60),
        st.sampled_from([point, square]).flatmap(
            lambda b: st.integers(0, len(b)).map(lambda k: b[:k])  # truncated
        ),
        st.sampled_from([point, square]).flatmap(
            lambda b: st.tuples(st.integers(0, len(b) - 1), st.integers(0, 255)).map(
                lambda kv: b[: kv[0]] + bytes([kv[1]]) + b[kv[0] + 1 :]  # one byte changed
            )
        ),
    )
    step = st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(["scale", "translation", "affine",
                                                        "sequence", "rotate", "identity"])}),
        st.fixed_dictionaries({"type": st.just("affine"),
                               "affine": st.lists(st.lists(st.floats(-2, 2), max_size=4),
                                                  max_size=4)}),
        st.fixed_dictionaries({"type": st.just("scale"),
                               "scale": st.lists(st.floats(-2, 2), max_size=3)}),
    )  # fmt: skip

    @fuzz
    @given(blobs=st.lists(blob, min_size=3, max_size=3), transformation=step)
    def geometries(blobs, transformation):
        import shutil

        shutil.rmtree(store / "shapes" / "cells")
        _shapes(store, "cells", blobs, [7, 8, 9], transformation)
        _only_package_errors(lambda: read(store))

    positions()
    cells()
    geometries()
